package prune

import (
	"fmt"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// DefaultOpTypes are the ops whose weights are pruned by default.
var DefaultOpTypes = []string{"Conv", "Gemm", "MatMul"}

// Selection chooses the weights to prune.
type Selection struct {
	// OpTypes are the node types whose weight input is pruned (default
	// DefaultOpTypes).
	OpTypes []string
	// ExcludeNodes are node names whose weights are left alone.
	ExcludeNodes []string
	// MinParams skips weights with fewer elements.
	MinParams int64
	// KeepFirstLast leaves the first and the last prunable node of the main
	// graph (in topological order) alone: they usually hurt most.
	KeepFirstLast bool
}

func (s Selection) opTypes() []string {
	if len(s.OpTypes) == 0 {
		return DefaultOpTypes
	}
	return s.OpTypes
}

// Weight is a float32 weight initializer read by a Conv, Gemm or MatMul
// node as its weight input.
type Weight struct {
	Name   string  // initializer name
	Node   string  // first node that reads it
	OpType string  // that node's op type
	Graph  string  // "" for the main graph, else the subgraph's name
	Dims   []int64 // weight shape
	// InAxis is the weight's input-channel (reduction) axis: 1 for Conv,
	// the K axis of a Gemm or MatMul weight.
	InAxis int

	g *onnxpb.GraphProto
	t *onnxpb.TensorProto
}

// Params is the number of weight elements.
func (w *Weight) Params() int64 {
	n := int64(1)
	for _, d := range w.Dims {
		n *= d
	}
	return n
}

// Skipped is a candidate weight left alone, with the reason.
type Skipped struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Reason string `json:"reason"`
}

// FindWeights lists the prunable weights of m (main graph first, in
// topological order, then subgraphs) and the candidates it skipped. m must
// hold its weights in initializers (graph.ConstantsToInitializers).
func FindWeights(m *onnxpb.ModelProto, sel Selection) ([]*Weight, []Skipped, error) {
	ops := sel.opTypes()
	excluded := map[string]bool{}
	for _, n := range sel.ExcludeNodes {
		excluded[n] = true
	}
	var ws []*Weight
	var skipped []Skipped
	seen := map[*onnxpb.TensorProto]bool{}
	// scopes holds the index of every enclosing graph, innermost last: a
	// branch of an If may read its weights from the graph around it (as
	// tf2onnx exports do).
	var scopes []*graph.Index
	constant := func(name string) (*onnxpb.TensorProto, *onnxpb.GraphProto) {
		for i := len(scopes) - 1; i >= 0; i-- {
			if t := scopes[i].Initializer(name); t != nil {
				return t, scopes[i].Graph()
			}
			if scopes[i].Defined(name) {
				return nil, nil // computed in this scope
			}
		}
		return nil, nil
	}
	var walk func(g *onnxpb.GraphProto, where string) error
	walk = func(g *onnxpb.GraphProto, where string) error {
		nodes, err := graph.Topo(g)
		if err != nil {
			return err
		}
		scopes = append(scopes, graph.NewIndex(g))
		defer func() { scopes = scopes[:len(scopes)-1] }()
		for _, n := range nodes {
			for _, a := range n.GetAttribute() {
				for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
					if sg != nil {
						if err := walk(sg, sg.GetName()); err != nil {
							return err
						}
					}
				}
			}
			if !slices.Contains(ops, n.GetOpType()) || !graph.IsDefaultDomain(n.GetDomain()) {
				continue
			}
			skip := func(why string) { skipped = append(skipped, Skipped{n.GetName(), n.GetOpType(), why}) }
			if len(n.GetInput()) < 2 {
				continue
			}
			t, owner := constant(n.GetInput()[1])
			if t == nil {
				skip("its weight is computed, not a constant")
				continue
			}
			if seen[t] {
				continue // shared: pruned once
			}
			if tensor.DType(t.GetDataType()) != tensor.Float32 {
				skip(fmt.Sprintf("its weight is %s, not float32", tensor.DType(t.GetDataType())))
				continue
			}
			if excluded[n.GetName()] {
				skip("excluded (--exclude-nodes)")
				continue
			}
			w := &Weight{Name: t.GetName(), Node: n.GetName(), OpType: n.GetOpType(), Graph: where, Dims: slices.Clone(t.GetDims()), g: owner, t: t}
			switch n.GetOpType() {
			case "Conv":
				if len(w.Dims) < 3 {
					skip("its weight has rank below 3")
					continue
				}
				w.InAxis = 1
			case "Gemm":
				if len(w.Dims) != 2 {
					skip("its weight is not 2-D")
					continue
				}
				w.InAxis = 0
				if intAttr(n, "transB", 0) == 1 {
					w.InAxis = 1
				}
			case "MatMul":
				if len(w.Dims) < 2 {
					skip("its weight is a vector")
					continue
				}
				w.InAxis = len(w.Dims) - 2
			default:
				// A user-chosen op type: prune along axis 1 when it has one.
				if len(w.Dims) < 2 {
					skip("its weight is a vector")
					continue
				}
				w.InAxis = 1
			}
			if sel.MinParams > 0 && w.Params() < sel.MinParams {
				skip(fmt.Sprintf("%d weights, below --min-params %d", w.Params(), sel.MinParams))
				continue
			}
			seen[t] = true
			ws = append(ws, w)
		}
		return nil
	}
	if err := walk(m.GetGraph(), ""); err != nil {
		return nil, nil, err
	}
	if sel.KeepFirstLast {
		var main []int
		for i, w := range ws {
			if w.Graph == "" {
				main = append(main, i)
			}
		}
		drop := map[int]bool{}
		if len(main) > 0 {
			drop[main[0]] = true
			drop[main[len(main)-1]] = true
		}
		var kept []*Weight
		for i, w := range ws {
			if drop[i] {
				skipped = append(skipped, Skipped{w.Node, w.OpType, "first or last layer (--keep-first-last)"})
				continue
			}
			kept = append(kept, w)
		}
		ws = kept
	}
	return ws, skipped, nil
}

func intAttr(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// values decodes the weight.
func (w *Weight) values() ([]float32, error) {
	t, err := tensor.FromProto(w.t)
	if err != nil {
		return nil, fmt.Errorf("weight %s: %w", w.Name, err)
	}
	// A copy: the decoded slice may alias the tensor's bytes.
	return slices.Clone(tensor.Values[float32](t)), nil
}

// replace stores v as a new tensor of the same name (tensors are never
// modified in place: a clone of the model may share them).
func (w *Weight) replace(v []float32) error {
	t, err := tensor.New(w.Dims, v)
	if err != nil {
		return err
	}
	p, err := tensor.ToProto(t, w.Name)
	if err != nil {
		return err
	}
	for i, x := range w.g.Initializer {
		if x == w.t {
			w.g.Initializer[i] = p
			w.t = p
			return nil
		}
	}
	return fmt.Errorf("internal error: weight %s is no longer an initializer", w.Name)
}
