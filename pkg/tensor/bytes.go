package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/x448/float16"
)

// elemSize is the wire size in bytes of one element of a byte-addressable
// dtype; it is 0 for the 4-bit types, strings and unknown types.
func elemSize(d DType) int {
	if b := d.Bits(); b >= 8 {
		return b / 8
	}
	return 0
}

// WireSize returns the number of bytes n elements of d take in the ONNX
// wire format (raw_data): two 4-bit elements share a byte, the last one
// alone when n is odd. It returns an error for strings and unknown types,
// which have no fixed-width encoding.
func WireSize(d DType, n int) (int, error) {
	switch {
	case d.Bits() == 4:
		return (n + 1) / 2, nil
	case elemSize(d) > 0:
		return n * elemSize(d), nil
	}
	return 0, fmt.Errorf("%s elements have no fixed-width byte encoding", d)
}

// Bytes returns the little-endian wire bytes of t as ONNX raw_data and
// ONNX Runtime tensors expect them: bools one byte each (0 or 1), complex
// numbers as (real, imaginary) pairs, int4/uint4/float4e2m1 packed two per
// byte with the first element in the low nibble. It returns an error for
// string tensors and for 4-bit elements outside their range (int4 -8..7,
// uint4 and float4e2m1 patterns 0..15).
func Bytes(t *Tensor) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("nil tensor has no bytes")
	}
	if t.dtype.Bits() == 4 {
		return pack4(t)
	}
	size, err := WireSize(t.dtype, t.Len())
	if err != nil {
		return nil, err
	}
	return appendLE(make([]byte, 0, size), t.data, 0, t.Len()), nil
}

// FromBytes decodes little-endian wire bytes (the format Bytes writes) into
// a new tensor; b is not retained. It returns an error if len(b) is not the
// exact wire size of shape, for strings, unknown dtypes and bad shapes.
// Bool bytes other than 0 read as true.
func FromBytes(d DType, shape []int64, b []byte) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	size, err := WireSize(d, n)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%s tensor of shape %v needs %d bytes, got %d", d, shape, size, len(b))
	}
	if d.Bits() == 4 {
		data := unpack4(d, b, n)
		return &Tensor{dtype: d, shape: append([]int64{}, shape...), data: data}, nil
	}
	t, err := Zeros(d, shape)
	if err != nil {
		return nil, err
	}
	decodeInto(t.data, 0, b, binary.LittleEndian)
	return t, nil
}

// pack4 packs 4-bit elements two per byte, low nibble first.
func pack4(t *Tensor) ([]byte, error) {
	n := t.Len()
	out := make([]byte, (n+1)/2)
	put := func(i int, v uint8) {
		if i%2 == 0 {
			out[i/2] |= v
		} else {
			out[i/2] |= v << 4
		}
	}
	switch s := t.data.(type) {
	case []int8:
		for i, v := range s {
			if v < -8 || v > 7 {
				return nil, fmt.Errorf("int4 element %d is %d, outside -8..7", i, v)
			}
			put(i, uint8(v)&0xF)
		}
	case []uint8:
		for i, v := range s {
			if v > 15 {
				return nil, fmt.Errorf("%s element %d is %d, outside 0..15", t.dtype, i, v)
			}
			put(i, v)
		}
	default:
		return nil, fmt.Errorf("%s tensor holds %T", t.dtype, t.data)
	}
	return out, nil
}

// unpack4 unpacks n 4-bit elements (low nibble first); int4 values are
// sign-extended.
func unpack4(d DType, b []byte, n int) any {
	nib := func(i int) uint8 {
		if i%2 == 0 {
			return b[i/2] & 0xF
		}
		return b[i/2] >> 4
	}
	if d == Int4 {
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(nib(i)<<4) >> 4
		}
		return out
	}
	out := make([]uint8, n)
	for i := range out {
		out[i] = nib(i)
	}
	return out
}

