package tensor

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"
)

// sampleTensors has one tensor per dtype with edge values (extremes,
// negative numbers, odd 4-bit counts). Float values avoid NaN so the
// tensors compare with reflect.DeepEqual.
func sampleTensors(t *testing.T) map[DType]*Tensor {
	t.Helper()
	mk := func(d DType, shape []int64, data any) *Tensor {
		x, err := NewWithDType(d, shape, data)
		if err != nil {
			t.Fatalf("sample %s: %v", d, err)
		}
		return x
	}
	f16 := []float16.Float16{float16.Fromfloat32(1), float16.Fromfloat32(-2.5), float16.Fromfloat32(65504), float16.Inf(-1)}
	return map[DType]*Tensor{
		Float32:        mk(Float32, []int64{2, 2}, []float32{1.5, -0, math.MaxFloat32, float32(math.Inf(1))}),
		Float64:        mk(Float64, []int64{3}, []float64{math.Pi, -1e300, math.SmallestNonzeroFloat64}),
		Float16:        mk(Float16, []int64{4}, f16),
		BFloat16Type:   mk(BFloat16Type, []int64{3}, []BFloat16{BFloat16FromFloat32(1), BFloat16FromFloat32(-3), 0xFF80}),
		Int8:           mk(Int8, []int64{3}, []int8{math.MinInt8, 0, math.MaxInt8}),
		Uint8:          mk(Uint8, []int64{3}, []uint8{0, 1, math.MaxUint8}),
		Int16:          mk(Int16, []int64{3}, []int16{math.MinInt16, -1, math.MaxInt16}),
		Uint16:         mk(Uint16, []int64{2}, []uint16{0, math.MaxUint16}),
		Int32:          mk(Int32, []int64{3}, []int32{math.MinInt32, -7, math.MaxInt32}),
		Uint32:         mk(Uint32, []int64{2}, []uint32{7, math.MaxUint32}),
		Int64:          mk(Int64, []int64{3}, []int64{math.MinInt64, -7, math.MaxInt64}),
		Uint64:         mk(Uint64, []int64{2}, []uint64{7, math.MaxUint64}),
		Bool:           mk(Bool, []int64{1, 3}, []bool{true, false, true}),
		String:         mk(String, []int64{3}, []string{"", "héllo", "a\x00b"}),
		Complex64:      mk(Complex64, []int64{2}, []complex64{complex(1, -2), complex(-3.5, 0)}),
		Complex128:     mk(Complex128, []int64{2}, []complex128{complex(1e100, -2), complex(0, 1)}),
		Int4:           mk(Int4, []int64{5}, []int8{-8, 7, -1, 0, 3}),
		Uint4:          mk(Uint4, []int64{3}, []uint8{0, 15, 9}),
		Float4E2M1:     mk(Float4E2M1, []int64{1, 3}, []uint8{0x7, 0xF, 0x1}),
		Float8E4M3FN:   mk(Float8E4M3FN, []int64{3}, []uint8{0x7E, 0xFE, 0x01}),
		Float8E4M3FNUZ: mk(Float8E4M3FNUZ, []int64{2}, []uint8{0x7F, 0x40}),
		Float8E5M2:     mk(Float8E5M2, []int64{3}, []uint8{0x7B, 0x7C, 0x3C}),
		Float8E5M2FNUZ: mk(Float8E5M2FNUZ, []int64{2}, []uint8{0x7F, 0x40}),
		Float8E8M0:     mk(Float8E8M0, []int64{2}, []uint8{127, 0}),
	}
}

