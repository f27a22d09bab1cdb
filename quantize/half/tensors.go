package half

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/x448/float16"

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

// float32Data returns tp's float32 values without copying them: as
// little-endian raw_data or as float_data (both nil for an empty tensor).
// It refuses what tensor.FromProto refuses (external data not loaded,
// segments, bad dimensions, data whose length does not match them, data
// in another field) and any other element type.
func float32Data(tp *onnxpb.TensorProto) (raw []byte, vals []float32, err error) {
	switch {
	case tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0:
		return nil, nil, errors.New("external data not loaded")
	case tp.GetSegment() != nil:
		return nil, nil, errors.New("segmented tensors are not supported")
	case tensor.DType(tp.GetDataType()) != tensor.Float32:
		return nil, nil, fmt.Errorf("is %s, not float32", tensor.DType(tp.GetDataType()))
	case len(tp.GetDoubleData())+len(tp.GetInt32Data())+len(tp.GetInt64Data())+len(tp.GetUint64Data())+len(tp.GetStringData()) > 0:
		return nil, nil, errors.New("float32 data is in a field other than raw_data or float_data")
	}
	n, err := tensor.NumElements(tp.GetDims())
	if err != nil {
		return nil, nil, err
	}
	raw, vals = tp.GetRawData(), tp.GetFloatData()
	if len(raw) == 0 {
		raw = nil
	}
	switch {
	case len(raw) > 0 && len(vals) > 0:
		return nil, nil, errors.New("both raw_data and float_data are set")
	case raw != nil && len(raw) != 4*n:
		return nil, nil, fmt.Errorf("float32 tensor of shape %v needs %d bytes, got %d", tp.GetDims(), 4*n, len(raw))
	case raw == nil && len(vals) != n:
		return nil, nil, fmt.Errorf("float_data has %d values, shape %v needs %d", len(vals), tp.GetDims(), n)
	}
	return raw, vals, nil
}

// checkTensor reports whether convertTensor would accept tp, reading
// nothing but its header.
func checkTensor(tp *onnxpb.TensorProto) error {
	_, _, err := float32Data(tp)
	return err
}

// convertTensor stores a float32 tensor in the half type t in place,
// rounded to nearest (ties to even), with finite values beyond the type's
// range clamped to its largest finite value so they do not become ±Inf
// (Inf·0 and Inf−Inf make NaN downstream). ±Inf and NaN stay as they
// are. The float32 data is decoded one element at a time into a new
// raw_data of half the size and then dropped, so converting a weight
// costs only its half copy. tp keeps its name, dimensions and
// documentation. It returns how many values it clamped.
func convertTensor(tp *onnxpb.TensorProto, t int32) (int, error) {
	raw, vals, err := float32Data(tp)
	if err != nil {
		return 0, err
	}
	n := len(vals)
	if raw != nil {
		n = len(raw) / 4
	}
	out := make([]byte, 2*n)
	limit, clamped := halfMax(t), 0
	for i := range n {
		var v float32
		if raw != nil {
			v = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		} else {
			v = vals[i]
		}
		if v > limit && !math.IsInf(float64(v), 1) {
			v = limit
			clamped++
		} else if v < -limit && !math.IsInf(float64(v), -1) {
			v = -limit
			clamped++
		}
		binary.LittleEndian.PutUint16(out[2*i:], halfBits(v, t))
	}
	setData(tp, t, out)
	return clamped, nil
}

// halfBits is v rounded to the half type t (nearest, ties to even), as
// tensor.Cast rounds it.
func halfBits(v float32, t int32) uint16 {
	if t == tBF16 {
		return uint16(tensor.BFloat16FromFloat32(v))
	}
	return float16.Fromfloat32(v).Bits()
}

// setData gives tp the element type t and the raw data raw, keeping its
// name, dimensions and documentation and dropping every other data field.
func setData(tp *onnxpb.TensorProto, t int32, raw []byte) {
	tp.DataType = t
	tp.RawData = raw
	tp.FloatData = nil
	tp.Int32Data = nil
	tp.Int64Data = nil
	tp.DoubleData = nil
	tp.Uint64Data = nil
	tp.StringData = nil
	tp.ExternalData = nil
	tp.DataLocation = onnxpb.TensorProto_DEFAULT
}
