package graph_test

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

func constNode(out string, a *onnxpb.AttributeProto) *onnxpb.NodeProto {
	return node("Constant", "const_"+out, nil, []string{out}, a)
}

func TestConstantsToInitializersValueKinds(t *testing.T) {
	sparseLinear := &onnxpb.SparseTensorProto{
		Dims:    []int64{2, 3},
		Values:  floatInit("", []int64{2}, 5, 7),
		Indices: int64Init("", []int64{2}, 1, 5),
	}
	sparseCoords := &onnxpb.SparseTensorProto{
		Dims:    []int64{2, 2},
		Values:  int64Init("", []int64{2}, 8, 9),
		Indices: int64Init("", []int64{2, 2}, 0, 1, 1, 0),
	}
	g := &onnxpb.GraphProto{
		Name: "consts",
		Node: []*onnxpb.NodeProto{
			constNode("t", tensorAttr("value", floatInit("ignored_name", []int64{2}, 1, 2))),
			constNode("f", floatAttr("value_float", 1.5)),
			constNode("fs", floatsAttr("value_floats", 1, 2, 3)),
			constNode("i", intAttr("value_int", 4)),
			constNode("is", intsAttr("value_ints", 4, 5)),
			constNode("s", stringAttr("value_string", "hi")),
			constNode("ss", &onnxpb.AttributeProto{Name: "value_strings", Type: onnxpb.AttributeProto_STRINGS, Strings: [][]byte{[]byte("a"), []byte("b")}}),
			constNode("sp", &onnxpb.AttributeProto{Name: "sparse_value", Type: onnxpb.AttributeProto_SPARSE_TENSOR, SparseTensor: sparseLinear}),
			constNode("sc", &onnxpb.AttributeProto{Name: "sparse_value", Type: onnxpb.AttributeProto_SPARSE_TENSOR, SparseTensor: sparseCoords}),
		},
	}
	for _, o := range []string{"t", "f", "fs", "i", "is", "s", "ss", "sp", "sc"} {
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: o})
	}
	m := model(13, g)
	m.IrVersion = 3
	n, err := graph.ConstantsToInitializers(m)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 || len(g.Node) != 0 || len(g.Initializer) != 9 {
		t.Fatalf("replaced %d, %d nodes and %d initializers left", n, len(g.Node), len(g.Initializer))
	}
	if m.IrVersion != 4 {
		t.Errorf("ir_version %d, want 4", m.IrVersion)
	}
	vals := map[string]any{}
	for _, init := range g.Initializer {
		x, err := tensor.FromProto(init)
		if err != nil {
			t.Fatalf("%s: %v", init.Name, err)
		}
		vals[init.Name] = []any{x.Shape(), x.Data()}
	}
	want := map[string]any{
		"t":  []any{[]int64{2}, []float32{1, 2}},
		"f":  []any{[]int64{}, []float32{1.5}},
		"fs": []any{[]int64{3}, []float32{1, 2, 3}},
		"i":  []any{[]int64{}, []int64{4}},
		"is": []any{[]int64{2}, []int64{4, 5}},
		"s":  []any{[]int64{}, []string{"hi"}},
		"ss": []any{[]int64{2}, []string{"a", "b"}},
		"sp": []any{[]int64{2, 3}, []float32{0, 5, 0, 0, 0, 7}},
		"sc": []any{[]int64{2, 2}, []int64{0, 8, 9, 0}},
	}
	for name, w := range want {
		got := vals[name].([]any)
		gotShape := append([]int64{}, got[0].([]int64)...)
		if !reflect.DeepEqual(gotShape, w.([]any)[0]) || !reflect.DeepEqual(got[1], w.([]any)[1]) {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
}

func TestConstantsToInitializersErrors(t *testing.T) {
	cases := []struct {
		name string
		n    *onnxpb.NodeProto
		want string
	}{
		{"no value", node("Constant", "c", nil, []string{"c"}), "exactly one value attribute"},
		{"unknown attribute", node("Constant", "c", nil, []string{"c"}, intAttr("valu", 1)), `unknown value attribute "valu"`},
		{"no output", node("Constant", "c", nil, nil, intAttr("value_int", 1)), "one named output"},
		{"bad sparse", node("Constant", "c", nil, []string{"c"}, &onnxpb.AttributeProto{Name: "sparse_value", SparseTensor: &onnxpb.SparseTensorProto{
			Dims: []int64{2}, Values: floatInit("", []int64{1}, 1), Indices: int64Init("", []int64{1}, 7)}}), "out of range"},
		{"name clash", node("Constant", "c", nil, []string{"x"}, intAttr("value_int", 1)), `output "x" is already an initializer or graph input`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := ifGraph()
			sub := g.Node[1].Attribute[0].G
			// A valid Constant first: an error must not leave it converted.
			sub.Node = append([]*onnxpb.NodeProto{constNode("k", intAttr("value_int", 1))}, sub.Node...)
			g.Node = append(g.Node, c.n)
			m := model(13, g)
			before := proto.Clone(m)
			_, err := graph.ConstantsToInitializers(m)
			mustContain(t, err, c.want)
			if !proto.Equal(before, m) {
				t.Error("the model changed although the pass failed")
			}
		})
	}
}

// TestConstantsToInitializersInONNXRuntime converts models that keep
// their weights in Constant nodes, at the top level and inside If
// branches, and checks the results in ONNX Runtime.
func TestConstantsToInitializersInONNXRuntime(t *testing.T) {
	t.Run("mlp", func(t *testing.T) {
		m := testmodels.MLP(testmodels.MLPConfig{Seed: 3, WeightsAsConstants: true})
		in := map[string]*tensor.Tensor{"input": ramp([]int64{2, 64}, 1, 2)}
		r := checkParity(t, m, in, nil, 0)[0]
		if n := countOps(r.Graph, "Constant"); n != 0 || len(r.Graph.Initializer) == 0 {
			t.Errorf("%d Constant nodes left, %d initializers", n, len(r.Graph.Initializer))
		}
	})
	t.Run("if branches", func(t *testing.T) {
		m := testmodels.IfConstantBranches()
		for _, sign := range []float64{1, -1} {
			in := map[string]*tensor.Tensor{"input": ramp([]int64{3, 8}, 0.01, 0)}
			for i, v := range tensor.Values[float32](in["input"]) {
				tensor.Values[float32](in["input"])[i] = float32(sign) * (v*v + 0.1)
			}
			r := checkParity(t, m, in, nil, 0, 21)[0]
			for _, a := range r.Graph.Node[len(r.Graph.Node)-1].Attribute {
				b := a.GetG()
				if countOps(b, "Constant") != 0 || len(b.Initializer) == 0 {
					t.Errorf("branch %s: %s, %d initializers", a.Name, opTypes(b), len(b.Initializer))
				}
			}
		}
	})
}

func countOps(g *onnxpb.GraphProto, op string) int {
	n := 0
	for _, x := range g.GetNode() {
		if x.GetOpType() == op {
			n++
		}
	}
	return n
}