// typedProto writes t into the typed TensorProto field the ONNX IR
// assigns to its dtype; it is written independently of FromProto so the
// two check each other.
func typedProto(t *testing.T, x *Tensor) *onnxpb.TensorProto {
	t.Helper()
	tp := &onnxpb.TensorProto{Name: "w", Dims: x.Shape(), DataType: int32(x.DType())}
	switch s := x.Data().(type) {
	case []float32:
		tp.FloatData = s
	case []float64:
		tp.DoubleData = s
	case []complex64:
		for _, c := range s {
			tp.FloatData = append(tp.FloatData, real(c), imag(c))
		}
	case []complex128:
		for _, c := range s {
			tp.DoubleData = append(tp.DoubleData, real(c), imag(c))
		}
	case []int64:
		tp.Int64Data = s
	case []uint64:
		tp.Uint64Data = s
	case []uint32:
		for _, v := range s {
			tp.Uint64Data = append(tp.Uint64Data, uint64(v))
		}
	case []string:
		for _, v := range s {
			tp.StringData = append(tp.StringData, []byte(v))
		}
	case []int32:
		tp.Int32Data = s
	case []int16:
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []uint16:
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []float16.Float16:
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v.Bits()))
		}
	case []BFloat16:
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []bool:
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(boolInt(v)))
		}
	case []int8:
		if x.DType() == Int4 {
			for i := 0; i < len(s); i += 2 {
				b := int32(s[i] & 0xF)
				if i+1 < len(s) {
					b |= int32(s[i+1]&0xF) << 4
				}
				tp.Int32Data = append(tp.Int32Data, b)
			}
			break
		}
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	case []uint8:
		if x.DType().Bits() == 4 {
			for i := 0; i < len(s); i += 2 {
				b := int32(s[i])
				if i+1 < len(s) {
					b |= int32(s[i+1]) << 4
				}
				tp.Int32Data = append(tp.Int32Data, b)
			}
			break
		}
		for _, v := range s {
			tp.Int32Data = append(tp.Int32Data, int32(v))
		}
	default:
		t.Fatalf("typedProto: no case for %T", s)
	}
	return tp
}

func sameTensor(t *testing.T, what string, got, want *Tensor) {
	t.Helper()
	if got.DType() != want.DType() || !reflect.DeepEqual(got.Shape(), want.Shape()) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	if !reflect.DeepEqual(got.Data(), want.Data()) {
		t.Fatalf("%s: data %v, want %v", what, got.Data(), want.Data())
	}
}

