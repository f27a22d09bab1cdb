package tensor

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/x448/float16"
)

func TestDecodeFloat8(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		d    DType
		bits uint8
		want float64
	}{
		{Float8E4M3FN, 0x7E, 448},
		{Float8E4M3FN, 0xFE, -448},
		{Float8E4M3FN, 0x38, 1},
		{Float8E4M3FN, 0x01, math.Ldexp(1, -9)},
		{Float8E4M3FN, 0x7F, nan},
		{Float8E4M3FN, 0xFF, nan},
		{Float8E4M3FN, 0x80, math.Copysign(0, -1)},
		{Float8E4M3FNUZ, 0x7F, 240},
		{Float8E4M3FNUZ, 0x40, 1},
		{Float8E4M3FNUZ, 0x01, math.Ldexp(1, -10)},
		{Float8E4M3FNUZ, 0x80, nan},
		{Float8E5M2, 0x7B, 57344},
		{Float8E5M2, 0x3C, 1},
		{Float8E5M2, 0x01, math.Ldexp(1, -16)},
		{Float8E5M2, 0x7C, math.Inf(1)},
		{Float8E5M2, 0xFC, math.Inf(-1)},
		{Float8E5M2, 0x7D, nan},
		{Float8E5M2FNUZ, 0x7F, 57344},
		{Float8E5M2FNUZ, 0x40, 1},
		{Float8E5M2FNUZ, 0x01, math.Ldexp(1, -17)},
		{Float8E5M2FNUZ, 0x80, nan},
		{Float8E8M0, 127, 1},
		{Float8E8M0, 130, 8},
		{Float8E8M0, 0, math.Ldexp(1, -127)},
		{Float8E8M0, 0xFF, nan},
	}
	for _, c := range cases {
		got, err := DecodeFloat8(c.d, c.bits)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(c.want) {
			if !math.IsNaN(got) {
				t.Errorf("%s 0x%02X = %v, want NaN", c.d, c.bits, got)
			}
			continue
		}
		if got != c.want || math.Signbit(got) != math.Signbit(c.want) {
			t.Errorf("%s 0x%02X = %v, want %v", c.d, c.bits, got, c.want)
		}
	}
	if _, err := DecodeFloat8(Float16, 0); err == nil {
		t.Error("DecodeFloat8(float16) gave no error")
	}
}

func TestAsFloat64EveryNumericDType(t *testing.T) {
	want := map[DType][]float64{
		Float32:        {1.5, 0, math.MaxFloat32, math.Inf(1)},
		Float64:        {math.Pi, -1e300, math.SmallestNonzeroFloat64},
		Float16:        {1, -2.5, 65504, math.Inf(-1)},
		BFloat16Type:   {1, -3, math.Inf(-1)},
		Int8:           {-128, 0, 127},
		Uint8:          {0, 1, 255},
		Int16:          {-32768, -1, 32767},
		Uint16:         {0, 65535},
		Int32:          {math.MinInt32, -7, math.MaxInt32},
		Uint32:         {7, math.MaxUint32},
		Int64:          {math.MinInt64, -7, math.MaxInt64},
		Uint64:         {7, math.MaxUint64},
		Bool:           {1, 0, 1},
		Int4:           {-8, 7, -1, 0, 3},
		Uint4:          {0, 15, 9},
		Float4E2M1:     {6, -6, 0.5},
		Float8E4M3FN:   {448, -448, math.Ldexp(1, -9)},
		Float8E4M3FNUZ: {240, 1},
		Float8E5M2:     {57344, math.Inf(1), 1},
		Float8E5M2FNUZ: {57344, 1},
		Float8E8M0:     {1, math.Ldexp(1, -127)},
	}
	for d, x := range sampleTensors(t) {
		got, err := AsFloat64(x)
		if d == String || d == Complex64 || d == Complex128 {
			if err == nil {
				t.Errorf("AsFloat64(%s) gave no error", d)
			}
			continue
		}
		if err != nil {
			t.Fatalf("AsFloat64(%s): %v", d, err)
		}
		if !reflect.DeepEqual(got, want[d]) {
			t.Errorf("AsFloat64(%s) = %v, want %v", d, got, want[d])
		}
	}
}

func TestCastToFloat16RoundsToNearestEven(t *testing.T) {
	in := []float32{
		1 + 0x1p-11,   // halfway between 1 and 1+2^-10: to even (1)
		1 + 3*0x1p-11, // halfway, rounds up to the even 1+2^-9
		65504,         // largest float16
		65519,         // below the halfway point to 65536: 65504
		65520,         // halfway to 65536 rounds to even, beyond range: +Inf
		-1e6,
	}
	out, err := Cast(MustNew([]int64{int64(len(in))}, in), Float16)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1 + 0x1p-9, 65504, 65504, float32(math.Inf(1)), float32(math.Inf(-1))}
	for i, h := range Values[float16.Float16](out) {
		if h.Float32() != want[i] {
			t.Errorf("float16(%v) = %v, want %v", in[i], h.Float32(), want[i])
		}
	}

	_, err = CastStrict(MustNew([]int64{3}, []float32{1, 2, 70000}), Float16)
	var re *RangeError
	if !errors.As(err, &re) || re.Index != 2 || re.To != Float16 {
		t.Fatalf("CastStrict overflow gave %v, want a RangeError at index 2", err)
	}
	inf, err := CastStrict(MustNew([]int64{1}, []float32{float32(math.Inf(-1))}), Float16)
	if err != nil || !Values[float16.Float16](inf)[0].IsInf(-1) {
		t.Fatalf("CastStrict of -Inf: %v, %v", inf, err)
	}
}

