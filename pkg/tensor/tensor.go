// Package tensor holds typed dense tensors in row-major order and converts
// them to and from ONNX TensorProto messages and NumPy .npy/.npz files.
//
// Element storage per DType:
//
//	Float32 []float32    Float64 []float64    Float16  []float16.Float16
//	BFloat16 []BFloat16  Int8 []int8          Uint8    []uint8
//	Int16 []int16        Uint16 []uint16      Int32    []int32
//	Uint32 []uint32      Int64 []int64        Uint64   []uint64
//	Bool []bool          String []string      Complex64 []complex64
//	Complex128 []complex128
//	Int4 []int8 (one value in -8..7 per element, unpacked)
//	Uint4 []uint8 (one value in 0..15 per element, unpacked)
//	Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0,
//	Float4E2M1: []uint8 bit patterns, one per element (unpacked)
//
// Constructors return an error when the data length does not match the
// shape; accessors panic when asked for the wrong element type, as a slice
// index out of range would.
package tensor

import (
	"fmt"
	"math"
	"strings"

	"github.com/x448/float16"
)

// DType is an element type; its values are ONNX's TensorProto.DataType.
type DType int32

// Element types, numbered as in ONNX.
const (
	Undefined      DType = 0
	Float32        DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Float64        DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16Type   DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
	Float8E8M0     DType = 24
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float32: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Float64: "float64",
	Uint32: "uint32", Uint64: "uint64", Complex64: "complex64",
	Complex128: "complex128", BFloat16Type: "bfloat16",
	Float8E4M3FN: "float8e4m3fn", Float8E4M3FNUZ: "float8e4m3fnuz",
	Float8E5M2: "float8e5m2", Float8E5M2FNUZ: "float8e5m2fnuz",
	Uint4: "uint4", Int4: "int4", Float4E2M1: "float4e2m1",
	Float8E8M0: "float8e8m0",
}

// String returns the lower-case NumPy-like name ("float32", "int4", ...).
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// ParseDType returns the DType with the given name as printed by String.
func ParseDType(name string) (DType, error) {
	n := strings.ToLower(name)
	for d, s := range dtypeNames {
		if s == n && d != Undefined {
			return d, nil
		}
	}
	return Undefined, fmt.Errorf("unknown element type %q", name)
}

// Known reports whether d is an element type this package can store.
func (d DType) Known() bool { _, ok := dtypeNames[d]; return ok && d != Undefined }

// Bits is the storage size of one element in the ONNX wire format (4 for
// int4/uint4/float4, 0 for strings and unknown types).
func (d DType) Bits() int {
	switch d {
	case Uint4, Int4, Float4E2M1:
		return 4
	case Uint8, Int8, Bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0:
		return 8
	case Uint16, Int16, Float16, BFloat16Type:
		return 16
	case Float32, Int32, Uint32:
		return 32
	case Float64, Int64, Uint64, Complex64:
		return 64
	case Complex128:
		return 128
	}
	return 0
}

// IsFloat reports whether d is a real floating-point type (any width).
func (d DType) IsFloat() bool {
	switch d {
	case Float32, Float64, Float16, BFloat16Type, Float8E4M3FN, Float8E4M3FNUZ,
		Float8E5M2, Float8E5M2FNUZ, Float8E8M0, Float4E2M1:
		return true
	}
	return false
}

// IsInteger reports whether d is a signed or unsigned integer type.
func (d DType) IsInteger() bool {
	switch d {
	case Int4, Uint4, Int8, Uint8, Int16, Uint16, Int32, Uint32, Int64, Uint64:
		return true
	}
	return false
}

// BFloat16 is a bfloat16 value stored as its bit pattern: the upper 16 bits
// of an IEEE float32.
type BFloat16 uint16

// BFloat16FromFloat32 rounds f to the nearest bfloat16 (ties to even),
// keeping NaN a NaN.
func BFloat16FromFloat32(f float32) BFloat16 {
	b := math.Float32bits(f)
	if f != f {
		return BFloat16(b>>16 | 0x0040)
	}
	rounding := uint32(0x7fff) + (b>>16)&1
	return BFloat16((b + rounding) >> 16)
}

// Float32 widens b exactly.
func (b BFloat16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// Element is the set of Go element types a Tensor can hold.
type Element interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 |
		~int64 | ~uint64 | ~bool | ~string | ~complex64 | ~complex128
}

// Tensor is a dense row-major tensor. The zero value is not usable; build
// one with New, Zeros or FromProto.
type Tensor struct {
	dtype DType
	shape []int64
	data  any
}

// NumElements returns the product of shape (1 for a scalar). It returns an
// error if a dimension is negative or the product overflows int.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n *= d
	}
	if n > math.MaxInt32*16 {
		return 0, fmt.Errorf("shape %v has %d elements, more than infer handles in memory", shape, n)
	}
	return int(n), nil
}