// decodeInto decodes len(b)/size elements from b into dst starting at
// element off. dst is a storage slice of a byte-addressable dtype and has
// room; b holds whole elements.
func decodeInto(dst any, off int, b []byte, bo binary.ByteOrder) {
	if bo == binary.LittleEndian && nativeLittle && memcopy(dst, off, b) {
		return
	}
	switch s := dst.(type) {
	case []uint8:
		copy(s[off:], b)
	case []int8:
		for i, v := range b {
			s[off+i] = int8(v)
		}
	case []bool:
		for i, v := range b {
			s[off+i] = v != 0
		}
	case []int16:
		for i := range len(b) / 2 {
			s[off+i] = int16(bo.Uint16(b[2*i:]))
		}
	case []uint16:
		for i := range len(b) / 2 {
			s[off+i] = bo.Uint16(b[2*i:])
		}
	case []float16.Float16:
		for i := range len(b) / 2 {
			s[off+i] = float16.Frombits(bo.Uint16(b[2*i:]))
		}
	case []BFloat16:
		for i := range len(b) / 2 {
			s[off+i] = BFloat16(bo.Uint16(b[2*i:]))
		}
	case []int32:
		for i := range len(b) / 4 {
			s[off+i] = int32(bo.Uint32(b[4*i:]))
		}
	case []uint32:
		for i := range len(b) / 4 {
			s[off+i] = bo.Uint32(b[4*i:])
		}
	case []float32:
		for i := range len(b) / 4 {
			s[off+i] = math.Float32frombits(bo.Uint32(b[4*i:]))
		}
	case []int64:
		for i := range len(b) / 8 {
			s[off+i] = int64(bo.Uint64(b[8*i:]))
		}
	case []uint64:
		for i := range len(b) / 8 {
			s[off+i] = bo.Uint64(b[8*i:])
		}
	case []float64:
		for i := range len(b) / 8 {
			s[off+i] = math.Float64frombits(bo.Uint64(b[8*i:]))
		}
	case []complex64:
		for i := range len(b) / 8 {
			re := math.Float32frombits(bo.Uint32(b[8*i:]))
			im := math.Float32frombits(bo.Uint32(b[8*i+4:]))
			s[off+i] = complex(re, im)
		}
	case []complex128:
		for i := range len(b) / 16 {
			re := math.Float64frombits(bo.Uint64(b[16*i:]))
			im := math.Float64frombits(bo.Uint64(b[16*i+8:]))
			s[off+i] = complex(re, im)
		}
	}
}

// appendLE appends elements [from, to) of a byte-addressable storage slice
// to b in little-endian order.
func appendLE(b []byte, src any, from, to int) []byte {
	le := binary.LittleEndian
	switch s := src.(type) {
	case []uint8:
		b = append(b, s[from:to]...)
	case []int8:
		for _, v := range s[from:to] {
			b = append(b, uint8(v))
		}
	case []bool:
		for _, v := range s[from:to] {
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	case []int16:
		for _, v := range s[from:to] {
			b = le.AppendUint16(b, uint16(v))
		}
	case []uint16:
		for _, v := range s[from:to] {
			b = le.AppendUint16(b, v)
		}
	case []float16.Float16:
		for _, v := range s[from:to] {
			b = le.AppendUint16(b, v.Bits())
		}
	case []BFloat16:
		for _, v := range s[from:to] {
			b = le.AppendUint16(b, uint16(v))
		}
	case []int32:
		for _, v := range s[from:to] {
			b = le.AppendUint32(b, uint32(v))
		}
	case []uint32:
		for _, v := range s[from:to] {
			b = le.AppendUint32(b, v)
		}
	case []float32:
		for _, v := range s[from:to] {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	case []int64:
		for _, v := range s[from:to] {
			b = le.AppendUint64(b, uint64(v))
		}
	case []uint64:
		for _, v := range s[from:to] {
			b = le.AppendUint64(b, v)
		}
	case []float64:
		for _, v := range s[from:to] {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	case []complex64:
		for _, v := range s[from:to] {
			b = le.AppendUint32(b, math.Float32bits(real(v)))
			b = le.AppendUint32(b, math.Float32bits(imag(v)))
		}
	case []complex128:
		for _, v := range s[from:to] {
			b = le.AppendUint64(b, math.Float64bits(real(v)))
			b = le.AppendUint64(b, math.Float64bits(imag(v)))
		}
	}
	return b
}

// nativeLittle reports whether this machine stores numbers little-endian,
// as the ONNX and .npy wire formats mostly do; then decoding is a copy.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// memcopy copies little-endian wire bytes straight into a numeric slice
// starting at element off; it reports false for types it does not cover.
func memcopy(dst any, off int, b []byte) bool {
	switch s := dst.(type) {
	case []float32:
		return copyRaw(s[off:], b)
	case []float64:
		return copyRaw(s[off:], b)
	case []int32:
		return copyRaw(s[off:], b)
	case []int64:
		return copyRaw(s[off:], b)
	case []uint32:
		return copyRaw(s[off:], b)
	case []uint64:
		return copyRaw(s[off:], b)
	case []int16:
		return copyRaw(s[off:], b)
	case []uint16:
		return copyRaw(s[off:], b)
	}
	return false
}

func copyRaw[T float32 | float64 | int32 | int64 | uint32 | uint64 | int16 | uint16](dst []T, b []byte) bool {
	if len(dst) == 0 || len(b) == 0 {
		return len(b) == 0
	}
	size := int(unsafe.Sizeof(dst[0]))
	if len(b)%size != 0 || len(b)/size > len(dst) {
		return false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(b)), b)
	return true
}
