package half

import (
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// cleanup removes Casts that change nothing, then dead code, and sorts.
func (c *converter) cleanup() error {
	before := countCasts(c.root.g)
	for _, s := range c.scopes {
		for c.dropCasts(s) {
		}
	}
	if _, err := graph.EliminateDeadCode(c.root.g); err != nil {
		return err
	}
	if err := graph.SortNodes(c.root.g); err != nil {
		return err
	}
	c.res.CastsRemoved = before - countCasts(c.root.g)
	return nil
}

func countCasts(g *onnxpb.GraphProto) int {
	k := 0
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Cast" && graph.IsDefaultDomain(n.GetDomain()) {
			k++
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				k += countCasts(a.GetG())
			}
			for _, sg := range a.GetGraphs() {
				k += countCasts(sg)
			}
		}
	}
	return k
}

// exactRoundTrip reports whether every value of type from survives a Cast
// to via and back.
func exactRoundTrip(from, via int32) bool {
	switch from {
	case tF16, tBF16:
		return via == tFloat || via == tDouble
	case tFloat:
		return via == tDouble
	}
	return false
}

// dropCasts bypasses, in s, each Cast to the type its input already has
// and each Cast that undoes an exact widening Cast just before it
// (half→float32→half). It reports whether it changed anything.
func (c *converter) dropCasts(s *scope) bool {
	changed := false
	outputs := make(map[string]bool)
	for _, o := range s.g.GetOutput() {
		outputs[o.GetName()] = true
	}
	for _, n := range slices.Clone(s.g.GetNode()) {
		if n.GetOpType() != "Cast" || !graph.IsDefaultDomain(n.GetDomain()) || len(n.GetInput()) == 0 || len(n.GetOutput()) == 0 {
			continue
		}
		in, out, to := n.Input[0], n.Output[0], castTo(n)
		target := ""
		if t := s.finalOf(in); t != 0 && t == to {
			target = in
		} else if p := s.producer[in]; p != nil && p.GetOpType() == "Cast" && graph.IsDefaultDomain(p.GetDomain()) &&
			len(p.GetInput()) > 0 && slices.Contains(s.g.GetNode(), p) {
			x := p.Input[0]
			if t0 := s.finalOf(x); t0 != 0 && t0 == to && exactRoundTrip(t0, castTo(p)) {
				target = x
			}
		}
		if target == "" {
			continue
		}
		if outputs[out] {
			// The main graph's outputs keep their names; a subgraph's may
			// name a value it defines itself, once.
			if s.main || !s.defines(target) || outputs[target] {
				continue
			}
			for _, o := range s.g.GetOutput() {
				if o.GetName() == out {
					o.Name = target
				}
			}
			delete(outputs, out)
			outputs[target] = true
		}
		if _, err := graph.ReplaceAllUses(s.g, out, target); err != nil {
			continue // a subgraph would capture the name: leave the Cast
		}
		if err := graph.RemoveNode(s.g, n); err != nil {
			continue
		}
		delete(s.producer, out)
		changed = true
	}
	return changed
}
