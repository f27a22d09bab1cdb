package graph

import (
	"errors"
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// DCEStats counts what EliminateDeadCode removed, subgraphs included.
type DCEStats struct {
	Nodes        int
	Initializers int // dense and sparse
	ValueInfo    int
}

// EliminateDeadCode removes from g, and from every subgraph, the nodes
// none of whose outputs reach a graph output, then the initializers and
// value_info entries nothing refers to any more. A value read inside a
// kept node's subgraph keeps its producer alive. Every ONNX operator is
// treated as free of side effects (random generators included: an unused
// random value is not computed). Graph inputs are kept, and so are
// initializers that are also graph inputs (removing those would turn an
// optional input into a required one). A subgraph's outputs are all kept,
// since If, Loop and Scan bind them by position.
//
// It returns an error, changing nothing, if g is nil or holds a nil node,
// attribute or initializer.
func EliminateDeadCode(g *onnxpb.GraphProto) (DCEStats, error) {
	if g == nil {
		return DCEStats{}, errors.New("eliminate dead code: nil graph")
	}
	if err := checkNoNilNodes(g, ""); err != nil {
		return DCEStats{}, err
	}
	var st DCEStats
	dce(g, &st, newFreeReads())
	return st, nil
}

// checkNoNilNodes fails on nil nodes, attributes and initializers in g
// and its subgraphs, which only programs (not model files) can create.
func checkNoNilNodes(g *onnxpb.GraphProto, where string) error {
	for i, t := range g.GetInitializer() {
		if t == nil {
			return fmt.Errorf("%sinitializer #%d is nil", where, i)
		}
	}
	for i, n := range g.GetNode() {
		if n == nil {
			return fmt.Errorf("%snode #%d is nil", where, i)
		}
		for k, a := range n.GetAttribute() {
			if a == nil {
				return fmt.Errorf("%s%s: attribute #%d is nil", where, describeNode(n, i), k)
			}
		}
		for _, a := range subgraphAttrs(n) {
			w := fmt.Sprintf("%s%s attribute %q: ", where, describeNode(n, i), a.GetName())
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sg == nil {
					continue
				}
				if err := checkNoNilNodes(sg, w); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// dce prunes subgraphs before their graph, so the outer reads free
// records for a subgraph are those of its pruned form.
func dce(g *onnxpb.GraphProto, st *DCEStats, free *freeReads) {
	for _, n := range g.Node {
		for _, sg := range subgraphs(n) {
			dce(sg, st, free)
		}
	}
	producers := make(map[string][]int)
	for i, n := range g.Node {
		for _, o := range n.GetOutput() {
			if o != "" {
				producers[o] = append(producers[o], i)
			}
		}
	}
	live := make([]bool, len(g.Node))
	used := make(map[string]bool)
	var work []int
	mark := func(name string) {
		if name == "" || used[name] {
			return
		}
		used[name] = true
		for _, i := range producers[name] {
			if !live[i] {
				live[i] = true
				work = append(work, i)
			}
		}
	}
	for _, o := range g.Output {
		mark(o.GetName())
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		n := g.Node[i]
		for _, in := range n.GetInput() {
			mark(in)
		}
		for _, in := range free.node(n) {
			mark(in)
		}
	}
	kept := g.Node[:0:0]
	produced := make(map[string]bool)
	for i, n := range g.Node {
		if !live[i] {
			st.Nodes++
			continue
		}
		kept = append(kept, n)
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	g.Node = kept

	inputs := make(map[string]bool)
	for _, v := range g.Input {
		inputs[v.GetName()] = true
	}
	keptInit := g.Initializer[:0:0]
	for _, t := range g.Initializer {
		if used[t.GetName()] || inputs[t.GetName()] {
			keptInit = append(keptInit, t)
			produced[t.GetName()] = true
		} else {
			st.Initializers++
		}
	}
	g.Initializer = keptInit
	keptSparse := g.SparseInitializer[:0:0]
	for _, s := range g.SparseInitializer {
		name := s.GetValues().GetName()
		if used[name] || inputs[name] {
			keptSparse = append(keptSparse, s)
			produced[name] = true
		} else {
			st.Initializers++
		}
	}
	g.SparseInitializer = keptSparse
	keptVI := g.ValueInfo[:0:0]
	for _, v := range g.ValueInfo {
		name := v.GetName()
		if produced[name] || inputs[name] || used[name] {
			keptVI = append(keptVI, v)
		} else {
			st.ValueInfo++
		}
	}
	g.ValueInfo = keptVI
}
