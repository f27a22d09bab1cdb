package autodiff

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestReduceMeanRule checks ReduceMean with two axes and keepdims 0, with
// one negative axis and keepdims 1, and over all axes (opset 17: axes as
// an attribute; TestRulesAtOpset21 checks the axes input).
func TestReduceMeanRule(t *testing.T) {
	b, p := aShapeModel("mean", 17)
	b.Node("ReduceMean", []string{p}, []string{"m1"}, testmodels.AttrInts("axes", 0, 2), testmodels.AttrInt("keepdims", 0))
	b.Output("m1", tensor.Float32)
	b.Node("ReduceMean", []string{p}, []string{"m2"}, testmodels.AttrInts("axes", -2))
	b.Output("m2", tensor.Float32)
	b.Node("ReduceMean", []string{p}, []string{"m3"}, testmodels.AttrInt("keepdims", 0))
	b.Output("m3", tensor.Float32)
	defaultCheck.run(t, b.Model(), aFeedX(), "x", "w")
}

// TestReduceOtherRules checks ReduceMax, ReduceMin (on distinct values at
// least 0.1 apart, so no tie lies within ±eps), ReduceSumSquare,
// ReduceLogSumExp, ReduceL1 (on values at least 0.1 from 0) and ReduceL2,
// with keepdims 0 and 1.
func TestReduceOtherRules(t *testing.T) {
	b := testmodels.NewBuilder("reduce", 17)
	x := b.Input("x", tensor.Float32, 2, 3, 4)
	w := b.Initializer("w", []int64{3, 4}, aVals(randTensor(2, []int64{3, 4}, 0.98, 1.02)))
	p := b.Op("Mul", []string{x, w})
	for _, c := range []struct {
		op   string
		keep int64
		axes []int64
	}{
		{"ReduceMax", 0, []int64{1, 2}},
		{"ReduceMin", 1, []int64{0}},
		{"ReduceMax", 1, nil},
		{"ReduceSumSquare", 0, []int64{-1}},
		{"ReduceLogSumExp", 1, []int64{1}},
		{"ReduceL1", 0, []int64{0, 2}},
		{"ReduceL2", 1, []int64{2}},
	} {
		out := b.Unique(c.op)
		attrs := []*onnxpb.AttributeProto{testmodels.AttrInt("keepdims", c.keep)}
		if c.axes != nil {
			attrs = append(attrs, testmodels.AttrInts("axes", c.axes...))
		}
		b.Node(c.op, []string{p}, []string{out}, attrs...)
		b.Output(out, tensor.Float32)
	}
	// Magnitudes ≥ 0.15 and gaps ≥ 0.15 before the weight's ±2 % scaling
	// (which moves a value by at most 0.04).
	xs := aSpread(1, []int64{2, 3, 4}, 0.15)
	for i, v := range aVals(xs) {
		if v >= 0 {
			aVals(xs)[i] = v + 0.15
		}
	}
	defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": xs}, "x", "w")
}
