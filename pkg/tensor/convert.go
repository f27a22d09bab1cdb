package tensor

import (
	"fmt"
	"math"

	"github.com/x448/float16"
)

// DecodeFloat8 returns the value of the 8-bit float bit pattern b of type d
// (Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ or Float8E8M0)
// as the ONNX specification defines the formats: E4M3FN has no infinities
// and NaN is S.1111.111; the FNUZ variants have no negative zero, and 0x80
// is their only NaN; E5M2 follows IEEE 754 (infinities S.11111.00);
// E8M0 is 2^(b-127) with 0xFF as NaN. It returns an error for other types.
func DecodeFloat8(d DType, b uint8) (float64, error) {
	neg := b&0x80 != 0
	sign := func(v float64) float64 {
		if neg {
			return -v
		}
		return v
	}
	switch d {
	case Float8E4M3FN:
		e, m := int(b>>3&0xF), float64(b&7)
		if e == 0xF && m == 7 {
			return math.NaN(), nil
		}
		if e == 0 {
			return sign(math.Ldexp(m/8, -6)), nil
		}
		return sign(math.Ldexp(1+m/8, e-7)), nil
	case Float8E4M3FNUZ:
		if b == 0x80 {
			return math.NaN(), nil
		}
		e, m := int(b>>3&0xF), float64(b&7)
		if e == 0 {
			return sign(math.Ldexp(m/8, -7)), nil
		}
		return sign(math.Ldexp(1+m/8, e-8)), nil
	case Float8E5M2:
		e, m := int(b>>2&0x1F), float64(b&3)
		if e == 0x1F {
			if m == 0 {
				return sign(math.Inf(1)), nil
			}
			return math.NaN(), nil
		}
		if e == 0 {
			return sign(math.Ldexp(m/4, -14)), nil
		}
		return sign(math.Ldexp(1+m/4, e-15)), nil
	case Float8E5M2FNUZ:
		if b == 0x80 {
			return math.NaN(), nil
		}
		e, m := int(b>>2&0x1F), float64(b&3)
		if e == 0 {
			return sign(math.Ldexp(m/4, -15)), nil
		}
		return sign(math.Ldexp(1+m/4, e-16)), nil
	case Float8E8M0:
		if b == 0xFF {
			return math.NaN(), nil
		}
		return math.Ldexp(1, int(b)-127), nil
	}
	return 0, fmt.Errorf("%s is not an 8-bit float type", d)
}

// decodeFloat4E2M1 returns the value of a float4e2m1 pattern (low 4 bits):
// sign, 2 exponent bits (bias 1), 1 mantissa bit; no infinities or NaN.
func decodeFloat4E2M1(b uint8) float64 {
	e, m := int(b>>1&3), float64(b&1)
	v := math.Ldexp(1+m/2, e-1)
	if e == 0 {
		v = m / 2
	}
	if b&8 != 0 {
		return -v
	}
	return v
}

