package graph_test

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestUpgradeOpset6Signatures covers adapters for opsets ONNX Runtime has
// no kernels for: references are computed here.
func TestUpgradeOpset6Signatures(t *testing.T) {
	testutil.InitORT(t)
	x := ramp([]int64{2, 3, 2, 2}, 2, 7)
	xs := tensor.Values[float32](x)
	t.Run("PRelu-6 per-channel slope", func(t *testing.T) {
		m := model(6, &onnxpb.GraphProto{
			Name:        "prelu",
			Node:        []*onnxpb.NodeProto{node("PRelu", "p", []string{"x", "slope"}, []string{"y"})},
			Initializer: []*onnxpb.TensorProto{floatInit("slope", []int64{3}, 0.1, 0.2, 0.3)},
			Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2, 3, 2, 2)},
			Output:      []*onnxpb.ValueInfoProto{floatVI("y", 2, 3, 2, 2)},
		})
		want := make([]float32, len(xs))
		for i, v := range xs {
			want[i] = v
			if v < 0 {
				want[i] = v * []float32{0.1, 0.2, 0.3}[(i/4)%3]
			}
		}
		checkParity(t, m, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"y": tensor.MustNew(x.Shape(), want)}, 7, 13)
	})
	t.Run("Gemm-6 broadcast", func(t *testing.T) {
		m := model(6, &onnxpb.GraphProto{
			Name:        "gemm",
			Node:        []*onnxpb.NodeProto{node("Gemm", "g", []string{"a", "b", "c"}, []string{"y"}, intAttr("broadcast", 1), floatAttr("beta", 2))},
			Initializer: []*onnxpb.TensorProto{floatInit("b", []int64{2, 2}, 1, 0, 0, 1), floatInit("c", []int64{2}, 10, 20)},
			Input:       []*onnxpb.ValueInfoProto{floatVI("a", 3, 2)},
			Output:      []*onnxpb.ValueInfoProto{floatVI("y", 3, 2)},
		})
		a := ramp([]int64{3, 2}, 1, 1)
		want := append([]float32{}, tensor.Values[float32](a)...)
		for i := range want {
			want[i] += 2 * []float32{10, 20}[i%2]
		}
		r := checkParity(t, m, map[string]*tensor.Tensor{"a": a}, map[string]*tensor.Tensor{"y": tensor.MustNew([]int64{3, 2}, want)}, 7, 13)[1]
		if len(r.Graph.Node[0].Attribute) != 1 {
			t.Errorf("attributes %v", r.Graph.Node[0].Attribute)
		}
	})
	t.Run("Split-1 sizes input", func(t *testing.T) {
		m := model(1, &onnxpb.GraphProto{
			Name:        "split",
			Node:        []*onnxpb.NodeProto{node("Split", "s", []string{"x", "sizes"}, []string{"y0", "y1"}, intAttr("axis", 1))},
			Initializer: []*onnxpb.TensorProto{int64Init("sizes", []int64{2}, 1, 2)},
			Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2, 3, 2, 2)},
			Output:      []*onnxpb.ValueInfoProto{floatVI("y0"), floatVI("y1")},
		})
		want := map[string]*tensor.Tensor{"y0": tensor.MustNew([]int64{2, 1, 2, 2}, append(append([]float32{}, xs[0:4]...), xs[12:16]...)),
			"y1": tensor.MustNew([]int64{2, 2, 2, 2}, append(append([]float32{}, xs[4:12]...), xs[16:24]...))}
		checkParity(t, m, map[string]*tensor.Tensor{"x": x}, want, 2, 13, 18)
	})
	t.Run("Upsample-1 bilinear", func(t *testing.T) {
		old := oneOp(6, "Upsample", floatVI("x", 2, 3, 2, 2), 1, floatAttr("height_scale", 2), floatAttr("width_scale", 3), stringAttr("mode", "bilinear"))
		ref := oneOp(7, "Upsample", floatVI("x", 2, 3, 2, 2), 1, floatsAttr("scales", 1, 1, 2, 3), stringAttr("mode", "linear"))
		want, err := runModel(ref, map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		checkParity(t, old, map[string]*tensor.Tensor{"x": x}, want, 7, 10, 13)
	})
	t.Run("LpPool-1 float p", func(t *testing.T) {
		m := oneOp(1, "LpPool", floatVI("x", 2, 3, 2, 2), 1, floatAttr("p", 2), intsAttr("kernel_shape", 2, 2))
		want := make([]float32, 6)
		for i := range want {
			var s float64
			for _, v := range xs[4*i : 4*i+4] {
				s += float64(v) * float64(v)
			}
			want[i] = float32(math.Sqrt(s))
		}
		r := checkParity(t, m, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"y": tensor.MustNew([]int64{2, 3, 1, 1}, want)}, 2, 13)[0]
		if a := r.Graph.Node[0].Attribute[0]; a.GetType() != onnxpb.AttributeProto_INT || a.GetI() != 2 {
			t.Errorf("p = %v", a)
		}
		bad := oneOp(1, "LpPool", floatVI("x", 2, 3, 2, 2), 1, floatAttr("p", 2.5), intsAttr("kernel_shape", 2, 2))
		mustContain(t, graph.UpgradeOpset(bad, 13), `node "n" (LpPool)`, "p=2.5 is not a whole number")
	})
	t.Run("GRU-1 output_sequence", func(t *testing.T) {
		m := model(1, &onnxpb.GraphProto{
			Node: []*onnxpb.NodeProto{node("GRU", "gru", []string{"x", "w", "r"}, []string{"y"}, intAttr("hidden_size", 1), intAttr("output_sequence", 1))},
			Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{1, 3, 2}, 1, 2, 3, 4, 5, 6),
				floatInit("r", []int64{1, 3, 1}, 1, 2, 3)},
			Input: []*onnxpb.ValueInfoProto{floatVI("x", 2, 1, 2)}, Output: []*onnxpb.ValueInfoProto{floatVI("y")},
		})
		if err := graph.UpgradeOpset(m, 14); err != nil {
			t.Fatal(err)
		}
		if a := m.Graph.Node[0].Attribute; len(a) != 1 || a[0].GetName() != "hidden_size" {
			t.Errorf("attributes %v", a)
		}
	})
}