func TestCastFromFloat64RoundsOnce(t *testing.T) {
	// Just above the float16 halfway point between 1 and 1+2^-10. Rounding
	// to float32 first would land exactly on the halfway point, and the
	// second rounding would then go down to 1.
	x := 1 + 0x1p-11 + 0x1p-40
	h, err := Cast(MustNew([]int64{1}, []float64{x}), Float16)
	if err != nil {
		t.Fatal(err)
	}
	if got := Values[float16.Float16](h)[0].Float32(); got != 1+0x1p-10 {
		t.Errorf("float16(%v) = %v, want %v", x, got, 1+0x1p-10)
	}
	y := 1 + 0x1p-8 + 0x1p-40 // the same for bfloat16 (7 mantissa bits)
	b, err := Cast(MustNew([]int64{1}, []float64{y}), BFloat16Type)
	if err != nil {
		t.Fatal(err)
	}
	if got := Values[BFloat16](b)[0].Float32(); got != 1+0x1p-7 {
		t.Errorf("bfloat16(%v) = %v, want %v", y, got, 1+0x1p-7)
	}
}

func TestCastToIntegers(t *testing.T) {
	in := MustNew([]int64{7}, []float32{2.5, 3.5, -2.5, 300, -300, 0.49, -0.5})
	out, err := Cast(in, Int8)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[int8](out), []int8{2, 4, -2, 127, -128, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("int8 cast = %v, want %v", got, want)
	}
	u, err := Cast(in, Uint8)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[uint8](u), []uint8{2, 4, 0, 255, 0, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("uint8 cast = %v, want %v", got, want)
	}
	q, err := Cast(MustNew([]int64{3}, []float64{-9, 7.4, 1e30}), Int4)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[int8](q), []int8{-8, 7, 7}; !reflect.DeepEqual(got, want) || q.DType() != Int4 {
		t.Errorf("int4 cast = %v %v, want %v", q, got, want)
	}
	big, err := Cast(MustNew([]int64{2}, []float64{1e20, -1e20}), Int64)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[int64](big), []int64{math.MaxInt64, math.MinInt64}; !reflect.DeepEqual(got, want) {
		t.Errorf("int64 cast = %v, want %v", got, want)
	}
	ubig, err := Cast(MustNew([]int64{1}, []float64{1e20}), Uint64)
	if err != nil {
		t.Fatal(err)
	}
	if got := Values[uint64](ubig)[0]; got != math.MaxUint64 {
		t.Errorf("uint64(1e20) = %d", got)
	}

	_, err = Cast(MustNew([]int64{2}, []float32{1, float32(math.NaN())}), Int32)
	var re *RangeError
	if !errors.As(err, &re) || re.Index != 1 || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("NaN to int32 gave %v", err)
	}
	_, err = CastStrict(in, Int8)
	if !errors.As(err, &re) || re.Index != 3 || re.Value != 300 {
		t.Fatalf("CastStrict to int8 gave %v, want RangeError at 3", err)
	}
}

func TestCastBetweenIntegersIsExact(t *testing.T) {
	in := MustNew([]int64{4}, []int64{1<<62 + 1, -5, math.MaxInt64, math.MinInt64})
	u, err := Cast(in, Uint64)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[uint64](u), []uint64{1<<62 + 1, 0, math.MaxInt64, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("int64→uint64 = %v, want %v", got, want)
	}
	i32, err := Cast(in, Int32)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Values[int32](i32), []int32{math.MaxInt32, -5, math.MaxInt32, math.MinInt32}; !reflect.DeepEqual(got, want) {
		t.Errorf("int64→int32 = %v, want %v", got, want)
	}
	back, err := Cast(MustNew([]int64{1}, []uint64{math.MaxUint64}), Int64)
	if err != nil || Values[int64](back)[0] != math.MaxInt64 {
		t.Errorf("uint64 max→int64 = %v, %v", back, err)
	}
	_, err = CastStrict(MustNew([]int64{2}, []int64{3, -1}), Uint8)
	var re *RangeError
	if !errors.As(err, &re) || re.Index != 1 {
		t.Fatalf("CastStrict(-1 → uint8) gave %v", err)
	}
	ok, err := CastStrict(MustNew([]int64{2}, []int32{3, 255}), Uint8)
	if err != nil || !reflect.DeepEqual(Values[uint8](ok), []uint8{3, 255}) {
		t.Fatalf("CastStrict in range: %v, %v", ok, err)
	}
	b, err := Cast(MustNew([]int64{3}, []int16{0, -2, 5}), Bool)
	if err != nil || !reflect.DeepEqual(Values[bool](b), []bool{false, true, true}) {
		t.Fatalf("int16→bool: %v, %v", b, err)
	}
	fromBool, err := Cast(MustNew([]int64{2}, []bool{true, false}), Float32)
	if err != nil || !reflect.DeepEqual(Values[float32](fromBool), []float32{1, 0}) {
		t.Fatalf("bool→float32: %v, %v", fromBool, err)
	}
}

