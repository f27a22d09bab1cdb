package tensor

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/x448/float16"
)

// FromProto decodes an ONNX TensorProto into a new tensor that does not
// share memory with tp. It reads raw_data (little-endian, 4-bit types
// packed two per byte, low nibble first) or the typed field the ONNX IR
// assigns to the data type:
//
//	float_data   float32; complex64 as (real, imaginary) pairs
//	double_data  float64; complex128 as pairs
//	int64_data   int64
//	uint64_data  uint32, uint64
//	string_data  string
//	int32_data   int32, int16, uint16, int8, uint8, bool, float16 and
//	             bfloat16 bits, float8 bit patterns, and for int4, uint4
//	             and float4e2m1 one packed byte (two elements) per value
//
// It returns an error, naming the tensor, for a nil tp, an unknown
// data_type, negative dimensions, data held externally (the model loader
// must read it into raw_data first), segmented tensors, data whose length
// does not match dims, values out of range for the element type, and data
// in a field that does not belong to the data type.
func FromProto(tp *onnxpb.TensorProto) (*Tensor, error) {
	if tp == nil {
		return nil, errors.New("decode tensor: nil TensorProto")
	}
	t, err := fromProto(tp)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", protoLabel(tp), err)
	}
	return t, nil
}

func protoLabel(tp *onnxpb.TensorProto) string {
	if tp.GetName() == "" {
		return "unnamed tensor"
	}
	return fmt.Sprintf("tensor %q", tp.GetName())
}

func fromProto(tp *onnxpb.TensorProto) (*Tensor, error) {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0 {
		return nil, errors.New("external data not loaded")
	}
	if tp.GetSegment() != nil {
		return nil, errors.New("segmented tensors are not supported")
	}
	d := DType(tp.GetDataType())
	if !d.Known() {
		return nil, fmt.Errorf("unknown data_type %d", tp.GetDataType())
	}
	n, err := NumElements(tp.GetDims())
	if err != nil {
		return nil, err
	}
	field := typedField(d)
	var others []string
	for _, f := range setTypedFields(tp) {
		if f != field || len(tp.GetRawData()) > 0 {
			others = append(others, f)
		}
	}
	if len(tp.GetRawData()) > 0 {
		if d == String {
			return nil, errors.New("string tensor has raw_data; strings belong in string_data")
		}
		if len(others) > 0 {
			return nil, fmt.Errorf("both raw_data and %s are set", strings.Join(others, ", "))
		}
		return FromBytes(d, tp.GetDims(), tp.GetRawData())
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("%s data is in %s, want %s", d, strings.Join(others, ", "), field)
	}
	return fromTyped(d, tp, n, field)
}

// typedField names the TensorProto field that holds d's values when
// raw_data is not used.
func typedField(d DType) string {
	switch d {
	case Float32, Complex64:
		return "float_data"
	case Float64, Complex128:
		return "double_data"
	case Int64:
		return "int64_data"
	case Uint32, Uint64:
		return "uint64_data"
	case String:
		return "string_data"
	}
	return "int32_data"
}

func setTypedFields(tp *onnxpb.TensorProto) []string {
	var set []string
	if len(tp.GetFloatData()) > 0 {
		set = append(set, "float_data")
	}
	if len(tp.GetDoubleData()) > 0 {
		set = append(set, "double_data")
	}
	if len(tp.GetInt32Data()) > 0 {
		set = append(set, "int32_data")
	}
	if len(tp.GetInt64Data()) > 0 {
		set = append(set, "int64_data")
	}
	if len(tp.GetUint64Data()) > 0 {
		set = append(set, "uint64_data")
	}
	if len(tp.GetStringData()) > 0 {
		set = append(set, "string_data")
	}
	return set
}

