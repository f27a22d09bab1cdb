package graph_test

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// oneOp is a model with a single node "n" of op over x → y (more outputs
// y1, y2, ... when nOut > 1).
func oneOp(opset int64, op string, x *onnxpb.ValueInfoProto, nOut int, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	outs := []string{"y"}
	vis := []*onnxpb.ValueInfoProto{{Name: "y", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: x.GetType().GetTensorType().GetElemType()}}}}}
	if nOut > 1 {
		outs, vis = nil, nil
		for i := 0; i < nOut; i++ {
			name := fmt.Sprintf("y%d", i)
			outs = append(outs, name)
			vis = append(vis, &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: x.GetType().GetTensorType().GetElemType()}}}})
		}
	}
	return model(opset, &onnxpb.GraphProto{
		Name:   op,
		Node:   []*onnxpb.NodeProto{node(op, "n", []string{x.GetName()}, outs, attrs...)},
		Input:  []*onnxpb.ValueInfoProto{x},
		Output: vis,
	})
}

func xInput(shape ...int64) map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"x": ramp(shape, 2, 1)}
}

func TestUpgradeAdaptersInONNXRuntime(t *testing.T) {
	cases := []struct {
		name    string
		m       *onnxpb.ModelProto
		shape   []int64
		targets []int
		want    string // op types after the upgrade to the last target
	}{
		{"Clip-6 min max", oneOp(7, "Clip", floatVI("x", 2, 3, 4), 1, floatAttr("min", -0.5), floatAttr("max", 0.75)), []int64{2, 3, 4}, []int{11, 13, 21}, "Clip"},
		{"Clip-6 max only", oneOp(7, "Clip", floatVI("x", 2, 3, 4), 1, floatAttr("max", 0.25)), []int64{2, 3, 4}, []int{11, 13}, "Clip"},
		{"Pad-2 constant", oneOp(7, "Pad", floatVI("x", 2, 3), 1, intsAttr("pads", 1, 0, 2, 3), floatAttr("value", 1.5)), []int64{2, 3}, []int{11, 13, 18, 21}, "Pad"},
		{"Pad-2 reflect", oneOp(7, "Pad", floatVI("x", 1, 2, 4, 4), 1, intsAttr("pads", 0, 0, 1, 2, 0, 0, 2, 1), stringAttr("mode", "reflect")), []int64{1, 2, 4, 4}, []int{11, 21}, "Pad"},
		{"Pad-2 edge", oneOp(7, "Pad", floatVI("x", 3, 4), 1, intsAttr("pads", 2, 1, 0, 3), stringAttr("mode", "edge")), []int64{3, 4}, []int{13}, "Pad"},
		{"Slice-1 axes", oneOp(7, "Slice", floatVI("x", 4, 5, 6), 1, intsAttr("starts", 1, 0), intsAttr("ends", 3, 1000), intsAttr("axes", 0, 2)), []int64{4, 5, 6}, []int{10, 13}, "Slice"},
		{"Slice-1 no axes", oneOp(7, "Slice", floatVI("x", 4, 5), 1, intsAttr("starts", 1, 2), intsAttr("ends", -1, 4)), []int64{4, 5}, []int{10, 21}, "Slice"},
		{"Split-2 sizes", oneOp(7, "Split", floatVI("x", 2, 6), 2, intAttr("axis", 1), intsAttr("split", 2, 4)), []int64{2, 6}, []int{13, 18, 21}, "Split"},
		{"Split-2 equal", oneOp(7, "Split", floatVI("x", 6, 2), 3), []int64{6, 2}, []int{13, 18}, "Split"},
		{"Squeeze-1 axes", oneOp(7, "Squeeze", floatVI("x", 2, 1, 3, 1), 1, intsAttr("axes", 1)), []int64{2, 1, 3, 1}, []int{13, 21}, "Squeeze"},
		{"Squeeze-1 all", oneOp(7, "Squeeze", floatVI("x", 2, 1, 3, 1), 1), []int64{2, 1, 3, 1}, []int{13}, "Squeeze"},
		{"Unsqueeze-1", oneOp(7, "Unsqueeze", floatVI("x", 2, 3), 1, intsAttr("axes", 0, 3)), []int64{2, 3}, []int{13, 21}, "Unsqueeze"},
		{"ReduceSum-1", oneOp(7, "ReduceSum", floatVI("x", 2, 3, 4), 1, intsAttr("axes", 1), intAttr("keepdims", 0)), []int64{2, 3, 4}, []int{13, 21}, "ReduceSum"},
		{"ReduceMean-1", oneOp(7, "ReduceMean", floatVI("x", 2, 3, 4), 1, intsAttr("axes", 0, 2)), []int64{2, 3, 4}, []int{13, 18, 21}, "ReduceMean"},
		{"ReduceMax-1 all axes", oneOp(7, "ReduceMax", floatVI("x", 2, 3, 4), 1, intAttr("keepdims", 0)), []int64{2, 3, 4}, []int{18, 21}, "ReduceMax"},
		{"ReduceLogSumExp-1", oneOp(7, "ReduceLogSumExp", floatVI("x", 2, 3, 4), 1, intsAttr("axes", 2)), []int64{2, 3, 4}, []int{18}, "ReduceLogSumExp"},
		{"ReduceL2-1", oneOp(7, "ReduceL2", floatVI("x", 2, 3, 4), 1, intsAttr("axes", 1)), []int64{2, 3, 4}, []int{21}, "ReduceL2"},
		{"Dropout-7 ratio", oneOp(7, "Dropout", floatVI("x", 2, 3), 1, floatAttr("ratio", 0.3)), []int64{2, 3}, []int{10, 12, 13, 21}, "Dropout"},
		{"Upsample-7 nearest", oneOp(7, "Upsample", floatVI("x", 1, 2, 3, 4), 1, floatsAttr("scales", 1, 1, 2, 3)), []int64{1, 2, 3, 4}, []int{9, 10, 11, 13, 21}, "Resize"},
		{"Upsample-7 linear", oneOp(7, "Upsample", floatVI("x", 1, 2, 3, 4), 1, floatsAttr("scales", 1, 1, 2, 2), stringAttr("mode", "linear")), []int64{1, 2, 3, 4}, []int{10, 11, 13, 19, 21}, "Resize"},
		{"TopK-1", oneOp(7, "TopK", floatVI("x", 3, 5), 2, intAttr("k", 2)), []int64{3, 5}, []int{10, 11, 13}, "TopK"},
		{"Softmax-1 axis 1 of 3-D", oneOp(7, "Softmax", floatVI("x", 2, 3, 4), 1), []int64{2, 3, 4}, []int{13, 21}, "Shape,Flatten,Softmax,Reshape"},
		{"Softmax-1 last axis", oneOp(7, "Softmax", floatVI("x", 2, 3, 4), 1, intAttr("axis", 2)), []int64{2, 3, 4}, []int{13}, "Softmax"},
		{"Softmax-1 unknown rank", oneOp(7, "Softmax", &onnxpb.ValueInfoProto{Name: "x", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1}}}}, 1, intAttr("axis", 1)), []int64{2, 2, 3}, []int{13}, "Shape,Flatten,Softmax,Reshape"},
		{"Softmax-1 axis 0", oneOp(7, "Softmax", floatVI("x", 2, 3), 1, intAttr("axis", 0)), []int64{2, 3}, []int{13}, "Shape,Flatten,Softmax,Reshape"},
		{"LogSoftmax-1", oneOp(7, "LogSoftmax", floatVI("x", 2, 3, 2, 2), 1, intAttr("axis", 2)), []int64{2, 3, 2, 2}, []int{13}, "Shape,Flatten,LogSoftmax,Reshape"},
		{"Hardmax-1", oneOp(7, "Hardmax", floatVI("x", 2, 3, 4), 1), []int64{2, 3, 4}, []int{13, 21}, "Shape,Flatten,Hardmax,Reshape"},
		{"Hardmax-11 negative last axis", oneOp(11, "Hardmax", floatVI("x", 2, 3, 4), 1, intAttr("axis", -1)), []int64{2, 3, 4}, []int{13}, "Hardmax"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms := checkParity(t, c.m, xInput(c.shape...), nil, c.targets...)
			last := ms[len(ms)-1]
			if got := opTypes(last.GetGraph()); got != c.want {
				t.Errorf("ops after upgrade to %d: %s, want %s", c.targets[len(c.targets)-1], got, c.want)
			}
		})
	}
}

