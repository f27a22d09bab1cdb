package inspect

import (
	"maps"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Shapes runs the model in ONNX Runtime on random inputs with the
// intermediate values the FLOP estimate reads exposed (the inputs and
// outputs of Conv, MatMul, Gemm and the like), and returns their shapes
// and those of the graph inputs and outputs. Dynamic input dimensions
// take their size from dims by symbolic name, else the batch axis 1 and
// the rest a realistic size the model runs at (dataset.ResolveShapes'
// candidates, in order). The caller must have loaded ONNX Runtime
// (ort.Init).
func Shapes(m *onnxpb.ModelProto, dims map[string]int64) (map[string][]int64, error) {
	g := m.GetGraph()
	// Only the values the FLOP estimate reads: the inputs and outputs of
	// the node types it counts. Exposing every value would hold all
	// activations at once.
	produced := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	seen := map[string]bool{}
	var extra []string
	for _, n := range g.GetNode() {
		if _, counted, _ := nodeFLOPs(n, nil); !counted {
			continue
		}
		for _, v := range append(append([]string{}, n.GetInput()...), n.GetOutput()...) {
			if v != "" && produced[v] && !seen[v] {
				seen[v] = true
				extra = append(extra, v)
			}
		}
	}
	shapes := map[string][]int64{}
	// Exposed in groups, so that a model with huge activations is not
	// held whole (ort.ExposeChunks).
	chunks := ort.ExposeChunks(m, extra, ort.ExposeBudget)
	if len(chunks) == 0 {
		chunks = [][]string{nil} // the graph outputs alone
	}
	for _, chunk := range chunks {
		out, feeds, err := shapesRun(m, chunk, dims)
		if err != nil {
			return nil, err
		}
		for name, t := range out {
			shapes[name] = t.Shape()
		}
		for name, t := range feeds {
			shapes[name] = t.Shape()
		}
	}
	return shapes, nil
}

// shapesRun runs m once with extra exposed, at the first candidate input
// shapes it runs at.
func shapesRun(m *onnxpb.ModelProto, extra []string, dims map[string]int64) (map[string]*tensor.Tensor, map[string]*tensor.Tensor, error) {
	s, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: extra, OptLevel: ort.OptDisable, IntraOpThreads: 1})
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	specs := dataset.SpecsFromGraph(m.GetGraph())
	var first error
	for attempt := range dataset.Attempts {
		shapes, err := dataset.ResolveShapes(specs, nil, 1, attempt)
		if err != nil {
			return nil, nil, err
		}
		for _, sp := range specs {
			for d, p := range sp.DimParams {
				if v := dims[p]; v > 0 && p != "" && sp.Shape[d] < 0 {
					shapes[sp.Name][d] = v
				}
			}
		}
		feeds, err := probe.Feeds(specs, shapes, nil, 1)
		if err != nil {
			return nil, nil, err
		}
		out, err := s.Run(feeds)
		if err == nil {
			return out, feeds, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, nil, first
}

// staticShapes reads shapes from initializers, value_info, inputs and
// outputs where every dimension is a number.
func staticShapes(g *onnxpb.GraphProto) map[string][]int64 {
	shapes := map[string][]int64{}
	add := func(v *onnxpb.ValueInfoProto) {
		sh := v.GetType().GetTensorType().GetShape()
		if sh == nil {
			return
		}
		var dims []int64
		for _, d := range sh.GetDim() {
			x, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue)
			if !ok {
				return
			}
			dims = append(dims, x.DimValue)
		}
		shapes[v.GetName()] = dims
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			add(v)
		}
	}
	return shapes
}

// NodeFLOPs returns the estimate of each counted node of the main graph
// whose shapes are known (shapes as Shapes returns them; it is not
// modified), and the total over them.
func NodeFLOPs(m *onnxpb.ModelProto, shapes map[string][]int64) (map[*onnxpb.NodeProto]int64, int64) {
	shapes = withConstants(m.GetGraph(), maps.Clone(shapes))
	out := map[*onnxpb.NodeProto]int64{}
	var total int64
	for _, n := range m.GetGraph().GetNode() {
		if v, counted, ok := nodeFLOPs(n, shapes); counted && ok {
			out[n] = v
			total += v
		}
	}
	return out, total
}

