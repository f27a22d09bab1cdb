package prep

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// nonTensorOps produce sequences, maps or optionals, which ONNX Runtime
// cannot return as tensors; asking for them as outputs breaks the session.
var nonTensorOps = map[string]bool{
	"SequenceConstruct": true, "SequenceEmpty": true, "SequenceInsert": true,
	"SequenceErase": true, "SplitToSequence": true, "SequenceMap": true,
	"Optional": true, "OptionalGetElement": true,
	"ai.onnx.ml.ZipMap": true,
}

// inferShapes is the infer-shapes pass; the package documentation
// (Shape completion) describes what it records and how.
func inferShapes(m *onnxpb.ModelProto, res *Result) error {
	g := m.GetGraph()
	declared := make(map[string]*onnxpb.ValueInfoProto)
	for _, vi := range g.GetValueInfo() {
		declared[vi.GetName()] = vi
	}
	isOutput := make(map[string]bool)
	for _, o := range g.GetOutput() {
		isOutput[o.GetName()] = true
	}
	var want []string
	for _, n := range g.GetNode() {
		for k, o := range n.GetOutput() {
			if o == "" || isOutput[o] || complete(declared[o]) || !tensorOutput(n, k) {
				continue
			}
			if vi := declared[o]; vi != nil && vi.GetType() != nil && vi.GetType().GetTensorType() == nil {
				continue // declared as a sequence, map or optional
			}
			want = append(want, o)
		}
	}
	if len(want) == 0 {
		return nil
	}
	// Exposed in groups, so that a model with huge activations is not
	// held whole (ort.ExposeChunks).
	first, second := map[string]seen{}, map[string]seen{}
	var err, err2 error
	for _, chunk := range ort.ExposeChunks(m, want, ort.ExposeBudget) {
		f, s2, e1, e2 := shapeRuns(m, chunk)
		if f == nil {
			return e1
		}
		maps.Copy(first, f)
		maps.Copy(second, s2)
		if err == nil {
			err = e1
		}
		if err2 == nil && s2 == nil {
			err2 = e2
		}
	}
	if err2 != nil {
		res.note("a second run with dynamic dimensions 2 failed (%v): shapes recorded with every dimension unknown", err2)
	}
	added := 0
	for _, name := range want {
		t, ok := first[name]
		if !ok {
			continue
		}
		var other []int64
		if u, ok := second[name]; ok {
			other = u.shape
		}
		vi := declared[name]
		if vi == nil {
			vi = &onnxpb.ValueInfoProto{Name: name}
			g.ValueInfo = append(g.ValueInfo, vi)
		}
		completeType(vi, t.dtype, t.shape, other)
		added++
	}
	res.ValueInfoAdded = added
	if added > 0 {
		res.note("recorded type and shape of %d intermediate %s from an ONNX Runtime run", added, plural(added, "value", "values"))
	}
	if skipped := len(want) - added; skipped > 0 {
		res.note("%d intermediate %s got no type: %v", skipped, plural(skipped, "value", "values"), err)
	}
	return nil
}

// shapeRuns runs m with extra exposed twice: dynamic dimensions 1 (zeros)
// and 2 (random values). first is nil when the first run failed (e1).
func shapeRuns(m *onnxpb.ModelProto, extra []string) (first, second map[string]seen, e1, e2 error) {
	s, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: extra, OptLevel: ort.OptDisable})
	if err != nil {
		return nil, nil, err, nil
	}
	defer s.Close()
	// Outputs ONNX Runtime returned as something other than a tensor are
	// left out (e1 says which) rather than failing the pass.
	if first, e1 = runWith(s, 1, nil); first == nil {
		return nil, nil, e1, nil
	}
	second, e2 = runWith(s, 2, rand.New(rand.NewPCG(1, 2)))
	return first, second, e1, e2
}

// complete reports whether vi gives an element type and a shape.
func complete(vi *onnxpb.ValueInfoProto) bool {
	tt := vi.GetType().GetTensorType()
	return tt.GetElemType() != 0 && tt.GetShape() != nil
}

// tensorOutput reports whether output k of n can be asked for as a
// tensor: not an operator that makes sequences or optionals, and for
// nodes with subgraphs, a position whose body output is declared a tensor.
func tensorOutput(n *onnxpb.NodeProto, k int) bool {
	op := n.GetOpType()
	if d := n.GetDomain(); !defaultDomain(d) {
		op = d + "." + op
	}
	if nonTensorOps[op] {
		return false
	}
	for _, a := range n.GetAttribute() {
		if a.GetG() == nil && len(a.GetGraphs()) == 0 {
			continue
		}
		if !defaultDomain(n.GetDomain()) {
			return false
		}
		pos := k
		switch {
		case op == "Loop" && a.GetName() == "body":
			pos = k + 1 // body outputs start with the condition
		case op == "If" || op == "Scan":
		default:
			return false
		}
		for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
			if sg == nil {
				continue
			}
			if pos >= len(sg.GetOutput()) || sg.GetOutput()[pos].GetType().GetTensorType() == nil {
				return false
			}
		}
	}
	return true
}

// seen is the type of a value in one run.
type seen struct {
	dtype tensor.DType
	shape []int64
}

// runWith runs s on inputs with every dynamic dimension set to dim: zeros,
// or with r uniform floats in [-1, 1) for float32 and float64 inputs. It
// keeps only the outputs' types, so the activations can go. Like
// Session.Run it may return outputs together with an error about others.
func runWith(s *ort.Session, dim int64, r *rand.Rand) (map[string]seen, error) {
	feeds := make(map[string]*tensor.Tensor)
	for _, in := range s.Inputs() {
		if in.DType == tensor.Undefined || in.Shape == nil {
			return nil, fmt.Errorf("input %q has no declared element type and shape", in.Name)
		}
		shape := make([]int64, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = d
			if d < 0 {
				shape[i] = dim
			}
		}
		t, err := tensor.Zeros(in.DType, shape)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		if r != nil {
			switch v := t.Data().(type) {
			case []float32:
				for i := range v {
					v[i] = float32(2*r.Float64() - 1)
				}
			case []float64:
				for i := range v {
					v[i] = 2*r.Float64() - 1
				}
			}
		}
		feeds[in.Name] = t
	}
	out, err := s.Run(feeds)
	if out == nil {
		if err == nil {
			err = errors.New("onnxruntime returned no outputs")
		}
		return nil, err
	}
	types := make(map[string]seen, len(out))
	for name, t := range out {
		types[name] = seen{t.DType(), t.Shape()}
	}
	return types, err
}

// completeType fills in vi's element type and, when it has none, its
// shape. shape is from the first run and other from the second (nil when
// it failed or did not return the value): a dimension is a dim_value where
// both agree and unknown otherwise; a rank that differs between the runs
// leaves the shape out.
func completeType(vi *onnxpb.ValueInfoProto, dt tensor.DType, shape, other []int64) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		tt = &onnxpb.TypeProto_Tensor{}
		if vi.Type == nil {
			vi.Type = &onnxpb.TypeProto{}
		}
		vi.Type.Value = &onnxpb.TypeProto_TensorType{TensorType: tt}
	}
	if tt.ElemType == 0 {
		tt.ElemType = int32(dt)
	}
	if tt.Shape != nil || (other != nil && len(other) != len(shape)) {
		return
	}
	sh := &onnxpb.TensorShapeProto{Dim: make([]*onnxpb.TensorShapeProto_Dimension, 0, len(shape))}
	for i, d := range shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if other != nil && other[i] == d {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	tt.Shape = sh
}