func TestUpgradeResize10(t *testing.T) {
	resize := func(scales []float32, mode string, constant bool) *onnxpb.ModelProto {
		g := &onnxpb.GraphProto{
			Name:   "resize",
			Node:   []*onnxpb.NodeProto{node("Resize", "r", []string{"x", "scales"}, []string{"y"}, stringAttr("mode", mode))},
			Input:  []*onnxpb.ValueInfoProto{floatVI("x", 1, 1, 4, 6)},
			Output: []*onnxpb.ValueInfoProto{floatVI("y")},
		}
		if constant {
			g.Initializer = []*onnxpb.TensorProto{floatInit("scales", []int64{4}, scales...)}
		} else {
			g.Input = append(g.Input, floatVI("scales", 4))
		}
		return model(10, g)
	}
	inputs := func(scales []float32) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"x": ramp([]int64{1, 1, 4, 6}, 3, 2), "scales": tensor.MustNew([]int64{4}, scales)}
	}
	for _, c := range []struct {
		name   string
		scales []float32
		mode   string
		rounds string
	}{
		{"nearest up", []float32{1, 1, 2, 1.5}, "nearest", "floor"},
		{"nearest down", []float32{1, 1, 0.5, 0.6}, "nearest", "ceil"},
		{"linear up", []float32{1, 1, 2, 1.5}, "linear", ""},
		{"linear down", []float32{1, 1, 0.5, 0.7}, "linear", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := inputs(c.scales)
			delete(in, "scales")
			ms := checkParity(t, resize(c.scales, c.mode, true), in, nil, 11, 13, 21)
			n := ms[0].GetGraph().GetNode()[0]
			if got := attrS(n, "nearest_mode"); got != c.rounds {
				t.Errorf("nearest_mode %q, want %q", got, c.rounds)
			}
			if got := attrS(n, "coordinate_transformation_mode"); got != "asymmetric" {
				t.Errorf("coordinate_transformation_mode %q", got)
			}
		})
	}
	t.Run("linear dynamic scales", func(t *testing.T) {
		checkParity(t, resize(nil, "linear", false), inputs([]float32{1, 1, 1.5, 0.5}), nil, 11, 13)
	})
	t.Run("nearest mixed scales refused", func(t *testing.T) {
		err := graph.UpgradeOpset(resize([]float32{1, 1, 2, 0.5}, "nearest", true), 13)
		mustContain(t, err, `cannot upgrade node "r" (Resize) from opset 10 to 13`, "both up- and downscales")
	})
	t.Run("nearest dynamic scales refused", func(t *testing.T) {
		err := graph.UpgradeOpset(resize(nil, "nearest", false), 11)
		mustContain(t, err, `node "r" (Resize)`, `scales "scales" is not constant`)
	})
}

