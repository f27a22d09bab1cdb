package graph_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

func TestInsertAndRemoveNode(t *testing.T) {
	g := ifGraph()
	n := node("Sigmoid", "sig", []string{"y"}, []string{"z"})
	if err := graph.InsertNode(g, 4, n); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(g.Node); got != "add,if,relu,dead,sig" {
		t.Errorf("after InsertNode at end: %s", got)
	}
	m := node("Abs", "abs", []string{"x"}, []string{"ab"})
	if err := graph.InsertNodeBefore(g, g.Node[1], m); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(g.Node); got != "add,abs,if,relu,dead,sig" {
		t.Errorf("after InsertNodeBefore: %s", got)
	}
	if err := graph.RemoveNode(g, m); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(g.Node); got != "add,if,relu,dead,sig" {
		t.Errorf("after RemoveNode: %s", got)
	}
	before := proto.Clone(g)
	mustContain(t, graph.InsertNode(g, 9, node("Neg", "n", nil, []string{"q"})), "position 9 out of range [0, 5]")
	mustContain(t, graph.InsertNode(g, 0, node("Neg", "n", []string{"x"}, []string{"a"})), `output "a" is already defined`)
	mustContain(t, graph.InsertNodeBefore(g, m, node("Neg", "n", nil, []string{"q"})), `node "abs" (Abs) is not in the graph`)
	mustContain(t, graph.RemoveNode(g, m), `remove node "abs" (Abs): not in the graph`)
	mustContain(t, graph.InsertNode(g, 0, nil), "nil graph or node")
	if !proto.Equal(before, g) {
		t.Error("failed edits changed the graph")
	}
}

func TestRenameValue(t *testing.T) {
	g := ifGraph()
	if err := graph.RenameValue(g, "a", "sum"); err != nil {
		t.Fatal(err)
	}
	then, els := g.Node[1].Attribute[0].G, g.Node[1].Attribute[1].G
	if g.Node[0].Output[0] != "sum" || then.Node[0].Input[0] != "sum" || g.ValueInfo[0].Name != "sum" {
		t.Errorf("producer, implicit use or value_info not renamed: %v / %v / %v", g.Node[0].Output, then.Node[0].Input, g.ValueInfo[0].Name)
	}
	if els.Node[0].Output[0] != "a" || els.Node[1].Input[0] != "a" {
		t.Error("the else-branch's own (shadowing) a was renamed")
	}
	for _, c := range []struct{ name, want string }{
		{"w", "weights"}, {"x", "input"}, {"y", "output"},
	} {
		if err := graph.RenameValue(g, c.name, c.want); err != nil {
			t.Fatal(err)
		}
	}
	if g.Initializer[0].Name != "weights" || g.Node[0].Input[1] != "weights" || then.Node[0].Input[1] != "weights" {
		t.Error("initializer rename incomplete")
	}
	if g.Input[1].Name != "input" || els.Node[0].Input[0] != "input" || g.Node[3].Input[0] != "input" {
		t.Error("graph input rename incomplete")
	}
	if g.Output[0].Name != "output" || g.Node[2].Output[0] != "output" {
		t.Error("graph output rename incomplete")
	}
	before := proto.Clone(g)
	mustContain(t, graph.RenameValue(g, "sum", "o"), `"o" is already used`)
	mustContain(t, graph.RenameValue(g, "sum", "e"), `"e" is already used`) // a name inside a branch
	mustContain(t, graph.RenameValue(g, "t", "t2"), `"t" is not defined in this graph`)
	mustContain(t, graph.RenameValue(g, "", "q"), "empty name")
	if !proto.Equal(before, g) {
		t.Error("failed renames changed the graph")
	}
}

func TestReplaceAllUses(t *testing.T) {
	g := ifGraph()
	// Route everything that reads x (directly and in the else-branch) to
	// a new Identity's output, and keep graph outputs as they are.
	id := node("Identity", "id", []string{"x"}, []string{"x2"})
	n, err := graph.ReplaceAllUses(g, "x", "x2")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("replaced %d uses, want 3 (add, dead, else-branch Neg)", n)
	}
	if err := graph.InsertNode(g, 0, id); err != nil {
		t.Fatal(err)
	}
	if g.Node[1].Input[0] != "x2" || g.Node[2].Attribute[1].G.Node[0].Input[0] != "x2" {
		t.Error("uses not replaced")
	}
	if n, _ := graph.ReplaceAllUses(g, "y", "o"); n != 0 || g.Output[0].Name != "y" {
		t.Errorf("graph output changed (%d uses)", n)
	}
	before := proto.Clone(g)
	_, err = graph.ReplaceAllUses(g, "w", "t") // the then-branch defines its own t
	mustContain(t, err, `a subgraph of node "if" (If) defines its own "t"`)
	if !proto.Equal(before, g) {
		t.Error("a refused ReplaceAllUses changed the graph")
	}
}

