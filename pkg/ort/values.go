package ort

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// This file describes a model's inputs and outputs (ValueInfo) and
// converts tensors to and from ONNX Runtime values.

// ValueInfo describes a model input or output.
type ValueInfo struct {
	Name      string
	DType     tensor.DType
	Shape     []int64  // -1 for a dynamic dimension
	DimParams []string // symbolic name per dimension, "" if none
}

// graphInputs returns the graph inputs that are not initializers and, in
// graph order among them, those with a default value (an initializer of
// the same name) that fed names. A name in fed that is neither is an
// error.
func graphInputs(g *onnxpb.GraphProto, fed []string) ([]ValueInfo, error) {
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.GetName()] = true
	}
	for _, t := range g.SparseInitializer {
		inits[t.GetValues().GetName()] = true
	}
	for _, name := range fed {
		if !inits[name] || !slices.ContainsFunc(g.Input, func(in *onnxpb.ValueInfoProto) bool { return in.GetName() == name }) {
			return nil, fmt.Errorf("%q is not an input of the model", name)
		}
	}
	var out []ValueInfo
	for _, in := range g.Input {
		if !inits[in.GetName()] || slices.Contains(fed, in.GetName()) {
			out = append(out, valueInfo(in))
		}
	}
	return out, nil
}

// defaultedInputs are m's graph inputs with a default value (an
// initializer of the same name); a Run may feed them from IR 4 on.
func defaultedInputs(m *onnxpb.ModelProto) map[string]bool {
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, t := range g.GetSparseInitializer() {
		inits[t.GetValues().GetName()] = true
	}
	out := map[string]bool{}
	for _, in := range g.GetInput() {
		if inits[in.GetName()] {
			out[in.GetName()] = true
		}
	}
	return out
}

// weightFedError refuses feeding name, an initializer listed among the
// inputs of a model before IR 4 (a weight, not a default value).
func weightFedError(name string, ir int64) error {
	return fmt.Errorf("%q is a weight of this IR %d model, not an input that can be fed (initializers are default values only from IR 4)", name, ir)
}

func valueInfo(v *onnxpb.ValueInfoProto) ValueInfo {
	vi := ValueInfo{Name: v.GetName(), DType: elemType(v)}
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.Shape == nil {
		return vi
	}
	vi.Shape, vi.DimParams = []int64{}, []string{}
	for _, d := range tt.Shape.Dim {
		if dv, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			vi.Shape = append(vi.Shape, dv.DimValue)
			vi.DimParams = append(vi.DimParams, "")
		} else {
			vi.Shape = append(vi.Shape, -1)
			vi.DimParams = append(vi.DimParams, d.GetDimParam())
		}
	}
	return vi
}

func elemType(v *onnxpb.ValueInfoProto) tensor.DType {
	return tensor.DType(v.GetType().GetTensorType().GetElemType())
}

func isHalf(d tensor.DType) bool { return d == tensor.Float16 || d == tensor.BFloat16Type }