func attrS(n *onnxpb.NodeProto, name string) string {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return string(a.GetS())
		}
	}
	return ""
}

func TestUpgradeUpsample9AndScatter(t *testing.T) {
	up := model(9, &onnxpb.GraphProto{
		Name:        "up",
		Node:        []*onnxpb.NodeProto{node("Upsample", "u", []string{"x", "s"}, []string{"y"}, stringAttr("mode", "nearest"))},
		Initializer: []*onnxpb.TensorProto{floatInit("s", []int64{4}, 1, 1, 3, 2)},
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 1, 2, 2, 3)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y")},
	})
	checkParity(t, up, xInput(1, 2, 2, 3), nil, 10, 13, 21)
	// Upsample-10 is deprecated: a node already at opset 10 becomes a
	// Resize too; the reference is the opset-9 model's run.
	want, err := runModel(up, xInput(1, 2, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	up10 := proto.Clone(up).(*onnxpb.ModelProto)
	up10.OpsetImport[0].Version, up10.IrVersion = 10, 5
	ms := checkParity(t, up10, xInput(1, 2, 2, 3), want, 11, 13)
	if got := opTypes(ms[0].GetGraph()); got != "Resize" {
		t.Errorf("Upsample-10 became %s", got)
	}

	scatter := model(9, &onnxpb.GraphProto{
		Name:        "scatter",
		Node:        []*onnxpb.NodeProto{node("Scatter", "s", []string{"x", "idx", "upd"}, []string{"y"}, intAttr("axis", 1))},
		Initializer: []*onnxpb.TensorProto{int64Init("idx", []int64{2, 2}, 1, 0, 2, 3), floatInit("upd", []int64{2, 2}, 10, 20, 30, 40)},
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2, 4)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y")},
	})
	ms = checkParity(t, scatter, xInput(2, 4), nil, 11, 13, 18)
	if got := opTypes(ms[0].GetGraph()); got != "ScatterElements" {
		t.Errorf("Scatter became %s", got)
	}
}

