package ort

import (
	"fmt"
	"slices"

	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// This file edits a model's graph so that ONNX Runtime, driven through
// onnxruntime_go, can run it and return what Run promises: extra outputs
// exposed, scalar inputs and outputs given an axis, half-precision
// outputs read as float32, a dummy input where there is none. Run undoes
// the output edits (outputAdapter).

// needsEdit reports whether the graph must change before onnxruntime_go
// can run it: extra outputs, no inputs or scalar ones, or outputs it
// cannot return as they are.
func (s *Session) needsEdit(g *onnxpb.GraphProto, extra []string) bool {
	return len(extra) > 0 || len(s.inputs) == 0 || slices.ContainsFunc(s.inputs, isScalar) || slices.ContainsFunc(g.Output, needsAdapter)
}

// adapt returns a copy of m that exposes the extra outputs and that
// onnxruntime_go can run (see adaptOutputs and adaptInputs), with the
// adapters Run undoes the output edits with.
func (s *Session) adapt(m *onnxpb.ModelProto, extra []string) (*onnxpb.ModelProto, map[string]outputAdapter, error) {
	m = editableCopy(m)
	if err := addExtraOutputs(m.Graph, extra); err != nil {
		return nil, nil, err
	}
	if err := typeHalfExtras(m); err != nil {
		return nil, nil, err
	}
	adapters := adaptOutputs(m)
	s.dummyInput = adaptInputs(m, s.inputs)
	return m, adapters, nil
}

// editableCopy returns a copy of m that the adapters may edit without
// touching m: the graph's node, initializer and value_info lists are new
// slices and its inputs and outputs are deep copies, but nodes and
// initializers are shared. A deep copy would hold the weights twice (a
// 512 MiB model's session cost one more 512 MiB).
func editableCopy(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	c := graph.ShallowCopy(m)
	g := graph.ShallowCopy(m.GetGraph())
	g.Node = slices.Clone(g.Node)
	g.Initializer = slices.Clone(g.Initializer)
	g.ValueInfo = slices.Clone(g.ValueInfo)
	g.Input = cloneAll(g.Input)
	g.Output = cloneAll(g.Output)
	c.Graph = g
	return c
}

func cloneAll(vs []*onnxpb.ValueInfoProto) []*onnxpb.ValueInfoProto {
	out := make([]*onnxpb.ValueInfoProto, len(vs))
	for i, v := range vs {
		out[i] = proto.Clone(v).(*onnxpb.ValueInfoProto)
	}
	return out
}

// addExtraOutputs exposes intermediate values as graph outputs; ONNX
// Runtime infers their types.
func addExtraOutputs(g *onnxpb.GraphProto, names []string) error {
	produced := map[string]bool{}
	for _, n := range g.Node {
		for _, o := range n.Output {
			produced[o] = true
		}
	}
	for _, in := range g.Input {
		produced[in.GetName()] = true
	}
	for _, t := range g.Initializer {
		produced[t.GetName()] = true
	}
	isOut := map[string]bool{}
	for _, o := range g.Output {
		isOut[o.GetName()] = true
	}
	types := map[string]*onnxpb.ValueInfoProto{}
	for _, vi := range g.ValueInfo {
		types[vi.GetName()] = vi
	}
	for _, name := range names {
		if !produced[name] {
			return fmt.Errorf("extra output %q is not a value of the main graph", name)
		}
		if isOut[name] {
			continue
		}
		isOut[name] = true
		if vi, ok := types[name]; ok {
			g.Output = append(g.Output, proto.Clone(vi).(*onnxpb.ValueInfoProto))
		} else {
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: name})
		}
	}
	return nil
}

// typeHalfExtras gives untyped graph outputs (extra outputs without
// value_info) their element type when the model may hold float16 or
// bfloat16 values, so adaptOutputs can read them as float32. It asks ONNX
// Runtime, which costs one more session creation, so only then.
func typeHalfExtras(m *onnxpb.ModelProto) error {
	untyped := map[string]*onnxpb.ValueInfoProto{}
	for _, o := range m.Graph.Output {
		if o.GetType().GetTensorType().GetElemType() == 0 {
			untyped[o.GetName()] = o
		}
	}
	if len(untyped) == 0 || !mentionsHalf(m.Graph) {
		return nil
	}
	outs, err := outputInfo(m)
	if err != nil {
		return err
	}
	for _, info := range outs {
		o, ok := untyped[info.Name]
		if !ok || info.OrtValueType != ortgo.ONNXTypeTensor {
			continue
		}
		o.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(info.DataType)}}}
	}
	return nil
}

// outputInfo asks ONNX Runtime for m's outputs, through a scratch file
// with external data for large models as sessions do (newSession).
func outputInfo(m *onnxpb.ModelProto) ([]ortgo.InputOutputInfo, error) {
	var outs []ortgo.InputOutputInfo
	var err error
	if weightBytes(m) >= spillBytes {
		path, remove, serr := spill(m)
		if serr != nil {
			return nil, serr
		}
		defer remove()
		_, outs, err = ortgo.GetInputOutputInfo(path)
	} else {
		raw, merr := proto.Marshal(m)
		if merr != nil {
			return nil, fmt.Errorf("serialize model: %w", merr)
		}
		_, outs, err = ortgo.GetInputOutputInfoWithONNXData(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %s", oneLine(err.Error()))
	}
	return outs, nil
}

// mentionsHalf reports whether a graph (or its subgraphs) declares,
// stores or casts to float16/bfloat16, or uses a contrib-domain operator.
func mentionsHalf(g *onnxpb.GraphProto) bool {
	half := func(t int32) bool { return isHalf(tensor.DType(t)) }
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, v := range vs {
			if half(v.GetType().GetTensorType().GetElemType()) {
				return true
			}
		}
	}
	for _, t := range g.Initializer {
		if half(t.GetDataType()) {
			return true
		}
	}
	for _, n := range g.Node {
		if !graph.IsDefaultDomain(n.GetDomain()) {
			return true
		}
		for _, a := range n.Attribute {
			if (n.GetOpType() == "Cast" && a.GetName() == "to" && half(int32(a.GetI()))) || (a.GetT() != nil && half(a.GetT().GetDataType())) {
				return true
			}
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sg != nil && mentionsHalf(sg) {
					return true
				}
			}
		}
	}
	return false
}