// withConstants adds the shapes of initializers and Constant nodes to
// shapes (a nil map is made) and returns it.
func withConstants(g *onnxpb.GraphProto, shapes map[string][]int64) map[string][]int64 {
	if shapes == nil {
		shapes = map[string][]int64{}
	}
	for _, t := range g.GetInitializer() {
		if _, ok := shapes[t.GetName()]; !ok {
			shapes[t.GetName()] = t.GetDims()
		}
	}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Constant" {
			for _, a := range n.GetAttribute() {
				if a.GetName() == "value" && a.GetT() != nil && len(n.GetOutput()) > 0 {
					shapes[n.GetOutput()[0]] = a.GetT().GetDims()
				}
			}
		}
	}
	return shapes
}

func estimateFLOPs(m *onnxpb.ModelProto, shapes map[string][]int64) FLOPs {
	g := m.GetGraph()
	f := FLOPs{ByOp: map[string]int64{}, Source: "onnxruntime"}
	if shapes == nil {
		shapes = staticShapes(g)
		f.Source = "value_info"
		f.Note = "shapes from the model's value_info only; run with ONNX Runtime available for a complete estimate"
	}
	shapes = withConstants(g, shapes)
	for _, n := range g.GetNode() {
		v, counted, ok := nodeFLOPs(n, shapes)
		if !counted {
			continue
		}
		if !ok {
			f.Unknown++
			continue
		}
		f.Counted++
		f.Total += v
		f.ByOp[n.GetOpType()] += v
	}
	if f.Counted == 0 && f.Unknown > 0 {
		f.Source = "none"
	}
	specs := dataset.SpecsFromGraph(g)
	l := dataset.LayoutOf(specs)
	known := map[string][]int64{}
	for i, sp := range specs {
		sh, ok := shapes[sp.Name]
		if !ok {
			continue
		}
		known[sp.Name] = sh
		if a := l.Axis[i]; a >= 0 && a < len(sh) && f.Batch == 0 {
			f.Batch = int(sh[a])
		}
	}
	f.Inputs = probe.Describe(specs, known)
	return f
}

func prod(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		p *= d
	}
	return p
}

func intAttr(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// nodeFLOPs returns the estimate, whether the op type is one that is
// counted, and whether the shapes it needs were known.
func nodeFLOPs(n *onnxpb.NodeProto, shapes map[string][]int64) (int64, bool, bool) {
	in := func(i int) []int64 {
		if i < len(n.GetInput()) {
			return shapes[n.GetInput()[i]]
		}
		return nil
	}
	var out []int64
	if len(n.GetOutput()) > 0 {
		out = shapes[n.GetOutput()[0]]
	}
	switch n.GetOpType() {
	case "Conv", "ConvInteger", "QLinearConv":
		wi := 1
		if n.GetOpType() == "QLinearConv" {
			wi = 3
		}
		w := in(wi)
		if len(w) < 3 || len(out) < 3 {
			return 0, true, false
		}
		// Each output element: Cin/group × kernel multiply-adds.
		return 2 * prod(out) * prod(w[1:]), true, true
	case "ConvTranspose":
		x, w := in(0), in(1)
		if len(w) < 3 || len(x) < 3 {
			return 0, true, false
		}
		// Each input element scatters into Cout/group × kernel outputs.
		return 2 * prod(x) * prod(w[1:]), true, true
	case "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul":
		ai := 0
		if n.GetOpType() == "QLinearMatMul" {
			ai = 0
		}
		a := in(ai)
		if len(a) == 0 || out == nil {
			return 0, true, false
		}
		k := a[len(a)-1]
		return 2 * prod(out) * k, true, true
	case "MatMulNBits":
		k := intAttr(n, "K", 0)
		if k == 0 || out == nil {
			return 0, true, false
		}
		return 2 * prod(out) * k, true, true
	case "Gemm", "QGemm":
		a := in(0)
		if len(a) != 2 || out == nil {
			return 0, true, false
		}
		k := a[1]
		if intAttr(n, "transA", 0) != 0 {
			k = a[0]
		}
		return 2 * prod(out) * k, true, true
	}
	return 0, false, false
}