// TestUpgradeLegacyBroadcast checks Add-6's broadcast/axis against values
// computed here: ONNX Runtime has no opset-6 Add to compare with.
func TestUpgradeLegacyBroadcast(t *testing.T) {
	a := ramp([]int64{2, 3, 4}, 1, 3)
	b := tensor.MustNew([]int64{3}, []float32{10, 20, 30})
	want := make([]float32, 24)
	av := tensor.Values[float32](a)
	for i := range want {
		want[i] = av[i] + tensor.Values[float32](b)[(i/4)%3]
	}
	wantOut := map[string]*tensor.Tensor{"y": tensor.MustNew([]int64{2, 3, 4}, want)}
	build := func(bAsInit bool) *onnxpb.ModelProto {
		g := &onnxpb.GraphProto{
			Name:   "add",
			Node:   []*onnxpb.NodeProto{node("Add", "add", []string{"x", "b"}, []string{"y"}, intAttr("broadcast", 1), intAttr("axis", 1))},
			Input:  []*onnxpb.ValueInfoProto{floatVI("x", 2, 3, 4)},
			Output: []*onnxpb.ValueInfoProto{floatVI("y", 2, 3, 4)},
		}
		if bAsInit {
			g.Initializer = []*onnxpb.TensorProto{floatInit("b", []int64{3}, 10, 20, 30)}
		} else {
			g.Input = append(g.Input, floatVI("b", 3))
		}
		return model(6, g)
	}
	t.Run("initializer", func(t *testing.T) {
		ms := checkParity(t, build(true), map[string]*tensor.Tensor{"x": a}, wantOut, 7, 13, 21)
		if got := opTypes(ms[1].GetGraph()); got != "Add" {
			t.Errorf("ops %s, want Add with a reshaped initializer", got)
		}
	})
	t.Run("input", func(t *testing.T) {
		ms := checkParity(t, build(false), map[string]*tensor.Tensor{"x": a, "b": b}, wantOut, 7, 13)
		if got := opTypes(ms[1].GetGraph()); got != "Unsqueeze,Add" {
			t.Errorf("ops %s, want Unsqueeze,Add", got)
		}
	})
	t.Run("unknown ranks refused", func(t *testing.T) {
		m := build(false)
		m.Graph.Input[1] = &onnxpb.ValueInfoProto{Name: "b", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1}}}}
		mustContain(t, graph.UpgradeOpset(m, 13), `cannot upgrade node "add" (Add) from opset 6 to 13`, "Add-7", `ranks of "x" and "b"`)
	})
	t.Run("trailing alignment needs nothing", func(t *testing.T) {
		m := build(true)
		m.Graph.Node[0].Attribute[1].I = 2
		m.Graph.Initializer[0] = floatInit("b", []int64{4}, 1, 2, 3, 4)
		if err := graph.UpgradeOpset(m, 13); err != nil {
			t.Fatal(err)
		}
		if n := m.Graph.Node[0]; len(n.Attribute) != 0 || n.Input[1] != "b" {
			t.Errorf("node %v", n)
		}
	})
}

