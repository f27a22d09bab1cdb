package prep

import (
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// floatWeight returns the float32 initializer called name, or nil when
// there is none or it is also a graph input (a default a caller may
// override, so not a constant).
func floatWeight(idx *graph.Index, name string) *onnxpb.TensorProto {
	if name == "" || idx.IsInput(name) {
		return nil
	}
	t := idx.Initializer(name)
	if t.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil
	}
	return t
}

// refCounter counts the references to initializers that a rewrite could
// replace under their own name, so that a tensor read elsewhere keeps its
// value: a rewrite replaces a tensor when count is 1 and otherwise makes a
// new one and calls release, so the last reader may replace it.
type refCounter struct {
	idx  *graph.Index
	uses map[string]int
}

func newRefCounter(idx *graph.Index) *refCounter {
	return &refCounter{idx: idx, uses: make(map[string]int)}
}

// count is the number of node inputs (explicit or implicit) and graph
// outputs that read name, less the releases.
func (r *refCounter) count(name string) int {
	if c, ok := r.uses[name]; ok {
		return c
	}
	c := len(r.idx.Consumers(name))
	if r.idx.IsOutput(name) {
		c++
	}
	r.uses[name] = c
	return c
}

func (r *refCounter) release(name string) { r.uses[name] = r.count(name) - 1 }

// putInitializer adds t to g, or with replace puts it in the place of the
// initializer of the same name. Callers clone g.Initializer first: the list
// may share its array with another graph message (a clone's, or the one
// graph.UpgradeOpset replaced).
func putInitializer(g *onnxpb.GraphProto, t *onnxpb.TensorProto, replace bool) {
	if replace {
		for i, old := range g.Initializer {
			if old.GetName() == t.GetName() {
				g.Initializer[i] = t
				return
			}
		}
	}
	g.Initializer = append(g.Initializer, t)
}

// removeNodes drops the nodes in drop from g.Node, keeping the order.
func removeNodes(g *onnxpb.GraphProto, drop map[*onnxpb.NodeProto]bool) {
	if len(drop) == 0 {
		return
	}
	kept := g.Node[:0:0]
	for _, n := range g.Node {
		if !drop[n] {
			kept = append(kept, n)
		}
	}
	g.Node = kept
}

// dropValueInfo removes the value_info entries of the named values: ones
// no longer defined, whose stale type would describe nothing, or ones now
// initializers, whose tensor carries the type.
func dropValueInfo(g *onnxpb.GraphProto, names map[string]bool) {
	if len(names) == 0 || !slices.ContainsFunc(g.ValueInfo, func(vi *onnxpb.ValueInfoProto) bool { return names[vi.GetName()] }) {
		return
	}
	kept := g.ValueInfo[:0:0]
	for _, vi := range g.ValueInfo {
		if !names[vi.GetName()] {
			kept = append(kept, vi)
		}
	}
	g.ValueInfo = kept
}
