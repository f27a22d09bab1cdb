package graph

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// CycleError reports nodes that depend on each other in a loop.
type CycleError struct {
	// Cycle lists the nodes of one cycle in data-flow order: each reads an
	// output of the one before it, and the first reads the last.
	Cycle []string
}

func (e *CycleError) Error() string {
	return "graph has a cycle: " + strings.Join(e.Cycle, " -> ") + " -> " + e.Cycle[0]
}

// Topo returns g's nodes in a topological order: every node comes after
// the producers of the values it reads, including values read inside its
// subgraphs. Among the orders possible it keeps the original one where it
// can (a node moves only when it must come after a later producer). The
// graph is not modified; subgraphs are not reordered.
//
// It returns a *CycleError naming the nodes of a cycle when there is one,
// and an error for a nil node. Values nothing in g produces (inputs,
// initializers, outer-scope or undefined names) impose no order; Validate
// reports the undefined ones.
func Topo(g *onnxpb.GraphProto) ([]*onnxpb.NodeProto, error) {
	return topo(g, newFreeReads())
}

// topo is Topo taking the subgraphs' outer reads from free, which callers
// walking nested graphs share between levels.
func topo(g *onnxpb.GraphProto, free *freeReads) ([]*onnxpb.NodeProto, error) {
	nodes := g.GetNode()
	producer := make(map[string]int, len(nodes))
	for i, n := range nodes {
		if n == nil {
			return nil, fmt.Errorf("node #%d is nil", i)
		}
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, dup := producer[o]; !dup {
				producer[o] = i
			}
		}
	}
	succ := make([][]int, len(nodes))
	pred := make([][]int, len(nodes))
	indeg := make([]int, len(nodes))
	for j, n := range nodes {
		seen := make(map[int]bool)
		addEdge := func(name string) {
			i, ok := producer[name]
			if !ok || seen[i] {
				return
			}
			seen[i] = true
			succ[i] = append(succ[i], j)
			pred[j] = append(pred[j], i)
			indeg[j]++
		}
		for _, in := range n.GetInput() {
			if in != "" {
				addEdge(in)
			}
		}
		for _, in := range free.node(n) {
			addEdge(in)
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]*onnxpb.NodeProto, 0, len(nodes))
	done := make([]bool, len(nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		done[i] = true
		order = append(order, nodes[i])
		for _, j := range succ[i] {
			indeg[j]--
			if indeg[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	// Every node left has a predecessor that is also left: walk back until
	// a node repeats.
	start := -1
	for i := range nodes {
		if !done[i] {
			start = i
			break
		}
	}
	step := make(map[int]int) // node -> position in walk
	var walk []int
	cur := start
	for {
		if p, ok := step[cur]; ok {
			walk = walk[p:]
			break
		}
		step[cur] = len(walk)
		walk = append(walk, cur)
		next := -1
		for _, p := range pred[cur] {
			if !done[p] {
				next = p
				break
			}
		}
		if next < 0 { // cannot happen; guard against a bad walk
			break
		}
		cur = next
	}
	// walk goes against the data flow; reverse it, and start at the
	// earliest node so the message does not depend on the walk.
	first := 0
	for k, i := range walk {
		if i < walk[first] {
			first = k
		}
	}
	cycle := make([]string, 0, len(walk))
	for k := 0; k < len(walk); k++ {
		i := walk[(first-k+len(walk))%len(walk)]
		cycle = append(cycle, describeNode(nodes[i], i))
	}
	return nil, &CycleError{Cycle: cycle}
}

// SortNodes rewrites g.Node, and the node lists of all its subgraphs, into
// the order Topo returns. On error (a cycle or a nil node, named in the
// error) the graph is left unchanged.
func SortNodes(g *onnxpb.GraphProto) error {
	if g == nil {
		return errors.New("sort nodes: nil graph")
	}
	type job struct {
		g     *onnxpb.GraphProto
		order []*onnxpb.NodeProto
	}
	var jobs []job
	free := newFreeReads()
	var visit func(g *onnxpb.GraphProto, where string) error
	visit = func(g *onnxpb.GraphProto, where string) error {
		order, err := topo(g, free)
		if err != nil {
			if where != "" {
				return fmt.Errorf("%s: %w", where, err)
			}
			return err
		}
		jobs = append(jobs, job{g, order})
		for i, n := range g.GetNode() {
			for _, a := range subgraphAttrs(n) {
				sgs := a.GetGraphs()
				if a.GetG() != nil {
					sgs = append([]*onnxpb.GraphProto{a.GetG()}, sgs...)
				}
				for _, sg := range sgs {
					w := fmt.Sprintf("%s attribute %q", describeNode(n, i), a.GetName())
					if where != "" {
						w = where + ": " + w
					}
					if err := visit(sg, w); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := visit(g, ""); err != nil {
		return err
	}
	for _, j := range jobs {
		j.g.Node = j.order
	}
	return nil
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
