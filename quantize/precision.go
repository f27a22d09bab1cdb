package quantize

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
	"github.com/infer-ml/infer/quantize/half"
	"github.com/infer-ml/infer/quantize/int4"
)

// convertedOutputs lists the float outputs of the converted nodes, for the
// layer-wise error table of the fp16/bf16/int4 modes (names are kept).
func convertedOutputs(float *onnxpb.ModelProto, ds []NodeDecision) []string {
	done := map[string]bool{}
	for _, d := range ds {
		if d.Quantized {
			done[d.Name] = true
		}
	}
	types := valueTypes(float.GetGraph())
	var out []string
	for _, n := range float.GetGraph().GetNode() {
		if !done[n.GetName()] || n.GetName() == "" {
			continue
		}
		for _, o := range n.GetOutput() {
			if types[o] == tensor.Float32 {
				out = append(out, o)
			}
		}
	}
	return out
}

// halfType reports "fp16" or "bf16" when the main graph stores weights or
// declares inputs/outputs in a half type.
func halfType(m *onnxpb.ModelProto) string {
	name := func(d tensor.DType) string {
		switch d {
		case tensor.Float16:
			return "fp16"
		case tensor.BFloat16Type:
			return "bf16"
		}
		return ""
	}
	g := m.GetGraph()
	for _, t := range g.GetInitializer() {
		if n := name(tensor.DType(t.GetDataType())); n != "" {
			return n
		}
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput()} {
		for _, v := range vs {
			if n := name(tensor.DType(v.GetType().GetTensorType().GetElemType())); n != "" {
				return n
			}
		}
	}
	return ""
}

// applyPrecision converts q (a copy of the pre-processed float model) to
// fp16/bf16 or int4 weights, keeping exclude float, and returns the
// per-node decisions.
func applyPrecision(float, q *onnxpb.ModelProto, opts Options, exclude []string) ([]NodeDecision, *ApplyStats, []string, error) {
	switch opts.Mode {
	case FP16, BF16:
		return applyHalf(float, q, opts, exclude)
	case Int4:
		ds, st, err := applyInt4(float, q, opts.Int4, exclude)
		return ds, st, nil, err
	}
	return nil, nil, nil, fmt.Errorf("mode %q is not a precision conversion", opts.Mode)
}

// applyHalf converts q's weights to fp16 or bf16 (opts.Mode), keeping
// exclude float32 and, on ONNX Runtime's CPU provider, what it has no
// kernel for or crashes on.
func applyHalf(float, q *onnxpb.ModelProto, opts Options, exclude []string) ([]NodeDecision, *ApplyStats, []string, error) {
	ho := opts.Half
	ho.Type = tensor.Float16
	if opts.Mode == BF16 {
		ho.Type = tensor.BFloat16Type
	}
	ho.BlockNodes = append(append([]string{}, ho.BlockNodes...), exclude...)
	crash := map[string]bool{}
	if onCPU(opts.Session) {
		// ONNX Runtime's CPU provider has bf16 kernels for data
		// movement only, and crashes on one float16 pattern; those
		// stay float32 or the model won't load.
		ho.BlockOps = append(append([]string{}, ho.BlockOps...), half.CPUBlockOps(q, ho.Type)...)
		for _, n := range half.CPUBlockNodes(q, ho.Type) {
			crash[n] = true
			ho.BlockNodes = append(ho.BlockNodes, n)
		}
	}
	r, err := half.Convert(q, ho)
	if err != nil {
		return nil, nil, nil, err
	}
	blocked := map[string]bool{}
	for _, b := range r.Blocked {
		blocked[b] = true
	}
	var ds []NodeDecision
	for _, n := range float.GetGraph().GetNode() {
		d := NodeDecision{Name: n.GetName(), OpType: n.GetOpType(), Quantized: !blocked[n.GetName()]}
		switch {
		case d.Quantized:
		case crash[d.Name]:
			d.Reason = "kept float32: ONNX Runtime 1.30's CPU provider crashes loading a float16 Transpose (last axis kept) into a MatMul with constant weights"
		default:
			d.Reason = "kept float32 (block list, --block-nodes or the accuracy search)"
		}
		ds = append(ds, d)
	}
	return ds, &ApplyStats{Weights: r.Converted}, r.Notes, nil
}

// applyInt4 quantizes q's MatMul/Gemm weights to 4-bit blocks, keeping
// exclude float.
func applyInt4(float, q *onnxpb.ModelProto, io int4.Options, exclude []string) ([]NodeDecision, *ApplyStats, error) {
	io.ExcludeNodes = append(append([]string{}, io.ExcludeNodes...), exclude...)
	r, err := int4.Quantize(q, io)
	if err != nil {
		return nil, nil, err
	}
	skipped := map[string]string{}
	for _, sk := range r.Skipped {
		skipped[sk.Node] = sk.Reason
	}
	var ds []NodeDecision
	for _, n := range float.GetGraph().GetNode() {
		if n.GetOpType() != "MatMul" && n.GetOpType() != "Gemm" {
			continue
		}
		reason, skip := skipped[n.GetName()]
		ds = append(ds, NodeDecision{Name: n.GetName(), OpType: n.GetOpType(), Quantized: !skip, Reason: reason})
	}
	return ds, &ApplyStats{Weights: r.Quantized, WeightBytesIn: r.WeightBytesBefore, WeightBytes: r.WeightBytesAfter}, nil
}

// PrecisionDecisions runs an fp16/bf16/int4 conversion on a copy of the
// pre-processed float model and returns what it would do to each node
// (for --dry-run).
func PrecisionDecisions(float *onnxpb.ModelProto, opts Options) ([]NodeDecision, error) {
	ds, _, _, err := applyPrecision(float, proto.Clone(float).(*onnxpb.ModelProto), opts, nil)
	return ds, err
}

// onCPU reports whether the session runs on ONNX Runtime's CPU provider.
func onCPU(so ort.Options) bool {
	return validate.ProviderOf(so) == ort.CPU
}
