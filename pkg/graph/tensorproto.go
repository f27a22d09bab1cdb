package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The helpers here build and read the few small tensors the rewrites need
// (axes, pads, scalars, sparse constants). Tensors are written to
// raw_data, little-endian, as exporters do.

func int64Tensor(name string, dims []int64, vals []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_INT64), Dims: dims, RawData: raw}
}

func int64Vector(name string, vals []int64) *onnxpb.TensorProto {
	return int64Tensor(name, []int64{int64(len(vals))}, vals)
}

func float32Tensor(name string, dims []int64, vals []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_FLOAT), Dims: dims, RawData: raw}
}

// floatScalarOf returns a 0-D tensor of the given floating-point element
// type holding v.
func floatScalarOf(name string, dtype int32, v float64) (*onnxpb.TensorProto, error) {
	t := &onnxpb.TensorProto{Name: name, DataType: dtype, Dims: []int64{}}
	switch onnxpb.TensorProto_DataType(dtype) {
	case onnxpb.TensorProto_FLOAT:
		t.RawData = binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(v)))
	case onnxpb.TensorProto_DOUBLE:
		t.RawData = binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))
	case onnxpb.TensorProto_FLOAT16:
		t.RawData = binary.LittleEndian.AppendUint16(nil, float16.Fromfloat32(float32(v)).Bits())
	case onnxpb.TensorProto_BFLOAT16:
		b := math.Float32bits(float32(v))
		b += 0x7fff + (b>>16)&1 // round to nearest even
		t.RawData = binary.LittleEndian.AppendUint16(nil, uint16(b>>16))
	default:
		return nil, fmt.Errorf("cannot make a %s scalar from a float", dtypeName(dtype))
	}
	return t, nil
}

func dtypeName(d int32) string {
	if s, ok := onnxpb.TensorProto_DataType_name[d]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", d)
}

// elemSize is the byte size of one element in raw_data, 0 for strings and
// for types not stored one element per whole number of bytes.
func elemSize(d int32) int {
	if b := tensor.DType(d).Bits(); b%8 == 0 {
		return b / 8
	}
	return 0
}

// numElements is the product of dims; it fails on a negative dimension or
// overflow.
func numElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("dimensions %v overflow", dims)
		}
		n *= d
	}
	return n, nil
}

// rawBytes returns a fixed-size tensor's elements as little-endian bytes,
// reading raw_data or the typed field the type uses (pkg/tensor decodes).
func rawBytes(t *onnxpb.TensorProto) ([]byte, error) {
	if elemSize(t.GetDataType()) == 0 {
		return nil, fmt.Errorf("tensor %q: %s elements are not byte-sized", t.GetName(), dtypeName(t.GetDataType()))
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: data is in an external file (load the model with pkg/onnx first)", t.GetName())
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		// Already the wire form: check its length without copying (large
		// models are validated on every load).
		want, err := numElements(t.GetDims())
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		if want *= int64(elemSize(t.GetDataType())); int64(len(raw)) != want {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, want %d", t.GetName(), len(raw), want)
		}
		return raw, nil
	}
	tt, err := tensor.FromProto(t)
	if err != nil {
		return nil, err
	}
	return tensor.Bytes(tt)
}

// int64Values reads an INT64 or INT32 tensor.
func int64Values(t *onnxpb.TensorProto) ([]int64, error) {
	switch tensor.DType(t.GetDataType()) {
	case tensor.Int64, tensor.Int32:
	default:
		return nil, fmt.Errorf("tensor %q: is %s, want INT64 or INT32", t.GetName(), dtypeName(t.GetDataType()))
	}
	tt, err := tensor.FromProto(t)
	if err != nil {
		return nil, err
	}
	if tt.DType() == tensor.Int64 {
		return tensor.Values[int64](tt), nil
	}
	v := tensor.Values[int32](tt)
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out, nil
}

