package graph_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// ifGraph: x, w (initializer) → a = Add(x, w); If(c) whose then-branch
// reads a and w from outside and whose else-branch defines its own "a"
// (shadowing) and reads x; y = Relu(if_out); dead = Neg(x).
func ifGraph() *onnxpb.GraphProto {
	then := &onnxpb.GraphProto{
		Name:   "then",
		Node:   []*onnxpb.NodeProto{node("Mul", "then_mul", []string{"a", "w"}, []string{"t"})},
		Output: []*onnxpb.ValueInfoProto{floatVI("t")},
	}
	els := &onnxpb.GraphProto{
		Name:   "else",
		Node:   []*onnxpb.NodeProto{node("Neg", "else_neg", []string{"x"}, []string{"a"}), node("Abs", "else_abs", []string{"a"}, []string{"e"})},
		Output: []*onnxpb.ValueInfoProto{floatVI("e")},
	}
	return &onnxpb.GraphProto{
		Name: "main",
		Node: []*onnxpb.NodeProto{
			node("Add", "add", []string{"x", "w"}, []string{"a"}),
			node("If", "if", []string{"c"}, []string{"o"}, graphAttr("then_branch", then), graphAttr("else_branch", els)),
			node("Relu", "relu", []string{"o"}, []string{"y"}),
			node("Neg", "dead", []string{"x"}, []string{"d"}),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{2}, 1, 2), floatInit("unused", []int64{1}, 3)},
		Input:       []*onnxpb.ValueInfoProto{tensorVI("c", onnxpb.TensorProto_BOOL), floatVI("x", 2)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y", 2)},
		ValueInfo:   []*onnxpb.ValueInfoProto{floatVI("a", 2), floatVI("d", 2), floatVI("gone", 2)},
	}
}

func TestIndex(t *testing.T) {
	g := ifGraph()
	x := graph.NewIndex(g)
	add, ifn := g.Node[0], g.Node[1]
	if n, out := x.Producer("a"); n != add || out != 0 {
		t.Errorf("Producer(a) = %v, %d", n.GetName(), out)
	}
	if n, out := x.Producer("x"); n != nil || out != -1 {
		t.Errorf("Producer(x) = %v, %d; want none for a graph input", n, out)
	}
	uses := x.Consumers("a")
	if len(uses) != 1 || uses[0].Node != ifn || uses[0].Input != graph.Implicit {
		t.Errorf("Consumers(a) = %+v, want the If, implicitly", uses)
	}
	// x is read by add (slot 0), implicitly by the If's else-branch, and
	// by dead; w by add (slot 1) and the then-branch.
	var got []string
	for _, u := range x.Consumers("x") {
		got = append(got, u.Node.GetName()+":"+strings.Repeat("i", boolInt(u.Input == graph.Implicit)))
	}
	if strings.Join(got, ",") != "add:,if:i,dead:" {
		t.Errorf("Consumers(x) = %v", got)
	}
	if imp := x.ImplicitInputs(ifn); !reflect.DeepEqual(imp, []string{"a", "w", "x"}) {
		t.Errorf("ImplicitInputs(if) = %v", imp)
	}
	if !reflect.DeepEqual(graph.ImplicitInputs(add), []string(nil)) {
		t.Errorf("ImplicitInputs(add) not empty")
	}
	if x.Initializer("w") == nil || x.Initializer("x") != nil {
		t.Error("Initializer lookup")
	}
	if !x.IsInput("x") || x.IsInput("w") || !x.IsOutput("y") || x.IsOutput("o") {
		t.Error("IsInput/IsOutput")
	}
	if !x.Defined("w") || !x.Defined("d") || x.Defined("t") || x.Defined("") {
		t.Error("Defined")
	}
	if !x.Used("y") || !x.Used("o") || x.Used("d") || x.Used("unused") {
		t.Error("Used")
	}
	if x.Position(g.Node[2]) != 2 || x.Position(&onnxpb.NodeProto{}) != -1 {
		t.Error("Position")
	}
	if x.ValueInfo("a") == nil || x.ValueInfo("x") != g.Input[1] {
		t.Error("ValueInfo")
	}
	if graph.NewIndex(nil).Defined("x") {
		t.Error("nil graph index defines something")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTopo(t *testing.T) {
	g := ifGraph()
	// Reverse the node list: the If must still come after add, although
	// it reads add's output only inside a branch.
	for i, j := 0, len(g.Node)-1; i < j; i, j = i+1, j-1 {
		g.Node[i], g.Node[j] = g.Node[j], g.Node[i]
	}
	order, err := graph.Topo(g)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(order); got != "dead,add,if,relu" {
		t.Errorf("order %s", got)
	}
	if got := nodeNames(g.Node); got != "dead,relu,if,add" {
		t.Errorf("Topo changed the graph: %s", got)
	}
	// A sorted graph keeps its order.
	sorted := ifGraph()
	order, _ = graph.Topo(sorted)
	if nodeNames(order) != nodeNames(sorted.Node) {
		t.Errorf("stable order changed: %s", nodeNames(order))
	}
}

func TestTopoCycle(t *testing.T) {
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("Relu", "start", []string{"x"}, []string{"s"}),
			node("Add", "a", []string{"s", "c"}, []string{"b_in"}),
			node("Neg", "b", []string{"b_in"}, []string{"c_in"}),
			{OpType: "Abs", Input: []string{"c_in"}, Output: []string{"c"}},
		},
		Input: []*onnxpb.ValueInfoProto{floatVI("x")},
	}
	_, err := graph.Topo(g)
	var ce *graph.CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a CycleError", err)
	}
	want := `graph has a cycle: node "a" (Add) -> node "b" (Neg) -> node #3 (Abs) -> node "a" (Add)`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	before := proto.Clone(g)
	if err := graph.SortNodes(g); err == nil || !proto.Equal(before, g) {
		t.Errorf("SortNodes on a cycle: err %v, graph changed %v", err, !proto.Equal(before, g))
	}
	self := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("Add", "loop", []string{"x", "z"}, []string{"z"})}}
	_, err = graph.Topo(self)
	mustContain(t, err, `node "loop" (Add) -> node "loop" (Add)`)
	_, err = graph.Topo(&onnxpb.GraphProto{Node: []*onnxpb.NodeProto{nil}})
	mustContain(t, err, "node #0 is nil")
}

func TestSortNodesSortsSubgraphs(t *testing.T) {
	g := ifGraph()
	then := g.Node[1].Attribute[0].G
	then.Node = append([]*onnxpb.NodeProto{node("Sigmoid", "late", []string{"t"}, []string{"t2"})}, then.Node...)
	then.Output[0].Name = "t2"
	g.Node[0], g.Node[2] = g.Node[2], g.Node[0] // relu before add
	if err := graph.SortNodes(g); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(g.Node); got != "add,if,relu,dead" {
		t.Errorf("main order %s", got)
	}
	if got := nodeNames(then.Node); got != "then_mul,late" {
		t.Errorf("branch order %s", got)
	}
}