func TestUpgradeRoiAlignAndOutputs(t *testing.T) {
	roi := model(10, &onnxpb.GraphProto{
		Name: "roi",
		Node: []*onnxpb.NodeProto{node("RoiAlign", "ra", []string{"x", "rois", "idx"}, []string{"y"},
			intAttr("output_height", 2), intAttr("output_width", 2), intAttr("sampling_ratio", 2))},
		Initializer: []*onnxpb.TensorProto{floatInit("rois", []int64{1, 4}, 0.5, 0.5, 3, 2.5), int64Init("idx", []int64{1}, 0)},
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 1, 1, 4, 4)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y")},
	})
	r := checkParity(t, roi, xInput(1, 1, 4, 4), nil, 16, 21)[0]
	if got := attrS(r.Graph.Node[0], "coordinate_transformation_mode"); got != "output_half_pixel" {
		t.Errorf("coordinate_transformation_mode %q", got)
	}

	// Dropout with an unused mask output, and BatchNormalization with
	// unused training outputs: the outputs go, the values stay.
	m := model(9, &onnxpb.GraphProto{
		Name: "outs",
		Node: []*onnxpb.NodeProto{
			node("Dropout", "drop", []string{"x"}, []string{"d", "mask"}),
			node("BatchNormalization", "bn", []string{"d", "s", "b", "mean", "var"}, []string{"y", "m1", "v1", "sm", "sv"}),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("s", []int64{2}, 1, 2), floatInit("b", []int64{2}, 0, 1), floatInit("mean", []int64{2}, 0, 1), floatInit("var", []int64{2}, 1, 2)},
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 3, 2)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y", 3, 2)},
	})
	if err := graph.UpgradeOpset(m, 15); err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Node[0].Output) != 1 || len(m.Graph.Node[1].Output) != 1 {
		t.Errorf("outputs %v / %v", m.Graph.Node[0].Output, m.Graph.Node[1].Output)
	}
	if err := graph.Validate(m); err != nil {
		t.Fatal(err)
	}
	used := model(9, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{node("BatchNormalization", "bn", []string{"x", "s", "b", "mean", "var"}, []string{"y", "m1"})},
		Initializer: m.Graph.Initializer,
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 3, 2)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y"), floatVI("m1")},
	})
	mustContain(t, graph.UpgradeOpset(used, 14), `node "bn" (BatchNormalization) from opset 9 to 14`, `training-mode output "m1" is used`)
}

