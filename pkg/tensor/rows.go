package tensor

import (
	"fmt"
	"reflect"
	"slices"
)

// RowLen returns the number of elements in one row: the product of the
// dimensions after the first (1 for a vector, 0 for a scalar, which has no
// rows).
func (t *Tensor) RowLen() int {
	if len(t.shape) == 0 {
		return 0
	}
	n := 1
	for _, d := range t.shape[1:] {
		n *= int(d)
	}
	return n
}

// Rows returns rows [start, end) along the first axis as a tensor that
// shares t's data. It returns an error for a scalar or a range outside
// 0..shape[0].
func (t *Tensor) Rows(start, end int) (*Tensor, error) {
	if len(t.shape) == 0 {
		return nil, fmt.Errorf("scalar %s tensor has no rows", t.dtype)
	}
	if start < 0 || end < start || int64(end) > t.shape[0] {
		return nil, fmt.Errorf("rows [%d, %d) are outside tensor %v", start, end, t)
	}
	rl := t.RowLen()
	shape := append([]int64{int64(end - start)}, t.shape[1:]...)
	data := reflect.ValueOf(t.data).Slice(start*rl, end*rl).Interface()
	return &Tensor{dtype: t.dtype, shape: shape, data: data}, nil
}

// TakeRows returns a new tensor made of the given rows of t, in order
// (rows may repeat). It returns an error for a scalar or a row index
// outside 0..shape[0]-1.
func (t *Tensor) TakeRows(rows []int) (*Tensor, error) {
	if len(t.shape) == 0 {
		return nil, fmt.Errorf("scalar %s tensor has no rows", t.dtype)
	}
	shape := append([]int64{int64(len(rows))}, t.shape[1:]...)
	out, err := Zeros(t.dtype, shape)
	if err != nil {
		return nil, err
	}
	rl := t.RowLen()
	src, dst := reflect.ValueOf(t.data), reflect.ValueOf(out.data)
	for i, r := range rows {
		if r < 0 || int64(r) >= t.shape[0] {
			return nil, fmt.Errorf("row %d is outside tensor %v", r, t)
		}
		reflect.Copy(dst.Slice(i*rl, (i+1)*rl), src.Slice(r*rl, (r+1)*rl))
	}
	return out, nil
}

// Take returns a new tensor made of the given indices of t along axis,
// in order (indices may repeat): Gather with a 1-D index. It returns an
// error for an axis outside t's rank or an index outside 0..shape[axis]-1.
func (t *Tensor) Take(axis int, idx []int) (*Tensor, error) {
	if axis < 0 || axis >= len(t.shape) {
		return nil, fmt.Errorf("axis %d is outside tensor %v", axis, t)
	}
	n := int(t.shape[axis])
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("index %d along axis %d is outside tensor %v", i, axis, t)
		}
	}
	outer, inner := 1, 1
	for _, d := range t.shape[:axis] {
		outer *= int(d)
	}
	for _, d := range t.shape[axis+1:] {
		inner *= int(d)
	}
	shape := slices.Clone(t.shape)
	shape[axis] = int64(len(idx))
	switch v := t.data.(type) {
	case []float32:
		return &Tensor{dtype: t.dtype, shape: shape, data: takeAlong(v, outer, n, inner, idx)}, nil
	case []int64:
		return &Tensor{dtype: t.dtype, shape: shape, data: takeAlong(v, outer, n, inner, idx)}, nil
	}
	out, err := Zeros(t.dtype, shape)
	if err != nil {
		return nil, err
	}
	src, dst := reflect.ValueOf(t.data), reflect.ValueOf(out.data)
	for o := range outer {
		for j, i := range idx {
			at, from := (o*len(idx)+j)*inner, (o*n+i)*inner
			reflect.Copy(dst.Slice(at, at+inner), src.Slice(from, from+inner))
		}
	}
	return out, nil
}

func takeAlong[T any](src []T, outer, n, inner int, idx []int) []T {
	dst := make([]T, 0, outer*len(idx)*inner)
	for o := range outer {
		for _, i := range idx {
			from := (o*n + i) * inner
			dst = append(dst, src[from:from+inner]...)
		}
	}
	return dst
}

