package autodiff

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// aShapeModel starts a model with x [2,3,4] (an input) times w [3,4] (a
// weight) and returns the builder and the product; tests add the op under
// test and check "x" and "w".
func aShapeModel(name string, opset int64) (*testmodels.Builder, string) {
	return aShapeModelW(name, opset, 0, 0)
}

// aShapeModelW is aShapeModel with w uniform in [lo, hi) (normal when
// lo ≥ hi).
func aShapeModelW(name string, opset int64, lo, hi float64) (*testmodels.Builder, string) {
	b := testmodels.NewBuilder(name, opset)
	x := b.Input("x", tensor.Float32, 2, 3, 4)
	w := b.Initializer("w", []int64{3, 4}, aVals(randTensor(2, []int64{3, 4}, lo, hi)))
	return b, b.Op("Mul", []string{x, w})
}

func aFeedX() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3, 4}, 0, 0)}
}

// TestReshapeFamilyRules checks Flatten (axes 0 and 2), Reshape (with −1
// and 0 in the shape), Squeeze and Unsqueeze.
func TestReshapeFamilyRules(t *testing.T) {
	b, p := aShapeModel("reshape", 17)
	b.Node("Flatten", []string{p}, []string{"f2"}, testmodels.AttrInt("axis", 2))
	b.Output("f2", tensor.Float32)
	b.Node("Flatten", []string{p}, []string{"f0"}, testmodels.AttrInt("axis", 0))
	b.Output("f0", tensor.Float32)
	r := b.Op("Reshape", []string{p, b.InitializerInt64("shape", []int64{4}, []int64{0, 1, -1, 2})})
	u := b.Op("Unsqueeze", []string{r, b.InitializerInt64("uax", []int64{2}, []int64{0, -1})})
	b.Node("Squeeze", []string{u, b.InitializerInt64("sax", []int64{2}, []int64{0, 2})}, []string{"s"})
	b.Output("s", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
}

// TestTransposeRule checks perms [2,0,1], [1,0,2] and the default
// (reversed axes).
func TestTransposeRule(t *testing.T) {
	for _, perm := range [][]int64{{2, 0, 1}, {1, 0, 2}, nil} {
		t.Run(fmt.Sprint(perm), func(t *testing.T) {
			b, p := aShapeModel("transpose", 17)
			var attrs []*onnxpb.AttributeProto
			if perm != nil {
				attrs = append(attrs, testmodels.AttrInts("perm", perm...))
			}
			b.Node("Transpose", []string{p}, []string{"y"}, attrs...)
			b.Output("y", tensor.Float32)
			defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
		})
	}
}

// TestConcatRule checks three inputs of different sizes on axis 1 (and
// the same concatenation written with axis −2).
func TestConcatRule(t *testing.T) {
	for _, axis := range []int64{1, -2} {
		t.Run(fmt.Sprint(axis), func(t *testing.T) {
			b, p := aShapeModel("concat", 17)
			u := b.Initializer("u", []int64{2, 1, 4}, aVals(randTensor(3, []int64{2, 1, 4}, 0, 0)))
			v := b.Initializer("v", []int64{1, 2, 4}, aVals(randTensor(4, []int64{1, 2, 4}, 0, 0)))
			ve := b.Op("Expand", []string{v, b.InitializerInt64("vs", []int64{3}, []int64{2, 2, 4})})
			b.Node("Concat", []string{u, p, ve}, []string{"y"}, testmodels.AttrInt("axis", axis))
			b.Output("y", tensor.Float32)
			defaultCheck.run(t, b.Model(), aFeedX(), "x", "w", "u", "v")
		})
	}
}

// TestSplitRule checks Split with uneven sizes [1,3,2] on axis 2 where the
// middle output does not reach the loss (its gradient is zeros), and an
// even split on axis 0 (opset 18's num_outputs form is checked in
// TestRulesAtOpset21).
func TestSplitRule(t *testing.T) {
	b := testmodels.NewBuilder("split", 17)
	x := b.Input("x", tensor.Float32, 2, 3, 6)
	w := b.Initializer("w", []int64{3, 6}, aVals(randTensor(2, []int64{3, 6}, 0, 0)))
	p := b.Op("Mul", []string{x, w})
	b.Node("Split", []string{p, b.InitializerInt64("sizes", []int64{3}, []int64{1, 3, 2})}, []string{"a", "unused", "c"}, testmodels.AttrInt("axis", 2))
	b.Output("a", tensor.Float32)
	b.Output("c", tensor.Float32)
	b.Node("Split", []string{p, b.InitializerInt64("halves", []int64{2}, []int64{1, 1})}, []string{"d", "e"})
	b.Output("d", tensor.Float32)
	b.Output("e", tensor.Float32)
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3, 6}, 0, 0)}
	defaultCheck.run(t, b.Model(), feeds, "x", "w")
}