// AsFloat64 returns the elements of t widened to float64: floats of every
// width (float8 and float4 decoded as DecodeFloat8 describes), integers
// (int64 and uint64 beyond 2^53 rounded), bools as 0 or 1. It returns an
// error for string and complex tensors, which have no real value, and for
// a nil tensor.
func AsFloat64(t *Tensor) ([]float64, error) {
	if t == nil {
		return nil, fmt.Errorf("nil tensor has no values")
	}
	out := make([]float64, t.Len())
	switch s := t.data.(type) {
	case []float32:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []float64:
		copy(out, s)
	case []float16.Float16:
		for i, v := range s {
			out[i] = float64(v.Float32())
		}
	case []BFloat16:
		for i, v := range s {
			out[i] = float64(v.Float32())
		}
	case []int8:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []uint8:
		switch t.dtype {
		case Uint8, Uint4:
			for i, v := range s {
				out[i] = float64(v)
			}
		case Float4E2M1:
			for i, v := range s {
				out[i] = decodeFloat4E2M1(v)
			}
		default:
			for i, v := range s {
				f, err := DecodeFloat8(t.dtype, v)
				if err != nil {
					return nil, err
				}
				out[i] = f
			}
		}
	case []int16:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []uint16:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []int32:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []uint32:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []int64:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []uint64:
		for i, v := range s {
			out[i] = float64(v)
		}
	case []bool:
		for i, v := range s {
			if v {
				out[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("%s elements have no real value", t.dtype)
	}
	return out, nil
}

// ToFloat32 returns t converted to a new float32 tensor as Cast does. It
// returns an error for string and complex tensors.
func ToFloat32(t *Tensor) (*Tensor, error) { return Cast(t, Float32) }

// RangeError reports an element that does not fit the target type of a
// conversion; Index is its flat (row-major) position.
type RangeError struct {
	Index int
	Value float64
	From  DType
	To    DType
}

func (e *RangeError) Error() string {
	if math.IsNaN(e.Value) {
		return fmt.Sprintf("element %d of %s tensor is NaN, which has no %s value", e.Index, e.From, e.To)
	}
	return fmt.Sprintf("element %d of %s tensor is %v, outside the range of %s", e.Index, e.From, e.Value, e.To)
}

// Cast returns a new tensor holding t's elements converted to d, which
// must be Float32, Float64, Float16, BFloat16Type, Bool or an integer type
// (including Int4 and Uint4); t may be any real numeric type. Semantics:
//
//   - to a float type: rounded to nearest, ties to even (float16 and
//     bfloat16 are rounded once, from the exact value); values beyond the
//     target's largest finite value become ±Inf as in IEEE 754 and ONNX
//     Cast; NaN stays NaN.
//   - to an integer type: floats are rounded to nearest, ties to even, then
//     clamped (saturated) to the target's range; integers are clamped.
//   - to Bool: nonzero (and NaN) is true.
//
// It returns an error for string and complex tensors, other target types,
// and a NaN converted to an integer type (as a *RangeError).
func Cast(t *Tensor, d DType) (*Tensor, error) { return cast(t, d, false) }

// CastStrict is Cast that refuses to lose range: it returns a *RangeError
// for the first element that would saturate an integer target or overflow
// a finite float to ±Inf. Rounding to the target's precision is still
// allowed (float64 0.1 becomes the nearest float32).
func CastStrict(t *Tensor, d DType) (*Tensor, error) { return cast(t, d, true) }

func cast(t *Tensor, d DType, strict bool) (*Tensor, error) {
	if t == nil {
		return nil, fmt.Errorf("cast to %s: nil tensor", d)
	}
	out, err := Zeros(d, t.shape)
	if err != nil {
		return nil, fmt.Errorf("cast %s to %s: %w", t.dtype, d, err)
	}
	switch d {
	case Float32, Float64, Float16, BFloat16Type, Bool:
	default:
		if !d.IsInteger() {
			return nil, fmt.Errorf("cast %s to %s: target type is not supported", t.dtype, d)
		}
	}
	if t.dtype == d {
		copyData(out.data, t.data)
		return out, nil
	}
	if isIntLike(t.dtype) && (d.IsInteger() || d == Bool) {
		return out, castInts(t, out, strict)
	}
	vals, err := AsFloat64(t)
	if err != nil {
		return nil, fmt.Errorf("cast %s to %s: %w", t.dtype, d, err)
	}
	if err := castFloats(vals, t.dtype, out, strict); err != nil {
		return nil, err
	}
	return out, nil
}

func isIntLike(d DType) bool { return d.IsInteger() || d == Bool }

func copyData(dst, src any) {
	switch s := src.(type) {
	case []float32:
		copy(dst.([]float32), s)
	case []float64:
		copy(dst.([]float64), s)
	case []float16.Float16:
		copy(dst.([]float16.Float16), s)
	case []BFloat16:
		copy(dst.([]BFloat16), s)
	case []int8:
		copy(dst.([]int8), s)
	case []uint8:
		copy(dst.([]uint8), s)
	case []int16:
		copy(dst.([]int16), s)
	case []uint16:
		copy(dst.([]uint16), s)
	case []int32:
		copy(dst.([]int32), s)
	case []uint32:
		copy(dst.([]uint32), s)
	case []int64:
		copy(dst.([]int64), s)
	case []uint64:
		copy(dst.([]uint64), s)
	case []bool:
		copy(dst.([]bool), s)
	case []string:
		copy(dst.([]string), s)
	case []complex64:
		copy(dst.([]complex64), s)
	case []complex128:
		copy(dst.([]complex128), s)
	}
}

// intRange is the inclusive range of an integer dtype.
func intRange(d DType) (lo int64, hi uint64) {
	switch d {
	case Int4:
		return -8, 7
	case Uint4:
		return 0, 15
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Uint8:
		return 0, math.MaxUint8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Uint32:
		return 0, math.MaxUint32
	case Int64:
		return math.MinInt64, math.MaxInt64
	case Uint64:
		return 0, math.MaxUint64
	}
	return 0, 1 // Bool
}

// setInt stores v (already within dst's range, as its int64 bit pattern
// for uint64) at i.
func setInt(dst any, i int, v int64) {
	switch s := dst.(type) {
	case []int8:
		s[i] = int8(v)
	case []uint8:
		s[i] = uint8(v)
	case []int16:
		s[i] = int16(v)
	case []uint16:
		s[i] = uint16(v)
	case []int32:
		s[i] = int32(v)
	case []uint32:
		s[i] = uint32(v)
	case []int64:
		s[i] = v
	case []uint64:
		s[i] = uint64(v)
	case []bool:
		s[i] = v != 0
	}
}

// castInts converts between integer and bool types without going through
// float64, so 64-bit values stay exact.
func castInts(t, out *Tensor, strict bool) error {
	lo, hi := intRange(out.dtype)
	toBool := out.dtype == Bool
	put := func(i int, neg bool, mag uint64, v int64) error {
		// neg/mag describe the source value; v is its int64 bit pattern.
		switch {
		case toBool:
			setInt(out.data, i, int64(boolInt(mag != 0)))
			return nil
		case neg && v < lo:
			if strict {
				return &RangeError{Index: i, Value: float64(v), From: t.dtype, To: out.dtype}
			}
			v = lo
		case !neg && mag > hi:
			if strict {
				return &RangeError{Index: i, Value: float64(mag), From: t.dtype, To: out.dtype}
			}
			v = int64(hi)
		}
		setInt(out.data, i, v)
		return nil
	}
	var err error
	each := func(n int, at func(int) (bool, uint64, int64)) {
		for i := 0; i < n && err == nil; i++ {
			neg, mag, v := at(i)
			err = put(i, neg, mag, v)
		}
	}
	signed := func(v int64) (bool, uint64, int64) {
		if v < 0 {
			return true, uint64(-(v + 1)) + 1, v
		}
		return false, uint64(v), v
	}
	switch s := t.data.(type) {
	case []int8:
		each(len(s), func(i int) (bool, uint64, int64) { return signed(int64(s[i])) })
	case []uint8:
		each(len(s), func(i int) (bool, uint64, int64) { return false, uint64(s[i]), int64(s[i]) })
	case []int16:
		each(len(s), func(i int) (bool, uint64, int64) { return signed(int64(s[i])) })
	case []uint16:
		each(len(s), func(i int) (bool, uint64, int64) { return false, uint64(s[i]), int64(s[i]) })
	case []int32:
		each(len(s), func(i int) (bool, uint64, int64) { return signed(int64(s[i])) })
	case []uint32:
		each(len(s), func(i int) (bool, uint64, int64) { return false, uint64(s[i]), int64(s[i]) })
	case []int64:
		each(len(s), func(i int) (bool, uint64, int64) { return signed(s[i]) })
	case []uint64:
		each(len(s), func(i int) (bool, uint64, int64) { return false, s[i], int64(s[i]) })
	case []bool:
		each(len(s), func(i int) (bool, uint64, int64) { return false, uint64(boolInt(s[i])), int64(boolInt(s[i])) })
	}
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func castFloats(vals []float64, from DType, out *Tensor, strict bool) error {
	overflow := func(i int, v float64, inf bool) error {
		if strict && inf && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return &RangeError{Index: i, Value: v, From: from, To: out.dtype}
		}
		return nil
	}
	switch s := out.data.(type) {
	case []float64:
		copy(s, vals)
	case []float32:
		for i, v := range vals {
			s[i] = float32(v)
			if err := overflow(i, v, math.IsInf(float64(s[i]), 0)); err != nil {
				return err
			}
		}
	case []float16.Float16:
		for i, v := range vals {
			s[i] = float16.Fromfloat32(roundToOdd32(v))
			if err := overflow(i, v, s[i].IsInf(0)); err != nil {
				return err
			}
		}
	case []BFloat16:
		for i, v := range vals {
			s[i] = BFloat16FromFloat32(roundToOdd32(v))
			if err := overflow(i, v, math.IsInf(float64(s[i].Float32()), 0)); err != nil {
				return err
			}
		}
	case []bool:
		for i, v := range vals {
			s[i] = v != 0
		}
	default:
		lo, hi := intRange(out.dtype)
		// hiExcl is hi+1 (a power of two, so exact in float64) computed
		// without overflowing uint64.
		hiExcl := float64(hi/2+1) * 2
		for i, v := range vals {
			if math.IsNaN(v) {
				return &RangeError{Index: i, Value: v, From: from, To: out.dtype}
			}
			r := math.RoundToEven(v)
			switch {
			case r < float64(lo):
				if strict {
					return &RangeError{Index: i, Value: v, From: from, To: out.dtype}
				}
				setInt(out.data, i, lo)
			case r >= hiExcl:
				if strict {
					return &RangeError{Index: i, Value: v, From: from, To: out.dtype}
				}
				setInt(out.data, i, int64(hi))
			case r < 0:
				setInt(out.data, i, int64(r))
			default:
				setInt(out.data, i, int64(uint64(r)))
			}
		}
	}
	return nil
}

// roundToOdd32 narrows v to float32 rounding to odd: an inexact result gets
// its lowest mantissa bit set. A second rounding of that float32 to a
// format with at most 22 mantissa bits (float16, bfloat16) then equals
// rounding v directly, avoiding double-rounding errors.
func roundToOdd32(v float64) float32 {
	f := float32(v)
	if float64(f) == v || math.IsNaN(v) || math.IsInf(v, 0) {
		return f
	}
	bits := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(v) {
		bits-- // truncate toward zero: one step down in magnitude
	}
	return math.Float32frombits(bits | 1)
}