func fromTyped(d DType, tp *onnxpb.TensorProto, n int, field string) (*Tensor, error) {
	want := n
	switch {
	case d == Complex64 || d == Complex128:
		want = 2 * n
	case d.Bits() == 4:
		want = (n + 1) / 2
	}
	var got int
	switch field {
	case "float_data":
		got = len(tp.GetFloatData())
	case "double_data":
		got = len(tp.GetDoubleData())
	case "int64_data":
		got = len(tp.GetInt64Data())
	case "uint64_data":
		got = len(tp.GetUint64Data())
	case "string_data":
		got = len(tp.GetStringData())
	default:
		got = len(tp.GetInt32Data())
	}
	if got != want {
		if got == 0 {
			return nil, fmt.Errorf("no data for %d %s elements of shape %v", n, d, tp.GetDims())
		}
		return nil, fmt.Errorf("%s has %d values, shape %v needs %d", field, got, tp.GetDims(), want)
	}
	dims := append([]int64{}, tp.GetDims()...)
	wrap := func(data any, err error) (*Tensor, error) {
		if err != nil {
			return nil, err
		}
		return &Tensor{dtype: d, shape: dims, data: data}, nil
	}
	i32 := tp.GetInt32Data()
	switch d {
	case Float32:
		return wrap(append([]float32{}, tp.GetFloatData()...), nil)
	case Complex64:
		f := tp.GetFloatData()
		out := make([]complex64, n)
		for i := range out {
			out[i] = complex(f[2*i], f[2*i+1])
		}
		return wrap(out, nil)
	case Float64:
		return wrap(append([]float64{}, tp.GetDoubleData()...), nil)
	case Complex128:
		f := tp.GetDoubleData()
		out := make([]complex128, n)
		for i := range out {
			out[i] = complex(f[2*i], f[2*i+1])
		}
		return wrap(out, nil)
	case Int64:
		return wrap(append([]int64{}, tp.GetInt64Data()...), nil)
	case Uint64:
		return wrap(append([]uint64{}, tp.GetUint64Data()...), nil)
	case Uint32:
		out := make([]uint32, n)
		for i, v := range tp.GetUint64Data() {
			if v > math.MaxUint32 {
				return nil, fmt.Errorf("uint64_data[%d] = %d is out of range for uint32", i, v)
			}
			out[i] = uint32(v)
		}
		return wrap(out, nil)
	case String:
		out := make([]string, n)
		for i, s := range tp.GetStringData() {
			out[i] = string(s)
		}
		return wrap(out, nil)
	case Int32:
		return wrap(append([]int32{}, i32...), nil)
	case Int16:
		return wrap(narrowInt32[int16](i32, math.MinInt16, math.MaxInt16, d))
	case Uint16:
		return wrap(narrowInt32[uint16](i32, 0, math.MaxUint16, d))
	case Int8:
		return wrap(narrowInt32[int8](i32, math.MinInt8, math.MaxInt8, d))
	case Uint8:
		return wrap(narrowInt32[uint8](i32, 0, math.MaxUint8, d))
	case Bool:
		out := make([]bool, n)
		for i, v := range i32 {
			if v != 0 && v != 1 {
				return nil, fmt.Errorf("int32_data[%d] = %d is not a bool (0 or 1)", i, v)
			}
			out[i] = v == 1
		}
		return wrap(out, nil)
	case Float16, BFloat16Type:
		// Writers store the 16 bits zero- or sign-extended; both are accepted.
		bits, err := narrowInt32[uint16](i32, math.MinInt16, math.MaxUint16, d)
		if err != nil {
			return nil, err
		}
		if d == BFloat16Type {
			out := make([]BFloat16, n)
			for i, b := range bits {
				out[i] = BFloat16(b)
			}
			return wrap(out, nil)
		}
		out := make([]float16.Float16, n)
		for i, b := range bits {
			out[i] = float16.Frombits(b)
		}
		return wrap(out, nil)
	case Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0:
		return wrap(narrowInt32[uint8](i32, math.MinInt8, math.MaxUint8, d))
	case Int4, Uint4, Float4E2M1:
		packed, err := narrowInt32[uint8](i32, math.MinInt8, math.MaxUint8, d)
		if err != nil {
			return nil, err
		}
		return wrap(unpack4(d, packed, n), nil)
	}
	return nil, fmt.Errorf("element type %s is not supported", d)
}

// narrowInt32 converts int32_data values to T after checking lo <= v <= hi.
func narrowInt32[T int8 | uint8 | int16 | uint16](vals []int32, lo, hi int64, d DType) ([]T, error) {
	out := make([]T, len(vals))
	for i, v := range vals {
		if int64(v) < lo || int64(v) > hi {
			return nil, fmt.Errorf("int32_data[%d] = %d is out of range for %s", i, v, d)
		}
		out[i] = T(v)
	}
	return out, nil
}

// ToProto encodes t as an ONNX TensorProto called name: numeric data goes
// to raw_data (see Bytes), strings to string_data. It returns an error for
// a nil tensor and for 4-bit elements out of range.
func ToProto(t *Tensor, name string) (*onnxpb.TensorProto, error) {
	if t == nil {
		return nil, fmt.Errorf("encode tensor %q: nil tensor", name)
	}
	tp := &onnxpb.TensorProto{
		Name:     name,
		Dims:     append([]int64{}, t.shape...),
		DataType: int32(t.dtype),
	}
	if t.dtype == String {
		for _, s := range t.data.([]string) {
			tp.StringData = append(tp.StringData, []byte(s))
		}
		return tp, nil
	}
	raw, err := Bytes(t)
	if err != nil {
		return nil, fmt.Errorf("encode tensor %q: %w", name, err)
	}
	tp.RawData = raw
	return tp, nil
}
