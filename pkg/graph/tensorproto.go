package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
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
	switch onnxpb.TensorProto_DataType(d) {
	case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT8, onnxpb.TensorProto_BOOL,
		onnxpb.TensorProto_FLOAT8E4M3FN, onnxpb.TensorProto_FLOAT8E4M3FNUZ,
		onnxpb.TensorProto_FLOAT8E5M2, onnxpb.TensorProto_FLOAT8E5M2FNUZ, onnxpb.TensorProto_FLOAT8E8M0:
		return 1
	case onnxpb.TensorProto_UINT16, onnxpb.TensorProto_INT16, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return 2
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT32, onnxpb.TensorProto_UINT32:
		return 4
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_INT64, onnxpb.TensorProto_UINT64, onnxpb.TensorProto_COMPLEX64:
		return 8
	case onnxpb.TensorProto_COMPLEX128:
		return 16
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
// reading raw_data or the typed field the type uses.
func rawBytes(t *onnxpb.TensorProto) ([]byte, error) {
	d := t.GetDataType()
	size := elemSize(d)
	if size == 0 {
		return nil, fmt.Errorf("tensor %q: %s elements are not byte-sized", t.GetName(), dtypeName(d))
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: data is in an external file (load the model with pkg/onnx first)", t.GetName())
	}
	n, err := numElements(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if len(t.GetRawData()) > 0 || n == 0 {
		if int64(len(t.GetRawData())) != n*int64(size) {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, want %d for %d %s elements", t.GetName(), len(t.GetRawData()), n*int64(size), n, dtypeName(d))
		}
		return t.GetRawData(), nil
	}
	out := make([]byte, 0, n*int64(size))
	var have int
	switch onnxpb.TensorProto_DataType(d) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_COMPLEX64:
		for _, v := range t.GetFloatData() {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
		have = len(t.GetFloatData()) * 4
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_COMPLEX128:
		for _, v := range t.GetDoubleData() {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		}
		have = len(t.GetDoubleData()) * 8
	case onnxpb.TensorProto_INT64:
		for _, v := range t.GetInt64Data() {
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
		have = len(t.GetInt64Data()) * 8
	case onnxpb.TensorProto_UINT64:
		for _, v := range t.GetUint64Data() {
			out = binary.LittleEndian.AppendUint64(out, v)
		}
		have = len(t.GetUint64Data()) * 8
	case onnxpb.TensorProto_UINT32:
		for _, v := range t.GetUint64Data() {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
		have = len(t.GetUint64Data()) * 4
	default: // types stored in int32_data
		for _, v := range t.GetInt32Data() {
			switch size {
			case 1:
				out = append(out, byte(v))
			case 2:
				out = binary.LittleEndian.AppendUint16(out, uint16(v))
			case 4:
				out = binary.LittleEndian.AppendUint32(out, uint32(v))
			}
		}
		have = len(t.GetInt32Data()) * size
	}
	if int64(have) != n*int64(size) {
		return nil, fmt.Errorf("tensor %q: has %d bytes of %s data, want %d for shape %v", t.GetName(), have, dtypeName(d), n*int64(size), t.GetDims())
	}
	return out, nil
}

// int64Values reads an INT64 or INT32 tensor.
func int64Values(t *onnxpb.TensorProto) ([]int64, error) {
	raw, err := rawBytes(t)
	if err != nil {
		return nil, err
	}
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_INT64:
		out := make([]int64, len(raw)/8)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	case onnxpb.TensorProto_INT32:
		out := make([]int64, len(raw)/4)
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: is %s, want INT64 or INT32", t.GetName(), dtypeName(t.GetDataType()))
}

// floatValues reads a FLOAT, DOUBLE or FLOAT16 tensor.
func floatValues(t *onnxpb.TensorProto) ([]float64, error) {
	raw, err := rawBytes(t)
	if err != nil {
		return nil, err
	}
	switch onnxpb.TensorProto_DataType(t.GetDataType()) {
	case onnxpb.TensorProto_FLOAT:
		out := make([]float64, len(raw)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		return out, nil
	case onnxpb.TensorProto_DOUBLE:
		out := make([]float64, len(raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	case onnxpb.TensorProto_FLOAT16:
		out := make([]float64, len(raw)/2)
		for i := range out {
			out[i] = float64(float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32())
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: is %s, want a float type", t.GetName(), dtypeName(t.GetDataType()))
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