// wire marshals and unmarshals tp, so tests see what a file would hold.
func wire(t *testing.T, tp *onnxpb.TensorProto) *onnxpb.TensorProto {
	t.Helper()
	b, err := proto.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	var out onnxpb.TensorProto
	if err := proto.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestProtoRoundTripEveryDType(t *testing.T) {
	samples := sampleTensors(t)
	for d := range dtypeNames {
		if d == Undefined {
			continue
		}
		x, ok := samples[d]
		if !ok {
			t.Fatalf("no sample tensor for %s", d)
		}
		t.Run(d.String(), func(t *testing.T) {
			tp, err := ToProto(x, "w")
			if err != nil {
				t.Fatal(err)
			}
			if d == String {
				if len(tp.RawData) != 0 || len(tp.StringData) != 3 {
					t.Fatalf("string tensor: raw %d bytes, %d strings", len(tp.RawData), len(tp.StringData))
				}
			} else if len(tp.RawData) == 0 {
				t.Fatalf("%s tensor was not written to raw_data", d)
			}
			got, err := FromProto(wire(t, tp))
			if err != nil {
				t.Fatal(err)
			}
			sameTensor(t, "raw round trip", got, x)

			got, err = FromProto(wire(t, typedProto(t, x)))
			if err != nil {
				t.Fatal(err)
			}
			sameTensor(t, "typed field", got, x)
		})
	}
}

func TestFromProtoHandWritten(t *testing.T) {
	cases := []struct {
		name string
		tp   *onnxpb.TensorProto
		want *Tensor
	}{
		{"float16 bits in int32_data", &onnxpb.TensorProto{DataType: 10, Dims: []int64{3}, Int32Data: []int32{0x3C00, 0xC000, -0x4000}},
			MustNew([]int64{3}, []float16.Float16{float16.Fromfloat32(1), float16.Fromfloat32(-2), float16.Fromfloat32(-2)})},
		{"bfloat16 bits in int32_data", &onnxpb.TensorProto{DataType: 16, Dims: []int64{1}, Int32Data: []int32{0x3F80}},
			MustNew([]int64{1}, []BFloat16{BFloat16FromFloat32(1)})},
		{"int4 pairs in int32_data, odd count", &onnxpb.TensorProto{DataType: 22, Dims: []int64{3}, Int32Data: []int32{0x21, 0x0F}},
			mustDT(Int4, []int64{3}, []int8{1, 2, -1})},
		{"uint4 pairs in int32_data", &onnxpb.TensorProto{DataType: 21, Dims: []int64{3}, Int32Data: []int32{0x21, 0x0F}},
			mustDT(Uint4, []int64{3}, []uint8{1, 2, 15})},
		{"int4 in raw_data", &onnxpb.TensorProto{DataType: 22, Dims: []int64{1, 3}, RawData: []byte{0x78, 0x0F}},
			mustDT(Int4, []int64{1, 3}, []int8{-8, 7, -1})},
		{"bool in int32_data", &onnxpb.TensorProto{DataType: 9, Dims: []int64{2}, Int32Data: []int32{1, 0}},
			MustNew([]int64{2}, []bool{true, false})},
		{"uint8 in int32_data", &onnxpb.TensorProto{DataType: 2, Dims: []int64{2}, Int32Data: []int32{255, 3}},
			MustNew([]int64{2}, []uint8{255, 3})},
		{"uint32 in uint64_data", &onnxpb.TensorProto{DataType: 12, Dims: []int64{1}, Uint64Data: []uint64{4000000000}},
			MustNew([]int64{1}, []uint32{4000000000})},
		{"complex64 pairs", &onnxpb.TensorProto{DataType: 14, Dims: []int64{1}, FloatData: []float32{1, 2}},
			MustNew([]int64{1}, []complex64{complex(1, 2)})},
		{"float32 raw little-endian", &onnxpb.TensorProto{DataType: 1, Dims: []int64{1}, RawData: []byte{0, 0, 0x80, 0x3F}},
			MustNew([]int64{1}, []float32{1})},
		{"scalar int64", &onnxpb.TensorProto{DataType: 7, Int64Data: []int64{-3}},
			MustNew([]int64{}, []int64{-3})},
		{"empty tensor without data", &onnxpb.TensorProto{DataType: 1, Dims: []int64{0, 4}},
			MustNew([]int64{0, 4}, []float32{})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromProto(wire(t, c.tp))
			if err != nil {
				t.Fatal(err)
			}
			sameTensor(t, c.name, got, c.want)
		})
	}
}

func mustDT(d DType, shape []int64, data any) *Tensor {
	x, err := NewWithDType(d, shape, data)
	if err != nil {
		panic(err)
	}
	return x
}