const (
	scalarInputSuffix = "__infer_1d"
	dummyInputName    = "__infer_unused_input"
)

func isScalar(in ValueInfo) bool { return in.Shape != nil && len(in.Shape) == 0 }

// adaptInputs works around two onnxruntime_go limits: it cannot create
// rank-0 tensors, so each scalar input is fed as shape [1] and reshaped to a
// scalar in the graph; and it cannot run a session without inputs, so a
// model without any gets an unused one. It reports whether it added that.
func adaptInputs(m *onnxpb.ModelProto, inputs []ValueInfo) bool {
	g := m.Graph
	var pre []*onnxpb.NodeProto
	for _, in := range inputs {
		if !isScalar(in) {
			continue
		}
		for _, gi := range g.Input {
			if gi.GetName() != in.Name {
				continue
			}
			gi.Name = in.Name + scalarInputSuffix
			for i, t := range g.Initializer { // its default value, fed as [1] too
				if t.GetName() == in.Name {
					t = proto.Clone(t).(*onnxpb.TensorProto) // shared with the caller's model
					t.Name, t.Dims = gi.Name, []int64{1}
					g.Initializer[i] = t
				}
			}
			gi.Type.GetTensorType().Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}
			shape := in.Name + "__infer_scalar_shape"
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: shape, DataType: int32(tensor.Int64), Dims: []int64{0}})
			pre = append(pre, &onnxpb.NodeProto{OpType: "Reshape", Name: in.Name + "__infer_scalar", Input: []string{gi.Name, shape}, Output: []string{in.Name}})
		}
	}
	g.Node = append(pre, g.Node...)
	if len(inputs) > 0 {
		return false
	}
	g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: dummyInputName, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: int32(tensor.Float32), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}}}}})
	return true
}

// outputAdapter undoes what adaptOutputs added after an output.
type outputAdapter struct {
	public  ValueInfo // the output as the model declares it
	cast    bool      // read as float32, narrow back to public.DType
	squeeze bool      // read with a leading axis of 1, drop it
}

func (a outputAdapter) undo(t *tensor.Tensor) (*tensor.Tensor, error) {
	var err error
	if a.squeeze {
		if t, err = t.Reshape(t.Shape()[1:]); err != nil {
			return nil, err
		}
	}
	if a.cast {
		return tensor.Cast(t, a.public.DType)
	}
	return t, nil
}

// needsAdapter reports whether onnxruntime_go cannot return the output as
// it is: float16/bfloat16 outputs it auto-allocates are copied with the
// wrong byte count, and scalars (or outputs of unknown rank, which may be
// scalars) are refused ("the shape has no dimensions").
func needsAdapter(o *onnxpb.ValueInfoProto) bool {
	tt := o.GetType().GetTensorType()
	return isHalf(elemType(o)) || tt == nil || tt.GetShape() == nil || len(tt.GetShape().GetDim()) == 0
}

// adaptOutputs appends, after each output that needs it, a Cast to float32
// (exact for half types) and an Unsqueeze adding a leading axis, and
// renames the graph output to the adapted value. Run undoes both.
func adaptOutputs(m *onnxpb.ModelProto) map[string]outputAdapter {
	g := m.Graph
	opset := graph.DefaultOpset(m)
	adapters := map[string]outputAdapter{}
	for i, o := range g.Output {
		if !needsAdapter(o) || (o.GetType() != nil && o.GetType().GetTensorType() == nil) {
			continue
		}
		a := outputAdapter{public: valueInfo(o)}
		name := o.GetName()
		cur := name
		if isHalf(elemType(o)) {
			a.cast = true
			next := name + "__infer_as_float32"
			g.Node = append(g.Node, &onnxpb.NodeProto{
				OpType: "Cast", Name: next, Input: []string{cur}, Output: []string{next},
				Attribute: []*onnxpb.AttributeProto{{Name: "to", Type: onnxpb.AttributeProto_INT, I: int64(tensor.Float32)}},
			})
			cur = next
		}
		tt := o.GetType().GetTensorType()
		if tt == nil || tt.GetShape() == nil || len(tt.GetShape().GetDim()) == 0 {
			a.squeeze = true
			next := name + "__infer_unsqueezed"
			n := &onnxpb.NodeProto{OpType: "Unsqueeze", Name: next, Input: []string{cur}, Output: []string{next}}
			if opset >= 13 {
				axes := next + "_axes"
				g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: axes, DataType: int32(tensor.Int64), Dims: []int64{1}, Int64Data: []int64{0}})
				n.Input = append(n.Input, axes)
			} else {
				n.Attribute = []*onnxpb.AttributeProto{{Name: "axes", Type: onnxpb.AttributeProto_INTS, Ints: []int64{0}}}
			}
			g.Node = append(g.Node, n)
			cur = next
		}
		out := &onnxpb.ValueInfoProto{Name: cur}
		if a.cast {
			out.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32)}}}
		}
		g.Output[i] = out
		adapters[cur] = a
	}
	return adapters
}
