package graph

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// nestedIf returns a model of depth Ifs, each in the then-branch of the one
// before; every branch reads the main graph's x.
func nestedIf(depth int) *onnxpb.ModelProto {
	vi := func(name string, elem onnxpb.TensorProto_DataType) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(elem), Shape: &onnxpb.TensorShapeProto{}}}}}
	}
	identity := func(out string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: out, Node: []*onnxpb.NodeProto{{OpType: "Identity", Input: []string{"x"}, Output: []string{out}}},
			Output: []*onnxpb.ValueInfoProto{{Name: out}}}
	}
	g := identity(fmt.Sprintf("y%d", depth))
	for level := depth; level >= 1; level-- {
		out := fmt.Sprintf("y%d", level-1)
		ifn := &onnxpb.NodeProto{OpType: "If", Input: []string{"c"}, Output: []string{out}, Attribute: []*onnxpb.AttributeProto{
			{Name: "then_branch", Type: onnxpb.AttributeProto_GRAPH, G: g},
			{Name: "else_branch", Type: onnxpb.AttributeProto_GRAPH, G: identity(fmt.Sprintf("e%d", level))},
		}}
		g = &onnxpb.GraphProto{Name: out, Node: []*onnxpb.NodeProto{ifn}, Output: []*onnxpb.ValueInfoProto{{Name: out}}}
	}
	g.Input = []*onnxpb.ValueInfoProto{vi("c", onnxpb.TensorProto_BOOL), vi("x", onnxpb.TensorProto_FLOAT)}
	g.Output = []*onnxpb.ValueInfoProto{vi("y0", onnxpb.TensorProto_FLOAT)}
	return &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g}
}

// A model nested past MaxSubgraphDepth gets one unsupported-model problem
// naming its depth (before, the check walked every level's subtree again:
// depth 1,600 took 37 s); one at the limit validates.
func TestValidateSubgraphDepthLimit(t *testing.T) {
	err := Validate(nestedIf(MaxSubgraphDepth + 1))
	if err == nil || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("depth %d: got %v, want an unsupported-model error", MaxSubgraphDepth+1, err)
	}
	want := fmt.Sprintf("invalid model: subgraph nesting depth %d exceeds the limit of %d", MaxSubgraphDepth+1, MaxSubgraphDepth)
	if err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	if err := Validate(nestedIf(3000)); err == nil || !strings.Contains(err.Error(), "depth 3000 exceeds") {
		t.Fatalf("depth 3000: got %v", err)
	}
	if err := Validate(nestedIf(MaxSubgraphDepth)); err != nil {
		t.Fatalf("depth %d: %v", MaxSubgraphDepth, err)
	}
}

// The cycle checks of every nesting level share one record of each
// subgraph's outer reads, so validation examines each node a constant
// number of times: before, each level walked its whole subtree again
// (ImplicitInputs from Topo at every level), depth²/2 node visits.
func TestValidateVisitsLinear(t *testing.T) {
	for _, depth := range []int{16, MaxSubgraphDepth} {
		m := nestedIf(depth)
		nodes := 0
		walkGraphs(m.GetGraph(), func(g *onnxpb.GraphProto) { nodes += len(g.GetNode()) })
		v := &validator{opsets: make(map[string]int64), functions: make(map[string]bool), free: newFreeReads()}
		v.model(m)
		if len(v.problems) != 0 {
			t.Fatalf("depth %d: %v", depth, v.problems)
		}
		if v.free.visits == 0 || v.free.visits > nodes {
			t.Errorf("depth %d: %d node visits for %d nodes, want at most one each", depth, v.free.visits, nodes)
		}
		// The counter tells the two apart: a fresh record per level, as
		// before, visits each level's whole subtree.
		perLevel := 0
		walkGraphs(m.GetGraph(), func(g *onnxpb.GraphProto) {
			free := newFreeReads()
			if _, err := topo(g, free); err != nil {
				t.Fatal(err)
			}
			perLevel += free.visits
		})
		if perLevel < depth*depth/2 {
			t.Errorf("depth %d: %d visits with a record per level, want at least %d", depth, perLevel, depth*depth/2)
		}
	}
}

// SortNodes and EliminateDeadCode share the record the same way.
func TestSortAndDCEVisitsLinear(t *testing.T) {
	m := nestedIf(MaxSubgraphDepth)
	nodes := 0
	walkGraphs(m.GetGraph(), func(g *onnxpb.GraphProto) { nodes += len(g.GetNode()) })
	free := newFreeReads()
	if _, err := topo(m.GetGraph(), free); err != nil {
		t.Fatal(err)
	}
	st := DCEStats{}
	dce(m.GetGraph(), &st, free)
	if free.visits > nodes || st.Nodes != 0 {
		t.Errorf("%d visits for %d nodes; %d nodes removed", free.visits, nodes, st.Nodes)
	}
}

// walkGraphs calls fn for g and every graph nested in it.
func walkGraphs(g *onnxpb.GraphProto, fn func(*onnxpb.GraphProto)) {
	fn(g)
	for _, n := range g.GetNode() {
		for _, sg := range subgraphs(n) {
			walkGraphs(sg, fn)
		}
	}
}
