package prep_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

// shapeString prints a value_info shape as [?,16,32,32] (? for a
// dimension without value or parameter), or "" when there is none.
func shapeString(vi *onnxpb.ValueInfoProto) string {
	sh := vi.GetType().GetTensorType().GetShape()
	if sh == nil {
		return ""
	}
	parts := make([]string, len(sh.GetDim()))
	for i, d := range sh.GetDim() {
		switch v := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			parts[i] = fmt.Sprint(v.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			parts[i] = v.DimParam
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func valueInfos(g *onnxpb.GraphProto) map[string]*onnxpb.ValueInfoProto {
	out := make(map[string]*onnxpb.ValueInfoProto)
	for _, vi := range g.GetValueInfo() {
		out[vi.GetName()] = vi
	}
	return out
}

func TestInferShapesCNN(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.CNN(testmodels.CNNConfig{})
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	vis := valueInfos(m.Graph)
	// After folding: conv → relu per stage, maxpool between stages,
	// then pooling, flatten and the classifier (a graph output).
	wantShapes := map[string]string{
		"Conv": "", "Relu": "", "MaxPool": "", "GlobalAveragePool": "[?,64,1,1]", "Flatten": "[?,64]",
	}
	intermediates := 0
	for _, n := range m.Graph.Node {
		o := n.Output[0]
		if o == "logits" {
			continue
		}
		intermediates++
		vi := vis[o]
		if vi == nil {
			t.Fatalf("%s output %q has no value_info", n.OpType, o)
		}
		if et := tensor.DType(vi.GetType().GetTensorType().GetElemType()); et != tensor.Float32 {
			t.Errorf("%q: element type %s, want float32", o, et)
		}
		sh := shapeString(vi)
		if want, ok := wantShapes[n.OpType]; ok && want != "" && sh != want {
			t.Errorf("%s output %q: shape %s, want %s", n.OpType, o, sh, want)
		}
		if !strings.HasPrefix(sh, "[?,") {
			t.Errorf("%q: shape %s, want a dynamic batch first", o, sh)
		}
	}
	if res.ValueInfoAdded != intermediates {
		t.Fatalf("added %d, want %d", res.ValueInfoAdded, intermediates)
	}
	// The first stage at 32×32 with 16 channels.
	if sh := shapeString(vis[m.Graph.Node[0].Output[0]]); sh != "[?,16,32,32]" {
		t.Fatalf("first conv: %s, want [?,16,32,32]", sh)
	}
}

// Integer values get integer types; existing entries are completed, not
// replaced; a second Run adds nothing.
func TestInferShapesTypes(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("types", 17)
	x := b.Input("input", tensor.Float32, "N", 4)
	s := b.Op("Shape", []string{x})
	r := b.Op("Relu", []string{x})
	f := b.Op("Reshape", []string{r, s})
	b.Node("Cast", []string{f}, []string{"output"}, testmodels.AttrInt("to", int64(tensor.Float64)))
	b.Output("output", tensor.Float64, "N", 4)
	m := b.Model()
	// A declared type without shape is completed with the shape.
	m.Graph.ValueInfo = append(m.Graph.ValueInfo, &onnxpb.ValueInfoProto{Name: r, Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32)}}}})

	opts := prep.Options{InferShapes: true}
	res, err := prep.Run(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	vis := valueInfos(m.Graph)
	for name, want := range map[string]struct {
		dt    tensor.DType
		shape string
	}{s: {tensor.Int64, "[2]"}, r: {tensor.Float32, "[?,4]"}, f: {tensor.Float32, "[?,4]"}} {
		vi := vis[name]
		if got := tensor.DType(vi.GetType().GetTensorType().GetElemType()); got != want.dt || shapeString(vi) != want.shape {
			t.Errorf("%q: %s %s, want %s %s", name, got, shapeString(vi), want.dt, want.shape)
		}
	}
	if res.ValueInfoAdded != 3 || len(m.Graph.ValueInfo) != 3 {
		t.Fatalf("added %d, %d entries; want 3", res.ValueInfoAdded, len(m.Graph.ValueInfo))
	}
	again, err := prep.Run(m, opts)
	if err != nil || again.ValueInfoAdded != 0 {
		t.Fatalf("second run added %d (%v)", again.ValueInfoAdded, err)
	}
}