// Concat joins tensors along the first axis into a new tensor. It returns
// an error when there are none, when one is nil or a scalar, or when their
// dtypes or dimensions after the first differ.
func Concat(ts ...*Tensor) (*Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("concat: no tensors")
	}
	rows := int64(0)
	for i, t := range ts {
		if t == nil {
			return nil, fmt.Errorf("concat: tensor %d is nil", i)
		}
		if len(t.shape) == 0 {
			return nil, fmt.Errorf("concat: tensor %d is a scalar", i)
		}
		if t.dtype != ts[0].dtype || !slices.Equal(t.shape[1:], ts[0].shape[1:]) {
			return nil, fmt.Errorf("concat: tensor %d is %v, tensor 0 is %v", i, t, ts[0])
		}
		rows += t.shape[0]
	}
	shape := append([]int64{rows}, ts[0].shape[1:]...)
	out, err := Zeros(ts[0].dtype, shape)
	if err != nil {
		return nil, fmt.Errorf("concat: %w", err)
	}
	dst := reflect.ValueOf(out.data)
	at := 0
	for _, t := range ts {
		at += reflect.Copy(dst.Slice(at, dst.Len()), reflect.ValueOf(t.data))
	}
	return out, nil
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	v := reflect.ValueOf(t.data)
	data := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
	reflect.Copy(data, v)
	return &Tensor{dtype: t.dtype, shape: append([]int64{}, t.shape...), data: data.Interface()}
}

// MoveFirstAxis returns a new tensor with t's first axis moved to
// position to, the other axes keeping their order: [n, a, b] with to 2
// becomes [a, b, n]. Samples read row by row become the batch axis of an
// input batched elsewhere (a state [layers, N, hidden]). It returns an
// error for a scalar or a position outside t's rank.
func MoveFirstAxis(t *Tensor, to int) (*Tensor, error) {
	if len(t.shape) == 0 {
		return nil, fmt.Errorf("scalar %s tensor has no axis to move", t.dtype)
	}
	if to < 0 || to >= len(t.shape) {
		return nil, fmt.Errorf("axis position %d is outside tensor %v", to, t)
	}
	shape := make([]int64, 0, len(t.shape))
	shape = append(shape, t.shape[1:to+1]...)
	shape = append(shape, t.shape[0])
	shape = append(shape, t.shape[to+1:]...)
	// [n, (axes 1..to), rest] → [(axes 1..to), n, rest]
	return swapLeading(t, 1, to+1, shape)
}

// MoveAxisFirst is the inverse of MoveFirstAxis: it returns a new tensor
// with axis from moved to the front, the other axes keeping their order.
func MoveAxisFirst(t *Tensor, from int) (*Tensor, error) {
	if from < 0 || from >= len(t.shape) {
		return nil, fmt.Errorf("axis %d is outside tensor %v", from, t)
	}
	shape := make([]int64, 0, len(t.shape))
	shape = append(shape, t.shape[from])
	shape = append(shape, t.shape[:from]...)
	shape = append(shape, t.shape[from+1:]...)
	// [(axes 0..from-1), n, rest] → [n, (axes 0..from-1), rest]
	return swapLeading(t, from, from+1, shape)
}

// swapLeading views t as [a, b, inner], where a is the product of the
// dimensions before axis i, b of those from i up to j, and returns a copy
// laid out as [b, a, inner] with the given shape.
func swapLeading(t *Tensor, i, j int, shape []int64) (*Tensor, error) {
	a, b, inner := 1, 1, 1
	for _, d := range t.shape[:i] {
		a *= int(d)
	}
	for _, d := range t.shape[i:j] {
		b *= int(d)
	}
	for _, d := range t.shape[j:] {
		inner *= int(d)
	}
	out, err := Zeros(t.dtype, shape)
	if err != nil {
		return nil, err
	}
	src, dst := reflect.ValueOf(t.data), reflect.ValueOf(out.data)
	for x := range a {
		for y := range b {
			from, at := (x*b+y)*inner, (y*a+x)*inner
			reflect.Copy(dst.Slice(at, at+inner), src.Slice(from, from+inner))
		}
	}
	return out, nil
}
