package half

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// halfMax is the largest finite value of a half type: 65504 for float16,
// (2 − 2⁻⁷)·2¹²⁷ ≈ 3.3895e38 for bfloat16, which is below float32's
// largest finite value, so float32 weights near it round to ±Inf too.
func halfMax(t int32) float32 {
	if t == tBF16 {
		return math.Float32frombits(0x7f7f0000)
	}
	return 65504
}

// convertTensor returns a float32 tensor converted to the half type t,
// rounded to nearest (ties to even), with finite values beyond the type's
// range clamped to its largest finite value so they do not become ±Inf
// (Inf·0 and Inf−Inf make NaN downstream). ±Inf and NaN stay as they
// are. It returns how many values it clamped.
func convertTensor(tp *onnxpb.TensorProto, t int32) (*onnxpb.TensorProto, int, error) {
	src, err := tensor.FromProto(tp)
	if err != nil {
		return nil, 0, err
	}
	if src.DType() != tensor.Float32 {
		return nil, 0, fmt.Errorf("is %s, not float32", src.DType())
	}
	limit := halfMax(t)
	vals := tensor.Values[float32](src)
	clamped := 0
	for i, v := range vals {
		if v > limit && !math.IsInf(float64(v), 1) {
			vals[i] = limit
			clamped++
		} else if v < -limit && !math.IsInf(float64(v), -1) {
			vals[i] = -limit
			clamped++
		}
	}
	dst, err := tensor.Cast(src, tensor.DType(t))
	if err != nil {
		return nil, 0, err
	}
	out, err := tensor.ToProto(dst, tp.GetName())
	if err != nil {
		return nil, 0, err
	}
	return out, clamped, nil
}

// setData gives dst the element type and data of src, keeping dst's name,
// dimensions and documentation.
func setData(dst, src *onnxpb.TensorProto) {
	dst.DataType = src.GetDataType()
	dst.RawData = src.GetRawData()
	dst.FloatData = nil
	dst.Int32Data = nil
	dst.Int64Data = nil
	dst.DoubleData = nil
	dst.Uint64Data = nil
	dst.StringData = nil
	dst.ExternalData = nil
	dst.DataLocation = onnxpb.TensorProto_DEFAULT
}