// TestUpgradeOldSignatures covers opsets below 7, where ONNX Runtime has
// no kernels: the upgraded node's form is checked, then its values.
func TestUpgradeOldSignatures(t *testing.T) {
	testutil.InitORT(t)
	x := ramp([]int64{2, 3}, 2, 5)
	xs := tensor.Values[float32](x)
	t.Run("Cast-1 string to", func(t *testing.T) {
		m := oneOp(5, "Cast", floatVI("x", 2, 3), 1, stringAttr("to", "int32"))
		m.Graph.Output[0] = tensorVI("y", onnxpb.TensorProto_INT32, 2, 3)
		r := rewrite(t, m, 13)
		if a := r.Graph.Node[0].Attribute[0]; a.GetType() != onnxpb.AttributeProto_INT || a.GetI() != int64(onnxpb.TensorProto_INT32) {
			t.Fatalf("to = %v", a)
		}
		got, err := runModel(r, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range tensor.Values[int32](got["y"]) {
			if v != int32(xs[i]) {
				t.Fatalf("element %d: %d from %g", i, v, xs[i])
			}
		}
	})
	t.Run("Concat-1 default axis, Reshape-1 shape attribute", func(t *testing.T) {
		m := model(3, &onnxpb.GraphProto{
			Name: "old",
			Node: []*onnxpb.NodeProto{
				node("Concat", "cat", []string{"x", "x"}, []string{"c"}),
				node("Reshape", "rs", []string{"c"}, []string{"y"}, intsAttr("shape", 3, 4), intsAttr("consumed_inputs", 0)),
			},
			Input:  []*onnxpb.ValueInfoProto{floatVI("x", 2, 3)},
			Output: []*onnxpb.ValueInfoProto{floatVI("y", 3, 4)},
		})
		r := rewrite(t, m, 13)
		got, err := runModel(r, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		// Concat along axis 1: each row twice.
		var want []float32
		for row := 0; row < 2; row++ {
			want = append(want, xs[3*row:3*row+3]...)
			want = append(want, xs[3*row:3*row+3]...)
		}
		if err := compareTensors(got["y"], tensor.MustNew([]int64{3, 4}, want), false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Pad-1 paddings", func(t *testing.T) {
		m := oneOp(1, "Pad", floatVI("x", 2, 3), 1, intsAttr("paddings", 0, 1, 0, 0))
		r := rewrite(t, m, 13)
		got, err := runModel(r, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if s := got["y"].Shape(); s[0] != 2 || s[1] != 4 {
			t.Fatalf("shape %v", s)
		}
	})
	t.Run("BatchNormalization-6 is_test and consumed_inputs", func(t *testing.T) {
		m := model(6, &onnxpb.GraphProto{
			Name: "bn",
			Node: []*onnxpb.NodeProto{node("BatchNormalization", "bn", []string{"x", "s", "b", "mean", "var"}, []string{"y"},
				intAttr("is_test", 1), intsAttr("consumed_inputs", 0, 0, 0, 1, 1), floatAttr("epsilon", 1e-3))},
			// consumed_inputs belongs to BatchNormalization-1; exporters
			// kept writing it at opset 6.
			Initializer: []*onnxpb.TensorProto{floatInit("s", []int64{3}, 1, 2, 3), floatInit("b", []int64{3}, 0, 1, 0), floatInit("mean", []int64{3}, 0, 0.5, 1), floatInit("var", []int64{3}, 1, 4, 0.25)},
			Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2, 3)},
			Output:      []*onnxpb.ValueInfoProto{floatVI("y", 2, 3)},
		})
		r := rewrite(t, m, 15)
		if n := r.Graph.Node[0]; len(n.Attribute) != 1 || n.Attribute[0].GetName() != "epsilon" {
			t.Fatalf("attributes %v", n.Attribute)
		}
		got, err := runModel(r, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		scale, bias, mean, variance := []float64{1, 2, 3}, []float64{0, 1, 0}, []float64{0, 0.5, 1}, []float64{1, 4, 0.25}
		want := make([]float32, 6)
		for i := range want {
			c := i % 3
			want[i] = float32(scale[c]*(float64(xs[i])-mean[c])/math.Sqrt(variance[c]+1e-3) + bias[c])
		}
		if err := compareTensors(got["y"], tensor.MustNew([]int64{2, 3}, want), false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUpgradeRefusals(t *testing.T) {
	custom := &onnxpb.NodeProto{OpType: "Mystery", Domain: "example.custom", Name: "m", Input: []string{"x"}, Output: []string{"h"}}
	cases := []struct {
		name   string
		m      *onnxpb.ModelProto
		target int
		want   []string
	}{
		{"Tile-1", model(5, &onnxpb.GraphProto{
			Node:        []*onnxpb.NodeProto{node("Tile", "tile", []string{"x", "t", "a"}, []string{"y"})},
			Initializer: []*onnxpb.TensorProto{int64Init("t", []int64{1}, 2), int64Init("a", []int64{1}, 0)},
			Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2)}, Output: []*onnxpb.ValueInfoProto{floatVI("y")},
		}), 13, []string{`cannot upgrade node "tile" (Tile) from opset 5 to 13: no adapter from Tile-1 to Tile-6`}},
		{"experimental ImageScaler", oneOp(8, "ImageScaler", floatVI("x", 1, 3, 2, 2), 1, floatsAttr("bias", 1, 2, 3)), 13,
			[]string{`node "n" (ImageScaler) from opset 8 to 13`, "experimental operator removed in opset 10"}},
		{"unknown operator", oneOp(9, "Frobnicate", floatVI("x", 2), 1), 13, []string{`node "n" (Frobnicate)`, "unknown to infer's opset table"}},
		{"operator newer than the model", oneOp(9, "Gelu", floatVI("x", 2), 1), 13, []string{`(Gelu)`, "introduced in opset 20"}},
		{"BatchNormalization spatial=0", oneOp(7, "BatchNormalization", floatVI("x", 2, 3), 1, intAttr("spatial", 0)), 9,
			[]string{`node "n" (BatchNormalization) from opset 7 to 9`, "spatial=0"}},
		{"Dropout is_test=0", oneOp(6, "Dropout", floatVI("x", 2, 3), 1, intAttr("is_test", 0)), 13, []string{"is_test=0"}},
		{"Dropout mask used", model(7, &onnxpb.GraphProto{
			Node:  []*onnxpb.NodeProto{node("Dropout", "d", []string{"x"}, []string{"y", "mask"})},
			Input: []*onnxpb.ValueInfoProto{floatVI("x", 2)}, Output: []*onnxpb.ValueInfoProto{floatVI("y"), floatVI("mask")},
		}), 13, []string{`node "d" (Dropout)`, `mask output "mask" is used`}},
		{"Clip with unknown element type", model(7, &onnxpb.GraphProto{
			Node:  []*onnxpb.NodeProto{custom, node("Clip", "clip", []string{"h"}, []string{"y"}, floatAttr("min", 0))},
			Input: []*onnxpb.ValueInfoProto{floatVI("x", 2)}, Output: []*onnxpb.ValueInfoProto{floatVI("y")},
		}), 13, []string{`node "clip" (Clip)`, `element type of "h"`}},
		{"downgrade", oneOp(13, "Relu", floatVI("x", 2), 1), 11, []string{"downgrades are not supported"}},
		{"target too new", oneOp(13, "Relu", floatVI("x", 2), 1), graph.MaxOpset + 1, []string{"outside 1..21"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "Clip with unknown element type" {
				c.m.OpsetImport = append(c.m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "example.custom", Version: 1})
			}
			before := proto.Clone(c.m)
			err := graph.UpgradeOpset(c.m, c.target)
			mustContain(t, err, c.want...)
			if !proto.Equal(before, c.m) {
				t.Error("the model changed although the upgrade failed")
			}
		})
	}
}

// TestUpgradeSubgraphsAndDomains upgrades an If whose branches hold
// opset-11 Unsqueeze/Squeeze (axes attributes) reading outer values, next
// to a com.microsoft node, and checks the result in ONNX Runtime.
func TestUpgradeSubgraphsAndDomains(t *testing.T) {
	then := &onnxpb.GraphProto{
		Name:   "then",
		Node:   []*onnxpb.NodeProto{node("Unsqueeze", "then_unsq", []string{"x"}, []string{"t"}, intsAttr("axes", 0))},
		Output: []*onnxpb.ValueInfoProto{floatVI("t")},
	}
	els := &onnxpb.GraphProto{
		Name: "else",
		Node: []*onnxpb.NodeProto{
			node("Unsqueeze", "else_unsq", []string{"x"}, []string{"e0"}, intsAttr("axes", 0, 1)),
			node("Squeeze", "else_sq", []string{"e0"}, []string{"e"}, intsAttr("axes", 1)),
			node("Neg", "else_neg", []string{"e"}, []string{"en"}),
		},
		Output: []*onnxpb.ValueInfoProto{floatVI("en")},
	}
	gelu := &onnxpb.NodeProto{OpType: "Gelu", Domain: "com.microsoft", Name: "gelu", Input: []string{"y0"}, Output: []string{"y"}}
	m := model(11, &onnxpb.GraphProto{
		Name: "if",
		Node: []*onnxpb.NodeProto{
			node("If", "if", []string{"c"}, []string{"y0"}, graphAttr("then_branch", then), graphAttr("else_branch", els)),
			gelu,
		},
		Input:  []*onnxpb.ValueInfoProto{tensorVI("c", onnxpb.TensorProto_BOOL, 1), floatVI("x", 2, 3)},
		Output: []*onnxpb.ValueInfoProto{floatVI("y")},
	})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1})
	for _, cond := range []bool{true, false} {
		in := map[string]*tensor.Tensor{"c": tensor.MustNew([]int64{1}, []bool{cond}), "x": ramp([]int64{2, 3}, 1, 4)}
		ms := checkParity(t, m, in, nil, 13, 21)
		up := ms[0]
		if v := up.OpsetImport[1]; v.GetDomain() != "com.microsoft" || v.GetVersion() != 1 {
			t.Errorf("com.microsoft import changed: %v", v)
		}
		if up.GetIrVersion() != 7 {
			t.Errorf("ir_version %d, want 7 for opset 13", up.GetIrVersion())
		}
		thenUp := up.Graph.Node[0].Attribute[0].GetG()
		if len(thenUp.Initializer) != 1 || thenUp.Node[0].Input[1] != thenUp.Initializer[0].Name {
			t.Errorf("then branch: axes not an initializer of the branch: %v", thenUp)
		}
	}
}

// TestUpgradeRealModels upgrades whole models with old signatures and
// compares them in ONNX Runtime: the testmodels Legacy CNNs (opsets 7 and
// 9, IR 3 and 4), and the MNIST model zoo CNN (opset 7, IR 3) from the
// fixtures.
func TestUpgradeRealModels(t *testing.T) {
	in := map[string]*tensor.Tensor{"input": ramp([]int64{2, 8, 8}, 3, 9)}
	for _, opset := range []int64{7, 9} {
		t.Run(fmt.Sprintf("legacy opset %d", opset), func(t *testing.T) {
			m := testmodels.Legacy(opset)
			ms := checkParity(t, m, in, nil, 11, 13, 17, 21)
			for _, up := range ms {
				if strings.Contains(opTypes(up.Graph), "Upsample") {
					t.Errorf("Upsample left: %s", opTypes(up.Graph))
				}
			}
		})
	}
	t.Run("mnist", func(t *testing.T) {
		dir := testutil.Fixture(t, "mnist")
		m := readModel(t, filepath.Join(dir, "model.onnx"))
		x := readTensor(t, filepath.Join(dir, "test_data_set_0", "input_0.pb"))
		checkParity(t, m, map[string]*tensor.Tensor{"Input3": x}, nil, 13, 21)
	})
}

// TestUpgradeKeepsOriginalTensors checks the upgrade shares, and never
// writes, the original's weights, and replaces m.Graph as a whole.
func TestUpgradeKeepsOriginalTensors(t *testing.T) {
	m := testmodels.Legacy(7)
	old := m.Graph
	before := proto.Clone(old)
	w := old.Initializer[0]
	if err := graph.UpgradeOpset(m, 13); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, old) {
		t.Error("the original graph message changed")
	}
	if m.Graph.Initializer[0] != w {
		t.Error("the upgraded graph copied the weights instead of sharing them")
	}
	if err := graph.UpgradeOpset(m, 13); err != nil {
		t.Fatalf("second upgrade to the same opset: %v", err)
	}
}