// TestUpgradeUsesPropagatedTypes checks that ranks and element types
// known only through other nodes let adapters take their simple forms.
func TestUpgradeUsesPropagatedTypes(t *testing.T) {
	noShape := func(name string, elem onnxpb.TensorProto_DataType) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(elem)}}}}
	}
	m := model(7, &onnxpb.GraphProto{
		Name: "types",
		Node: []*onnxpb.NodeProto{
			node("Gemm", "gemm", []string{"a", "w", "bias"}, []string{"g"}),             // rank 2
			node("Softmax", "sm", []string{"g"}, []string{"p"}),                         // axis 1 of rank 2: kept
			node("Reshape", "rs", []string{"p", "shape"}, []string{"r"}),                // rank 3 from the constant shape
			node("Relu", "relu", []string{"r"}, []string{"q"}),                          // rank and type pass through
			node("LogSoftmax", "lsm", []string{"q"}, []string{"l"}, intAttr("axis", 2)), // last axis: kept
			node("Cast", "cast", []string{"l"}, []string{"c"}, intAttr("to", int64(onnxpb.TensorProto_DOUBLE))),
			node("Clip", "clip", []string{"c"}, []string{"y"}, floatAttr("min", -1)),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{4, 6}, make([]float32, 24)...), int64Init("shape", []int64{3}, 2, 3, 2), floatInit("bias", []int64{6}, 1, 2, 3, 4, 5, 6)},
		Input:       []*onnxpb.ValueInfoProto{noShape("a", onnxpb.TensorProto_FLOAT)},
		Output:      []*onnxpb.ValueInfoProto{noShape("y", onnxpb.TensorProto_DOUBLE)},
	})
	in := map[string]*tensor.Tensor{"a": ramp([]int64{2, 4}, 1, 0)}
	m.Graph.Initializer[0] = floatInit("w", []int64{4, 6}, tensor.Values[float32](ramp([]int64{24}, 1, 5))...)
	// ONNX Runtime has no double Clip-6: the reference model clips the
	// float values, which the Cast then widens exactly.
	ref := proto.Clone(m).(*onnxpb.ModelProto)
	ref.Graph.Node[5], ref.Graph.Node[6] = ref.Graph.Node[6], ref.Graph.Node[5]
	ref.Graph.Node[5].Input[0], ref.Graph.Node[5].Output[0] = "l", "cl"
	ref.Graph.Node[6].Input[0], ref.Graph.Node[6].Output[0] = "cl", "y"
	want, err := runModel(ref, in)
	if err != nil {
		t.Fatal(err)
	}
	r := checkParity(t, m, in, want, 13)[0]
	if got := opTypes(r.Graph); got != "Gemm,Softmax,Reshape,Relu,LogSoftmax,Cast,Clip" {
		t.Errorf("ops %s", got)
	}
	for _, init := range r.Graph.Initializer {
		if init.Name == r.Graph.Node[6].Input[1] && init.GetDataType() != int32(onnxpb.TensorProto_DOUBLE) {
			t.Errorf("Clip min is %s, want DOUBLE", onnxpb.TensorProto_DataType(init.GetDataType()))
		}
	}
}

// TestUpgradeFunctions upgrades a model-local function's body with the
// model (its constants become Constant nodes) and runs it in ONNX Runtime.
func TestUpgradeFunctions(t *testing.T) {
	f := &onnxpb.FunctionProto{
		Name: "UnsqSoftmax", Domain: "local", Input: []string{"a"}, Output: []string{"b"},
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: "", Version: 11}},
		Node: []*onnxpb.NodeProto{
			node("Unsqueeze", "u", []string{"a"}, []string{"ua"}, intsAttr("axes", 0)),
			node("Softmax", "s", []string{"ua"}, []string{"b"}, intAttr("axis", 1)),
		},
	}
	m := model(11, &onnxpb.GraphProto{
		Name:   "calls",
		Node:   []*onnxpb.NodeProto{{OpType: "UnsqSoftmax", Domain: "local", Name: "call", Input: []string{"x"}, Output: []string{"y"}}},
		Input:  []*onnxpb.ValueInfoProto{floatVI("x", 2, 3)},
		Output: []*onnxpb.ValueInfoProto{floatVI("y")},
	})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "local", Version: 1})
	m.Functions = []*onnxpb.FunctionProto{f}
	r := checkParity(t, m, xInput(2, 3), nil, 13)[0]
	body := r.Functions[0]
	if got := opTypes(&onnxpb.GraphProto{Node: body.Node}); got != "Constant,Unsqueeze,Shape,Flatten,Softmax,Reshape" {
		t.Errorf("function body %s", got)
	}
	if body.OpsetImport[0].GetVersion() != 13 || f.OpsetImport[0].GetVersion() != 11 {
		t.Errorf("function opsets: upgraded %d, original %d", body.OpsetImport[0].GetVersion(), f.OpsetImport[0].GetVersion())
	}
	// Left at 11 under a model at 13, the body means something else.
	stale := proto.Clone(r).(*onnxpb.ModelProto)
	stale.Functions[0] = f
	mustContain(t, graph.Validate(stale), `function "UnsqSoftmax": node "u" (Unsqueeze): resolves to Unsqueeze-11 under the function's default opset 11 but to Unsqueeze-13 under the model's 13`)
}
