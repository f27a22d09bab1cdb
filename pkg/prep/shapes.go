package prep

import (
	"errors"
	"maps"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
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
func inferShapes(m *onnxpb.ModelProto, res *Result, opts Options) error {
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
	shapes := opts.Shapes
	if shapes == nil {
		var err error
		if shapes, err = probe.Find(m, opts.Probe); err != nil {
			// Conversions that need no shapes go on; what needs them
			// says so where it looks for one.
			res.note("intermediate shapes not recorded: %v", err)
			return nil
		}
	}
	for _, n := range shapes.Notes {
		res.note("shape runs: %s", n)
	}
	// Exposed in groups, so that a model with huge activations is not
	// held whole (ort.ExposeChunks).
	first, second := map[string]seen{}, map[string]seen{}
	var err, err2 error
	for _, chunk := range ort.ExposeChunks(m, want, ort.ExposeBudget) {
		f, s2, e1, e2 := shapeRuns(m, chunk, shapes, opts.Probe)
		if f == nil {
			res.note("intermediate shapes not recorded: %v", e1)
			return nil
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
		res.note("a run at the second shape failed (%v): shapes recorded with every dimension unknown", err2)
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
		if res.ObservedShapes == nil {
			res.ObservedShapes = map[string][]int64{}
		}
		res.ObservedShapes[name] = t.shape
		if completeType(vi, t.dtype, t.shape, other) {
			res.RecordedShapes = append(res.RecordedShapes, name)
		}
		added++
	}
	res.ValueInfoAdded = added
	if added > 0 {
		res.note("recorded type and shape of %d intermediate %s from ONNX Runtime runs at %s and %s", added, plural(added, "value", "values"),
			probe.Describe(dataset.SpecsFromGraph(g), shapes.A), probe.Describe(dataset.SpecsFromGraph(g), shapes.B))
	}
	if skipped := len(want) - added; skipped > 0 {
		res.note("%d intermediate %s got no type: %v", skipped, plural(skipped, "value", "values"), err)
	}
	return nil
}

// shapeRuns runs m with extra exposed at shapes A and B. first is nil
// when the run at A failed (e1); second is nil when the run at B failed
// (e2) or B is A for want of a second shape (all dimensions then count as
// unknown, unless the model fixes every one).
func shapeRuns(m *onnxpb.ModelProto, extra []string, shapes *probe.Shapes, po probe.Options) (first, second map[string]seen, e1, e2 error) {
	so := po.Session
	so.ExtraOutputs, so.OptLevel = extra, ort.OptDisable
	s, err := ort.NewSessionFromModel(m, so)
	if err != nil {
		return nil, nil, err, nil
	}
	defer s.Close()
	specs := dataset.SpecsFromGraph(m.GetGraph())
	// Outputs ONNX Runtime returned as something other than a tensor are
	// left out (e1 says which) rather than failing the pass.
	if first, e1 = runAt(s, specs, shapes.A, po); first == nil {
		return nil, nil, e1, nil
	}
	switch {
	case !shapes.Same:
		second, e2 = runAt(s, specs, shapes.B, po)
	case !dataset.Dynamic(specs):
		second = first
	}
	return first, second, e1, e2
}

// runAt runs s on random inputs at the given shapes and keeps only the
// outputs' types, so the activations can go. Like Session.Run it may
// return outputs together with an error about others.
func runAt(s *ort.Session, specs []dataset.InputSpec, shapes map[string][]int64, po probe.Options) (map[string]seen, error) {
	feeds, err := probe.Feeds(specs, shapes, po.Values, po.Seed)
	if err != nil {
		return nil, err
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
	if d := n.GetDomain(); !graph.IsDefaultDomain(d) {
		op = d + "." + op
	}
	if nonTensorOps[op] {
		return false
	}
	for _, a := range n.GetAttribute() {
		if a.GetG() == nil && len(a.GetGraphs()) == 0 {
			continue
		}
		if !graph.IsDefaultDomain(n.GetDomain()) {
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

// completeType fills in vi's element type and, when it has none, its
// shape, and reports whether it set the shape. shape is from the run at A
// and other from the run at B (nil when it failed or did not return the
// value): a dimension is a dim_value where both agree and unknown
// otherwise; a rank that differs between the runs leaves the shape out.
func completeType(vi *onnxpb.ValueInfoProto, dt tensor.DType, shape, other []int64) bool {
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
		return false
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
	return true
}

// DropRecordedShapes removes from g's value_info the shapes the
// infer-shapes pass recorded (Result.RecordedShapes), keeping their
// element types. Recorded shapes come from runs at two sizes and may fix a
// dimension the source leaves dynamic, which breaks the model at other
// sizes in ONNX Runtime ("Shape mismatch attempting to re-use buffer"); an
// emitted model declares only what its source declared. It returns how
// many shapes it removed.
func DropRecordedShapes(g *onnxpb.GraphProto, recorded []string) int {
	if len(recorded) == 0 {
		return 0
	}
	drop := make(map[string]bool, len(recorded))
	for _, n := range recorded {
		drop[n] = true
	}
	n := 0
	for _, vi := range g.GetValueInfo() {
		if tt := vi.GetType().GetTensorType(); tt != nil && tt.Shape != nil && drop[vi.GetName()] {
			tt.Shape = nil
			n++
		}
	}
	return n
}