// A model that only runs with its dynamic dimension at 1: the second run
// fails, so the rank is recorded with every dimension unknown.
func TestInferShapesSecondRunFails(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("batch1", 17)
	x := b.Input("input", tensor.Float32, "N", 4)
	r := b.Op("Relu", []string{x})
	b.Node("Reshape", []string{r, b.InitializerInt64("shape", []int64{2}, []int64{1, 4})}, []string{"output"})
	b.Output("output", tensor.Float32, 1, 4)
	m := b.Model()
	res, err := prep.Run(m, prep.Options{InferShapes: true})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	vi := valueInfos(m.Graph)[r]
	if got := tensor.DType(vi.GetType().GetTensorType().GetElemType()); got != tensor.Float32 || shapeString(vi) != "[?,?]" {
		t.Fatalf("%q: %s %s, want float32 [?,?]", r, got, shapeString(vi))
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "at no second shape") {
		t.Fatalf("no note about the failed run: %q", res.Notes)
	}
}

// A text recognizer's width after a stride-32 backbone is 1 at input
// widths 1 and 2, which the shape runs once used: it was recorded as a
// fixed 1, and ONNX Runtime then failed the written model at any real
// width ("Shape mismatch attempting to re-use buffer"). The runs now use
// realistic sizes, and what they record leaves the model before it is
// written.
func TestRecordedShapesDoNotFixDynamicDims(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("strided", 13)
	r := testmodels.NewRand(1)
	x := b.Input("x", tensor.Float32, "N", 3, 48, "W")
	w := b.Initializer("w", []int64{8, 3, 48, 32}, r.He([]int64{8, 3, 48, 32}, 3*48*32))
	c := b.Op("Conv", []string{x, w}, testmodels.AttrInts("kernel_shape", 48, 32), testmodels.AttrInts("strides", 48, 32))
	p := b.Op("Relu", []string{c})
	b.Node("Flatten", []string{p}, []string{"y"}, testmodels.AttrInt("axis", 1))
	b.Output("y", tensor.Float32, "N", "F")
	m := b.Model()
	res, err := prep.Run(m, prep.Options{InferShapes: true})
	if err != nil {
		t.Fatal(err)
	}
	if sh := shapeString(valueInfos(m.Graph)[c]); sh != "[?,8,1,?]" {
		t.Fatalf("conv output recorded as %s, want [?,8,1,?] (height fixed by the kernel, width dynamic)", sh)
	}
	if n := prep.DropRecordedShapes(m.Graph, res.RecordedShapes); n != 2 {
		t.Fatalf("dropped %d shapes, want 2", n)
	}
	for _, vi := range m.Graph.ValueInfo {
		if vi.GetType().GetTensorType().GetShape() != nil || vi.GetType().GetTensorType().GetElemType() != int32(tensor.Float32) {
			t.Fatalf("%s keeps %v after DropRecordedShapes", vi.GetName(), vi.GetType())
		}
	}
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, width := range []int64{1280, 640} {
		feeds := map[string]*tensor.Tensor{"x": mustZeros(t, []int64{2, 3, 48, width})}
		out, err := s.Run(feeds)
		if err != nil {
			t.Fatalf("width %d: %v", width, err)
		}
		if got := out["y"].Shape(); got[1] != 8*width/32 {
			t.Fatalf("width %d: output %v", width, got)
		}
	}
}

func mustZeros(t *testing.T, shape []int64) *tensor.Tensor {
	t.Helper()
	z, err := tensor.Zeros(tensor.Float32, shape)
	if err != nil {
		t.Fatal(err)
	}
	return z
}