func TestFromProtoErrors(t *testing.T) {
	cases := []struct {
		name string
		tp   *onnxpb.TensorProto
		want string
	}{
		{"nil", nil, "nil TensorProto"},
		{"short raw", &onnxpb.TensorProto{Name: "w", DataType: 1, Dims: []int64{2}, RawData: make([]byte, 7)}, `tensor "w": float32 tensor of shape [2] needs 8 bytes, got 7`},
		{"int4 raw too long", &onnxpb.TensorProto{Name: "q", DataType: 22, Dims: []int64{3}, RawData: make([]byte, 3)}, "needs 2 bytes, got 3"},
		{"negative dim", &onnxpb.TensorProto{Name: "w", DataType: 1, Dims: []int64{2, -1}}, `tensor "w": negative dimension -1`},
		{"unknown type", &onnxpb.TensorProto{Name: "odd", DataType: 99}, `tensor "odd": unknown data_type 99`},
		{"int2 not supported", &onnxpb.TensorProto{Name: "i2", DataType: 26}, "unknown data_type 26"},
		{"external", &onnxpb.TensorProto{Name: "big", DataType: 1, Dims: []int64{2}, DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "w.bin"}}}, `tensor "big": external data not loaded`},
		{"raw and typed", &onnxpb.TensorProto{Name: "w", DataType: 1, Dims: []int64{1}, RawData: make([]byte, 4), FloatData: []float32{1}}, "both raw_data and float_data"},
		{"wrong typed field", &onnxpb.TensorProto{Name: "w", DataType: 1, Dims: []int64{1}, Int64Data: []int64{1}}, "float32 data is in int64_data, want float_data"},
		{"typed count", &onnxpb.TensorProto{Name: "w", DataType: 7, Dims: []int64{3}, Int64Data: []int64{1, 2}}, "int64_data has 2 values, shape [3] needs 3"},
		{"no data", &onnxpb.TensorProto{Name: "w", DataType: 1, Dims: []int64{3}}, "no data for 3 float32 elements"},
		{"int8 out of range", &onnxpb.TensorProto{Name: "w", DataType: 3, Dims: []int64{2}, Int32Data: []int32{1, 200}}, "int32_data[1] = 200 is out of range for int8"},
		{"bool not 0/1", &onnxpb.TensorProto{Name: "w", DataType: 9, Dims: []int64{1}, Int32Data: []int32{2}}, "not a bool"},
		{"uint32 out of range", &onnxpb.TensorProto{Name: "w", DataType: 12, Dims: []int64{1}, Uint64Data: []uint64{1 << 40}}, "out of range for uint32"},
		{"string raw", &onnxpb.TensorProto{Name: "s", DataType: 8, Dims: []int64{1}, RawData: []byte("x")}, "string tensor has raw_data"},
		{"complex odd count", &onnxpb.TensorProto{Name: "c", DataType: 14, Dims: []int64{2}, FloatData: []float32{1, 2, 3}}, "float_data has 3 values, shape [2] needs 4"},
		{"segment", &onnxpb.TensorProto{Name: "w", DataType: 1, Segment: &onnxpb.TensorProto_Segment{Begin: 0, End: 1}}, "segmented"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromProto(c.tp)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestInt4Packing(t *testing.T) {
	x := mustDT(Int4, []int64{3}, []int8{-8, 7, -1})
	b, err := Bytes(x)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x78, 0x0F}; !reflect.DeepEqual(b, want) {
		t.Fatalf("packed % x, want % x", b, want)
	}
	back, err := FromBytes(Int4, []int64{3}, b)
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "int4 unpack", back, x)

	u := mustDT(Uint4, []int64{1}, []uint8{12})
	if b, _ := Bytes(u); !reflect.DeepEqual(b, []byte{0x0C}) {
		t.Fatalf("uint4 single element packed to % x", b)
	}

	bad := mustDT(Int4, []int64{2}, []int8{1, 8})
	if _, err := Bytes(bad); err == nil || !strings.Contains(err.Error(), "element 1 is 8") {
		t.Fatalf("out-of-range int4 gave %v", err)
	}
	if _, err := ToProto(mustDT(Uint4, []int64{1}, []uint8{16}), "u"); err == nil || !strings.Contains(err.Error(), `tensor "u"`) {
		t.Fatalf("out-of-range uint4 in ToProto gave %v", err)
	}
}

func TestBytesLayout(t *testing.T) {
	x := MustNew([]int64{2}, []complex64{complex(1, 2), complex(3, 4)})
	b, err := Bytes(x)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("complex64 bytes % x, want % x", b, want)
	}
	if b, _ := Bytes(MustNew([]int64{2}, []bool{true, false})); !reflect.DeepEqual(b, []byte{1, 0}) {
		t.Fatalf("bool bytes % x", b)
	}
	if _, err := Bytes(MustNew([]int64{1}, []string{"a"})); err == nil {
		t.Fatal("Bytes of a string tensor gave no error")
	}
	if _, err := FromBytes(String, []int64{1}, []byte("a")); err == nil {
		t.Fatal("FromBytes of a string tensor gave no error")
	}
	if _, err := FromBytes(Float32, []int64{-1}, nil); err == nil {
		t.Fatal("FromBytes with a negative dimension gave no error")
	}
	src := []byte{1, 2}
	u, err := FromBytes(Uint8, []int64{2}, src)
	if err != nil {
		t.Fatal(err)
	}
	src[0] = 9
	if Values[uint8](u)[0] != 1 {
		t.Fatal("FromBytes kept a reference to its input")
	}
}