// floatValues reads a FLOAT, DOUBLE or FLOAT16 tensor.
func floatValues(t *onnxpb.TensorProto) ([]float64, error) {
	switch tensor.DType(t.GetDataType()) {
	case tensor.Float32, tensor.Float64, tensor.Float16:
	default:
		return nil, fmt.Errorf("tensor %q: is %s, want a float type", t.GetName(), dtypeName(t.GetDataType()))
	}
	tt, err := tensor.FromProto(t)
	if err != nil {
		return nil, err
	}
	return tensor.AsFloat64(tt)
}

// densify turns a sparse tensor into a dense one called name. Indices are
// either linear ([NNZ]) or coordinates ([NNZ, rank]), as ONNX allows.
func densify(st *onnxpb.SparseTensorProto, name string) (*onnxpb.TensorProto, error) {
	vals, idx := st.GetValues(), st.GetIndices()
	if vals == nil || idx == nil {
		return nil, fmt.Errorf("sparse tensor %q: values or indices missing", name)
	}
	dims := st.GetDims()
	total, err := numElements(dims)
	if err != nil {
		return nil, fmt.Errorf("sparse tensor %q: %w", name, err)
	}
	// A few bytes of sparse tensor can describe a huge dense one: refuse
	// more than ONNX can hold in a tensor that is not external (2 GiB).
	const maxDenseBytes = 1 << 31
	if total > maxDenseBytes/16 || total*int64(max(elemSize(st.GetValues().GetDataType()), 1)) > maxDenseBytes {
		return nil, fmt.Errorf("sparse tensor %q: dense form of shape %v would exceed %d bytes", name, dims, int64(maxDenseBytes))
	}
	nnz, err := numElements(vals.GetDims())
	if err != nil || len(vals.GetDims()) != 1 {
		return nil, fmt.Errorf("sparse tensor %q: values must be 1-D, have shape %v", name, vals.GetDims())
	}
	ind, err := int64Values(idx)
	if err != nil {
		return nil, fmt.Errorf("sparse tensor %q indices: %w", name, err)
	}
	linear := make([]int64, nnz)
	switch id := idx.GetDims(); {
	case len(id) == 1 && id[0] == nnz:
		copy(linear, ind)
	case len(id) == 2 && id[0] == nnz && id[1] == int64(len(dims)):
		rank := len(dims)
		for k := range linear {
			var off int64
			for r := 0; r < rank; r++ {
				c := ind[k*rank+r]
				if c < 0 || c >= dims[r] {
					return nil, fmt.Errorf("sparse tensor %q: index %d out of range for dimension %d of %v", name, c, r, dims)
				}
				off = off*dims[r] + c
			}
			linear[k] = off
		}
	default:
		return nil, fmt.Errorf("sparse tensor %q: indices shape %v fits neither [%d] nor [%d, %d]", name, id, nnz, nnz, len(dims))
	}
	for _, off := range linear {
		if off < 0 || off >= total {
			return nil, fmt.Errorf("sparse tensor %q: linear index %d out of range [0, %d)", name, off, total)
		}
	}
	out := &onnxpb.TensorProto{Name: name, DataType: vals.GetDataType(), Dims: append([]int64{}, dims...)}
	if vals.GetDataType() == int32(onnxpb.TensorProto_STRING) {
		if int64(len(vals.GetStringData())) != nnz {
			return nil, fmt.Errorf("sparse tensor %q: %d strings for %d values", name, len(vals.GetStringData()), nnz)
		}
		out.StringData = make([][]byte, total)
		for i := range out.StringData {
			out.StringData[i] = []byte{}
		}
		for k, off := range linear {
			out.StringData[off] = append([]byte{}, vals.GetStringData()[k]...)
		}
		return out, nil
	}
	raw, err := rawBytes(vals)
	if err != nil {
		return nil, fmt.Errorf("sparse tensor %q values: %w", name, err)
	}
	size := int64(elemSize(vals.GetDataType()))
	dense := make([]byte, total*size)
	for k, off := range linear {
		copy(dense[off*size:(off+1)*size], raw[int64(k)*size:])
	}
	out.RawData = dense
	return out, nil
}
