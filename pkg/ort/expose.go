package ort

import (
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// ExposeBudget bounds the bytes that one run exposing intermediate values
// (ExtraOutputs) should return: ORT's outputs and their Go copies.
const ExposeBudget = 1 << 30

// ExposeChunks splits the intermediate values names into groups small
// enough to expose in one run each: it assumes every value is as large as
// the largest graph input (dynamic dimensions counted as 1), the usual
// size of activations, and puts at most budget/(2·that) values in a group.
// Models with small inputs get a single group, so one run as before; a
// model whose input alone is 200 MB exposes a few values per run instead
// of gigabytes at once.
func ExposeChunks(m *onnxpb.ModelProto, names []string, budget int64) [][]string {
	var largest int64 = 1
	for _, in := range m.GetGraph().GetInput() {
		tt := in.GetType().GetTensorType()
		n := int64(max(1, tensor.DType(tt.GetElemType()).Bits()/8))
		for _, d := range tt.GetShape().GetDim() {
			if v := d.GetDimValue(); v > 0 {
				n *= v
			}
		}
		largest = max(largest, n)
	}
	per := int(max(1, budget/(2*largest)))
	var out [][]string
	for lo := 0; lo < len(names); lo += per {
		out = append(out, names[lo:min(lo+per, len(names))])
	}
	return out
}