func TestCastErrorsAndCopies(t *testing.T) {
	if _, err := Cast(MustNew([]int64{1}, []float32{1}), Float8E4M3FN); err == nil {
		t.Error("cast to float8 gave no error")
	}
	if _, err := Cast(MustNew([]int64{1}, []complex64{1}), Float32); err == nil {
		t.Error("cast from complex gave no error")
	}
	if _, err := Cast(MustNew([]int64{1}, []string{"1"}), Float32); err == nil {
		t.Error("cast from string gave no error")
	}
	if _, err := Cast(nil, Float32); err == nil {
		t.Error("cast of nil gave no error")
	}
	src := MustNew([]int64{2}, []float32{1, 2})
	same, err := Cast(src, Float32)
	if err != nil {
		t.Fatal(err)
	}
	Values[float32](same)[0] = 9
	if Values[float32](src)[0] != 1 {
		t.Error("Cast to the same dtype shares memory with its input")
	}
	f32, err := ToFloat32(MustNew([]int64{2}, []BFloat16{BFloat16FromFloat32(1.5), BFloat16FromFloat32(-4)}))
	if err != nil || !reflect.DeepEqual(Values[float32](f32), []float32{1.5, -4}) {
		t.Fatalf("ToFloat32(bfloat16) = %v, %v", f32, err)
	}
	e4, err := ToFloat32(mustDT(Float8E4M3FN, []int64{1}, []uint8{0x7E}))
	if err != nil || Values[float32](e4)[0] != 448 {
		t.Fatalf("ToFloat32(e4m3fn 0x7E) = %v, %v", e4, err)
	}
}

func TestRows(t *testing.T) {
	x := MustNew([]int64{3, 2}, []int32{0, 1, 2, 3, 4, 5})
	r, err := x.Rows(1, 3)
	if err != nil || !reflect.DeepEqual(r.Shape(), []int64{2, 2}) || !reflect.DeepEqual(Values[int32](r), []int32{2, 3, 4, 5}) {
		t.Fatalf("Rows(1,3) = %v %v, %v", r, r.Data(), err)
	}
	tk, err := x.TakeRows([]int{2, 0, 2})
	if err != nil || !reflect.DeepEqual(Values[int32](tk), []int32{4, 5, 0, 1, 4, 5}) {
		t.Fatalf("TakeRows = %v, %v", tk, err)
	}
	c, err := Concat(r, tk)
	if err != nil || !reflect.DeepEqual(c.Shape(), []int64{5, 2}) || !reflect.DeepEqual(Values[int32](c), []int32{2, 3, 4, 5, 4, 5, 0, 1, 4, 5}) {
		t.Fatalf("Concat = %v, %v", c, err)
	}
	if _, err := x.Rows(2, 4); err == nil {
		t.Error("Rows past the end gave no error")
	}
	if _, err := x.TakeRows([]int{3}); err == nil {
		t.Error("TakeRows past the end gave no error")
	}
	if _, err := Concat(x, MustNew([]int64{1, 3}, []int32{0, 0, 0})); err == nil {
		t.Error("Concat of different row shapes gave no error")
	}
	if _, err := Concat(x, MustNew([]int64{1, 2}, []int64{0, 0})); err == nil {
		t.Error("Concat of different dtypes gave no error")
	}
	if _, err := MustNew([]int64{}, []float32{1}).Rows(0, 1); err == nil {
		t.Error("Rows of a scalar gave no error")
	}
}

// TestTake: indices along a middle axis, for the float32 fast path and
// the generic one (int32), with repeats and errors.
func TestTake(t *testing.T) {
	f := MustNew([]int64{2, 3, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	got, err := f.Take(1, []int{2, 0, 2})
	if err != nil || !reflect.DeepEqual(got.Shape(), []int64{2, 3, 2}) ||
		!reflect.DeepEqual(Values[float32](got), []float32{4, 5, 0, 1, 4, 5, 10, 11, 6, 7, 10, 11}) {
		t.Fatalf("Take(1, [2 0 2]) = %v %v, %v", got, got.Data(), err)
	}
	i := MustNew([]int64{2, 3}, []int32{0, 1, 2, 3, 4, 5})
	gi, err := i.Take(1, []int{1})
	if err != nil || !reflect.DeepEqual(gi.Shape(), []int64{2, 1}) || !reflect.DeepEqual(Values[int32](gi), []int32{1, 4}) {
		t.Fatalf("Take(1, [1]) = %v %v, %v", gi, gi.Data(), err)
	}
	if _, err := i.Take(2, []int{0}); err == nil {
		t.Error("Take along an axis past the rank gave no error")
	}
	if _, err := i.Take(1, []int{3}); err == nil {
		t.Error("Take of an index past the end gave no error")
	}
}