// TestSliceRule checks Slice with negative starts, ends past the end
// (INT64_MAX), explicit axes (one negative) and steps of 1, a start
// before the beginning (−100, clamped to 0), and the form without axes.
func TestSliceRule(t *testing.T) {
	b, p := aShapeModel("slice", 17)
	ints := func(name string, v ...int64) string {
		return b.InitializerInt64(name, []int64{int64(len(v))}, v)
	}
	b.Node("Slice", []string{p, ints("s1", -3, 1), ints("e1", math.MaxInt64, -1), ints("a1", -1, 1), ints("st1", 1, 1)}, []string{"y1"})
	b.Output("y1", tensor.Float32)
	b.Node("Slice", []string{p, ints("s2", 1, 0), ints("e2", 2, 2)}, []string{"y2"})
	b.Output("y2", tensor.Float32)
	b.Node("Slice", []string{p, ints("s3", -100), ints("e3", 2), ints("a3", 2)}, []string{"y3"})
	b.Output("y3", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
}

// TestSliceStepsError checks the error for a step other than 1.
func TestSliceStepsError(t *testing.T) {
	b, p := aShapeModel("slice2", 17)
	ints := func(name string, v ...int64) string {
		return b.InitializerInt64(name, []int64{int64(len(v))}, v)
	}
	b.Node("Slice", []string{p, ints("s", 0), ints("e", 4), ints("a", 2), ints("st", 2)}, []string{"y"})
	b.Node("ReduceSum", []string{"y"}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
	b.Output("loss", tensor.Float32)
	m := b.Model()
	annotate(t, m, aFeedX())
	_, err := Gradients(m, "loss", []string{"w"})
	if err == nil || !strings.Contains(err.Error(), "Slice with steps other than 1") {
		t.Fatalf("got %v", err)
	}
}

// TestExpandTileRules checks Expand ([3,1] and [4] against [2,3,4]) and
// Tile with repeats [2,1,3].
func TestExpandTileRules(t *testing.T) {
	b, p := aShapeModel("expand", 17)
	u := b.Initializer("u", []int64{3, 1}, []float32{0.5, -1, 2})
	v := b.Initializer("v", []int64{4}, []float32{1, 2, -3, 0.25})
	shape := b.InitializerInt64("shape", []int64{3}, []int64{2, 3, 4})
	b.Node("Expand", []string{u, shape}, []string{"eu"})
	b.Output("eu", tensor.Float32)
	b.Node("Expand", []string{v, b.InitializerInt64("shape2", []int64{2}, []int64{3, 1})}, []string{"ev"})
	b.Output("ev", tensor.Float32)
	b.Node("Tile", []string{p, b.InitializerInt64("reps", []int64{3}, []int64{2, 1, 3})}, []string{"t"})
	b.Output("t", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w", "u", "v")
}

// TestGatherRule checks an embedding lookup (axis 0, indices [2,3] with
// repeats and a negative index), a scalar index, int32 indices, and a
// gather on axis 1.
func TestGatherRule(t *testing.T) {
	b := testmodels.NewBuilder("gather", 17)
	x := b.Input("x", tensor.Float32, 5, 4)
	emb := b.Initializer("emb", []int64{5, 4}, aVals(randTensor(2, []int64{5, 4}, 0, 0)))
	e := b.Op("Mul", []string{x, emb})
	idx := b.InitializerInt64("idx", []int64{2, 3}, []int64{1, 3, 1, 0, -1, 3})
	b.Node("Gather", []string{e, idx}, []string{"y"})
	b.Output("y", tensor.Float32)
	b.Node("Gather", []string{emb, b.InitializerInt64("one", nil, []int64{2})}, []string{"z"})
	b.Output("z", tensor.Float32)
	b.Node("Gather", []string{e, b.InitializerInt64("cols", []int64{3}, []int64{2, 0, 2})}, []string{"c"}, testmodels.AttrInt("axis", 1))
	b.Output("c", tensor.Float32)
	i32 := b.AddTensor(&onnxpb.TensorProto{Name: "i32", DataType: int32(tensor.Int32), Dims: []int64{3}, Int32Data: []int32{4, 4, -2}})
	b.Node("Gather", []string{e, i32}, []string{"d"})
	b.Output("d", tensor.Float32)
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{5, 4}, 0, 0)}
	defaultCheck.run(t, b.Model(), feeds, "x", "emb")
}

// TestDropoutCastRules checks Dropout in inference mode (a ratio, and
// training_mode a constant false), and a float32 → float32 Cast.
func TestDropoutCastRules(t *testing.T) {
	b, p := aShapeModel("dropout", 17)
	ratio := b.Initializer("ratio", nil, []float32{0.3})
	off := b.AddTensor(&onnxpb.TensorProto{Name: "off", DataType: int32(tensor.Bool), Int32Data: []int32{0}})
	b.Node("Dropout", []string{p, ratio}, []string{"d1"})
	b.Output("d1", tensor.Float32)
	b.Node("Dropout", []string{p, ratio, off}, []string{"d2", "mask"})
	b.Output("d2", tensor.Float32)
	b.Node("Cast", []string{p}, []string{"c"}, testmodels.AttrInt("to", int64(tensor.Float32)))
	b.Output("c", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
}

// TestDropoutTrainingMode checks dropout in training mode, whose random
// mask defeats finite differences: with Y = Dropout(X ⊙ W) and the loss
// Σ Y, dL/dW = X ⊙ mask/(1 − ratio), so W ⊙ dW must equal Y in the same
// run, zero where dropped and non-zero elsewhere.
func TestDropoutTrainingMode(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("dropout_train", 17)
	x := b.Input("x", tensor.Float32, 8, 8)
	w := b.Initializer("w", []int64{8, 8}, aVals(randTensor(2, []int64{8, 8}, 0.5, 1.5)))
	on := b.AddTensor(&onnxpb.TensorProto{Name: "on", DataType: int32(tensor.Bool), Int32Data: []int32{1}})
	ratio := b.Initializer("ratio", nil, []float32{0.25})
	b.Node("Dropout", []string{b.Op("Mul", []string{x, w}), ratio, on}, []string{"y"})
	b.Output("y", tensor.Float32, 8, 8)
	b.Node("ReduceSum", []string{"y"}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
	b.Output("loss", tensor.Float32)
	m := b.Model()
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{8, 8}, 0.5, 1.5)}
	annotate(t, m, feeds)
	grads, err := Gradients(m, "loss", []string{"w"})
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Output = append(m.Graph.Output, valueInfoUnknownShape(grads["w"]))
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	y, dw, wv := aVals(out["y"]), aVals(out[grads["w"]]), aVals(randTensor(2, []int64{8, 8}, 0.5, 1.5))
	dropped := 0
	for i := range y {
		if y[i] == 0 {
			dropped++
		}
		if d := math.Abs(float64(wv[i]*dw[i] - y[i])); d > 1e-5 {
			t.Fatalf("element %d: w·dw = %g, y = %g", i, wv[i]*dw[i], y[i])
		}
	}
	if dropped == 0 || dropped == len(y) {
		t.Fatalf("%d of %d elements dropped", dropped, len(y))
	}
}

// TestCastRuleErrors checks that a Cast between float types other than
// float32 → float32 stops with an error, and that a Cast from an integer
// value simply has no gradient.
func TestCastRuleErrors(t *testing.T) {
	b, p := aShapeModel("cast", 17)
	h := b.Op("Cast", []string{p}, testmodels.AttrInt("to", int64(tensor.Float64)))
	b.Node("ReduceSum", []string{h}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
	b.Output("loss", tensor.Float64)
	m := b.Model()
	annotate(t, m, aFeedX())
	_, err := Gradients(m, "loss", []string{"w"})
	if err == nil || !strings.Contains(err.Error(), "Cast from float32 to float64") {
		t.Fatalf("got %v", err)
	}

	// The number of elements of a weight-dependent value, as float32,
	// scales the loss: Size and the Cast from int64 pass no gradient.
	b, p = aShapeModel("cast2", 17)
	size := b.Op("Cast", []string{b.Op("Size", []string{p})}, testmodels.AttrInt("to", int64(tensor.Float32)))
	b.Node("Mul", []string{b.Op("ReduceSum", []string{p}, testmodels.AttrInt("keepdims", 0)), size}, []string{"y"})
	b.Output("y", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
}