// storageDType maps each dtype to the Go slice type it uses.
func sliceFor(d DType, n int) (any, error) {
	switch d {
	case Float32:
		return make([]float32, n), nil
	case Float64:
		return make([]float64, n), nil
	case Float16:
		return make([]float16.Float16, n), nil
	case BFloat16Type:
		return make([]BFloat16, n), nil
	case Int8, Int4:
		return make([]int8, n), nil
	case Uint8, Uint4, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0, Float4E2M1:
		return make([]uint8, n), nil
	case Int16:
		return make([]int16, n), nil
	case Uint16:
		return make([]uint16, n), nil
	case Int32:
		return make([]int32, n), nil
	case Uint32:
		return make([]uint32, n), nil
	case Int64:
		return make([]int64, n), nil
	case Uint64:
		return make([]uint64, n), nil
	case Bool:
		return make([]bool, n), nil
	case String:
		return make([]string, n), nil
	case Complex64:
		return make([]complex64, n), nil
	case Complex128:
		return make([]complex128, n), nil
	}
	return nil, fmt.Errorf("element type %s is not supported", d)
}

// Zeros returns a zero-filled tensor. It returns an error for an unknown
// dtype or a bad shape.
func Zeros(d DType, shape []int64) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	data, err := sliceFor(d, n)
	if err != nil {
		return nil, err
	}
	return &Tensor{dtype: d, shape: append([]int64{}, shape...), data: data}, nil
}

// New wraps data (not copied) as a tensor of the natural dtype of T
// (float32 → Float32, float16.Float16 → Float16, BFloat16 → BFloat16Type,
// ...). It returns an error if len(data) does not match shape.
func New[T Element](shape []int64, data []T) (*Tensor, error) {
	d := dtypeOf(any(data))
	if d == Undefined {
		return nil, fmt.Errorf("no element type for Go type %T", data)
	}
	return NewWithDType(d, shape, data)
}

// NewWithDType wraps data (not copied) as a tensor of dtype d; data must be
// the slice type d uses (see the package comment). Use it for Int4, Uint4
// and the 8-bit float types, which share Go types with others.
func NewWithDType(d DType, shape []int64, data any) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	want, err := sliceFor(d, 0)
	if err != nil {
		return nil, err
	}
	if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", data) {
		return nil, fmt.Errorf("%s tensor needs %T data, got %T", d, want, data)
	}
	if l := sliceLen(data); l != n {
		return nil, fmt.Errorf("%s tensor of shape %v needs %d elements, got %d", d, shape, n, l)
	}
	return &Tensor{dtype: d, shape: append([]int64{}, shape...), data: data}, nil
}

// MustNew is New for tests and literals; it panics on a mismatch.
func MustNew[T Element](shape []int64, data []T) *Tensor {
	t, err := New(shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

func dtypeOf(data any) DType {
	switch data.(type) {
	case []float32:
		return Float32
	case []float64:
		return Float64
	case []float16.Float16:
		return Float16
	case []BFloat16:
		return BFloat16Type
	case []int8:
		return Int8
	case []uint8:
		return Uint8
	case []int16:
		return Int16
	case []uint16:
		return Uint16
	case []int32:
		return Int32
	case []uint32:
		return Uint32
	case []int64:
		return Int64
	case []uint64:
		return Uint64
	case []bool:
		return Bool
	case []string:
		return String
	case []complex64:
		return Complex64
	case []complex128:
		return Complex128
	}
	return Undefined
}

func sliceLen(data any) int {
	switch s := data.(type) {
	case []float32:
		return len(s)
	case []float64:
		return len(s)
	case []float16.Float16:
		return len(s)
	case []BFloat16:
		return len(s)
	case []int8:
		return len(s)
	case []uint8:
		return len(s)
	case []int16:
		return len(s)
	case []uint16:
		return len(s)
	case []int32:
		return len(s)
	case []uint32:
		return len(s)
	case []int64:
		return len(s)
	case []uint64:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []complex64:
		return len(s)
	case []complex128:
		return len(s)
	}
	return -1
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the dimensions; the caller must not modify it.
func (t *Tensor) Shape() []int64 { return t.shape }

// Len returns the number of elements.
func (t *Tensor) Len() int { return sliceLen(t.data) }

// Data returns the element slice (see the package comment for its type).
func (t *Tensor) Data() any { return t.data }

// Values returns the element slice as []T; it panics if T is not the
// tensor's storage type.
func Values[T Element](t *Tensor) []T {
	s, ok := t.data.([]T)
	if !ok {
		panic(fmt.Sprintf("tensor: %s tensor holds %T, not []%T", t.dtype, t.data, *new(T)))
	}
	return s
}

// Reshape returns a tensor sharing t's data with a new shape of the same
// element count.
func (t *Tensor) Reshape(shape []int64) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if n != t.Len() {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", t.shape, t.Len(), shape, n)
	}
	return &Tensor{dtype: t.dtype, shape: append([]int64{}, shape...), data: t.data}, nil
}

// String describes the tensor briefly, e.g. "float32[1 3 224 224]".
func (t *Tensor) String() string { return fmt.Sprintf("%s%v", t.dtype, t.shape) }