func TestAddInitializerAndNames(t *testing.T) {
	g := ifGraph()
	mustContain(t, graph.AddInitializer(g, floatInit("a", nil, 1)), `add initializer "a": name already defined`)
	mustContain(t, graph.AddInitializer(g, floatInit("", nil, 1)), "no name")
	if err := graph.AddInitializer(g, floatInit("fresh", nil, 1)); err != nil {
		t.Fatal(err)
	}
	if got := graph.UniqueName(g, "relu"); got != "relu_1" {
		t.Errorf("UniqueName(relu) = %q (relu is a node name)", got)
	}
	if got := graph.UniqueName(g, "t"); got != "t_1" {
		t.Errorf("UniqueName(t) = %q (t is a branch value)", got)
	}
	nm := graph.NewNamer(g)
	nm.Reserve("k")
	got := []string{nm.Name("k"), nm.Name("k"), nm.Name(""), nm.Name("fresh")}
	want := []string{"k_1", "k_2", "v", "fresh_1"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Namer names %v, want %v", got, want)
			break
		}
	}
	var zero graph.Namer
	if a, b := zero.Name("x"), zero.Name("x"); a != "x" || b != "x_1" {
		t.Errorf("zero Namer: %q %q", a, b)
	}
}

func TestEliminateDeadCode(t *testing.T) {
	g := ifGraph()
	// A dead chain inside the then-branch, and an initializer only the
	// dead Neg would read.
	then := g.Node[1].Attribute[0].G
	then.Node = append(then.Node, node("Exp", "then_dead", []string{"w"}, []string{"td"}))
	g.Initializer = append(g.Initializer, floatInit("dead_w", []int64{1}, 1))
	g.Node[3].Input = append(g.Node[3].Input, "dead_w")
	g.Input = append(g.Input, floatVI("unused")) // unused is also an input: kept
	st, err := graph.EliminateDeadCode(g)
	if err != nil {
		t.Fatal(err)
	}
	want := graph.DCEStats{Nodes: 2, Initializers: 1, ValueInfo: 2}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if got := nodeNames(g.Node); got != "add,if,relu" {
		t.Errorf("nodes %s (add feeds the If's branch only, and must stay)", got)
	}
	if got := nodeNames(then.Node); got != "then_mul" {
		t.Errorf("branch nodes %s", got)
	}
	if len(g.Initializer) != 2 || g.Initializer[0].Name != "w" || g.Initializer[1].Name != "unused" {
		t.Errorf("initializers %v", g.Initializer)
	}
	if len(g.ValueInfo) != 1 || g.ValueInfo[0].Name != "a" {
		t.Errorf("value_info %v", g.ValueInfo)
	}
	if st, _ := graph.EliminateDeadCode(g); st != (graph.DCEStats{}) {
		t.Errorf("second pass removed %+v", st)
	}
	_, err = graph.EliminateDeadCode(&onnxpb.GraphProto{Node: []*onnxpb.NodeProto{nil}})
	mustContain(t, err, "node #0 is nil")
}

func TestNilInputsAreErrors(t *testing.T) {
	if _, err := graph.Topo(nil); err != nil {
		t.Errorf("Topo(nil): %v", err)
	}
	mustContain(t, graph.SortNodes(nil), "nil graph")
	_, err := graph.EliminateDeadCode(nil)
	mustContain(t, err, "nil graph")
	_, err = graph.EliminateDeadCode(&onnxpb.GraphProto{Node: []*onnxpb.NodeProto{{OpType: "Relu", Attribute: []*onnxpb.AttributeProto{nil}}}})
	mustContain(t, err, "node #0 (Relu): attribute #0 is nil")
	_, err = graph.ConstantsToInitializers(nil)
	mustContain(t, err, "model has no graph")
	mustContain(t, graph.UpgradeOpset(nil, 13), "model has no graph")
	mustContain(t, graph.UpgradeOpset(model(7, &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{nil}}), 13), "node #0 is nil")
	mustContain(t, graph.Validate(nil), "model is nil")
	mustContain(t, graph.RenameValue(nil, "a", "b"), "nil graph")
	mustContain(t, graph.RemoveNode(nil, &onnxpb.NodeProto{}), "not in the graph")
	if n, err := graph.ReplaceAllUses(nil, "a", "b"); n != 0 || err != nil {
		t.Errorf("ReplaceAllUses(nil) = %d, %v", n, err)
	}
	if graph.UniqueName(nil, "x") != "x" || len(graph.ImplicitInputs(nil)) != 0 {
		t.Error("UniqueName/ImplicitInputs on nil")
	}
}