func shapeString(vi ValueInfo) string {
	parts := make([]string, len(vi.Shape))
	for i, d := range vi.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i < len(vi.DimParams) && vi.DimParams[i] != "":
			parts[i] = vi.DimParams[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// inputValues checks inputs against the model and converts them; the
// caller destroys the values (also on error).
func (s *Session) inputValues(inputs map[string]*tensor.Tensor) ([]ortgo.Value, error) {
	vals := make([]ortgo.Value, len(s.inputs), len(s.inputs)+1)
	for i, in := range s.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return vals, fmt.Errorf("missing model input %q", in.Name)
		}
		if isHalf(in.DType) && t.DType() == tensor.Float32 {
			// Data is float32; a half-precision model (fp16 without kept IO
			// types) takes it rounded to nearest, as a caller would.
			ht, err := tensor.Cast(t, in.DType)
			if err != nil {
				return vals, fmt.Errorf("input %q: %w", in.Name, err)
			}
			t = ht
		}
		if in.DType != tensor.Undefined && t.DType() != in.DType {
			return vals, fmt.Errorf("input %q is %s, the model expects %s", in.Name, t.DType(), in.DType)
		}
		if in.Shape != nil && len(t.Shape()) != len(in.Shape) {
			return vals, fmt.Errorf("input %q has shape %v, the model expects rank %d (%s)", in.Name, t.Shape(), len(in.Shape), shapeString(in))
		}
		for d, want := range in.Shape {
			if want >= 0 && t.Shape()[d] != want {
				return vals, fmt.Errorf("input %q has shape %v, the model expects %s", in.Name, t.Shape(), shapeString(in))
			}
		}
		if isScalar(in) {
			t, _ = t.Reshape([]int64{1})
		}
		v, err := toValue(t)
		if err != nil {
			return vals, fmt.Errorf("input %q: %w", in.Name, err)
		}
		vals[i] = v
	}
	if s.dummyInput {
		v, err := ortgo.NewTensor(ortgo.Shape{1}, []float32{0})
		if err != nil {
			return vals, err
		}
		vals = append(vals, v)
	}
	if len(inputs) != len(s.inputs) {
		for name := range inputs {
			if !s.hasInput(name) {
				return vals, fmt.Errorf("%q is not an input of the model", name)
			}
		}
	}
	return vals, nil
}

func toValue(t *tensor.Tensor) (ortgo.Value, error) {
	shape := ortgo.Shape(append([]int64{}, t.Shape()...))
	switch d := t.Data().(type) {
	case []float32:
		return ortgo.NewTensor(shape, d)
	case []float64:
		return ortgo.NewTensor(shape, d)
	case []int8:
		if t.DType() == tensor.Int8 {
			return ortgo.NewTensor(shape, d)
		}
	case []uint8:
		if t.DType() == tensor.Uint8 {
			return ortgo.NewTensor(shape, d)
		}
	case []int16:
		return ortgo.NewTensor(shape, d)
	case []uint16:
		return ortgo.NewTensor(shape, d)
	case []int32:
		return ortgo.NewTensor(shape, d)
	case []uint32:
		return ortgo.NewTensor(shape, d)
	case []int64:
		return ortgo.NewTensor(shape, d)
	case []uint64:
		return ortgo.NewTensor(shape, d)
	case []bool:
		return ortgo.NewTensor(shape, d)
	case []string:
		st, err := ortgo.NewStringTensor(shape)
		if err != nil {
			return nil, err
		}
		if err := st.SetContents(d); err != nil {
			st.Destroy()
			return nil, err
		}
		return st, nil
	}
	if isHalf(t.DType()) {
		var b []byte
		switch d := t.Data().(type) {
		case []tensor.BFloat16:
			if len(d) > 0 {
				b = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 2*len(d))
			}
		default:
			raw, err := tensor.Bytes(t)
			if err != nil {
				return nil, err
			}
			b = raw
		}
		return ortgo.NewCustomDataTensor(shape, b, ortgo.TensorElementDataType(t.DType()))
	}
	b, err := tensor.Bytes(t)
	if err != nil {
		return nil, err
	}
	return ortgo.NewCustomDataTensor(shape, b, ortgo.TensorElementDataType(t.DType()))
}

func fromValue(v ortgo.Value) (*tensor.Tensor, error) {
	shape := []int64(v.GetShape())
	switch x := v.(type) {
	case *ortgo.Tensor[float32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[float64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int8]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint8]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int16]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint16]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[bool]:
		return tensor.New(shape, x.GetData())
	case *ortgo.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			return nil, err
		}
		return tensor.New(shape, s)
	case *ortgo.CustomDataTensor:
		return tensor.FromBytes(tensor.DType(x.DataType()), shape, x.GetData())
	}
	return nil, fmt.Errorf("ONNX Runtime returned a %T, which infer cannot read (sequence or map outputs are not supported)", v)
}
