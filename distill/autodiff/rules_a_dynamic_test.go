package autodiff

import (
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// aGradValues builds the training graph of m as gradCheck does (value_info
// from a run on feeds, the loss Σ_outputs Σ y⊙R) and returns the gradients
// of wrt computed by ONNX Runtime. With dynamic, every dimension of the
// graph's inputs, outputs and value_info is first made unknown (ranks
// stay), so the rules take their run-time paths.
func aGradValues(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor, wrt []string, dynamic bool) map[string]*tensor.Tensor {
	t.Helper()
	testutil.InitORT(t)
	m = proto.Clone(m).(*onnxpb.ModelProto)
	annotate(t, m, feeds)
	train := withLoss(t, m, 1)
	if dynamic {
		g := train.Graph
		for _, vs := range [][]*onnxpb.ValueInfoProto{g.Input, g.ValueInfo, g.Output} {
			for _, v := range vs {
				for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
					d.Value = nil
				}
			}
		}
	}
	grads, err := Gradients(train, "gc_loss", wrt)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrt {
		train.Graph.Output = append(train.Graph.Output, valueInfoUnknownShape(grads[w]))
	}
	s, err := ort.NewSessionFromModel(train, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]*tensor.Tensor{}
	for _, w := range wrt {
		res[w] = out[grads[w]]
	}
	return res
}

// TestRulesWithDynamicShapes checks that the run-time shape paths (Concat
// sizes, Slice end padding, ReduceMean counts, Tile shapes, MatMul batch
// reduction, Gather on axis 1, Split zeros) give the same gradients as the
// static paths, which the finite-difference tests verify. Tolerance:
// 1e-5 relative to max(1, |g|), float32 rounding only.
func TestRulesWithDynamicShapes(t *testing.T) {
	b, p := aShapeModel("dynamic", 17)
	u := b.Initializer("u", []int64{2, 1, 4}, aVals(randTensor(3, []int64{2, 1, 4}, 0, 0)))
	mw := b.Initializer("mw", []int64{4, 5}, aVals(randTensor(4, []int64{4, 5}, 0, 0)))
	ints := func(name string, v ...int64) string {
		return b.InitializerInt64(name, []int64{int64(len(v))}, v)
	}
	cat := b.Op("Concat", []string{p, u, p}, testmodels.AttrInt("axis", 1)) // [2,7,4]
	b.Node("Slice", []string{cat, ints("s", 2, 1), ints("e", 6, math.MaxInt64), ints("a", 1, -1)}, []string{"sl"})
	b.Output("sl", tensor.Float32)
	b.Node("ReduceMean", []string{cat}, []string{"rm"}, testmodels.AttrInts("axes", 0, 1), testmodels.AttrInt("keepdims", 0))
	b.Output("rm", tensor.Float32)
	b.Node("Tile", []string{p, ints("reps", 1, 2, 2)}, []string{"ti"})
	b.Output("ti", tensor.Float32)
	b.Node("MatMul", []string{cat, mw}, []string{"mm"})
	b.Output("mm", tensor.Float32)
	b.Node("Gather", []string{cat, b.InitializerInt64("gi", []int64{2, 2}, []int64{0, -1, 3, 0})}, []string{"ga"}, testmodels.AttrInt("axis", 1))
	b.Output("ga", tensor.Float32)
	b.Node("Split", []string{cat, ints("sz", 3, 4)}, []string{"sp0", "sp1"}, testmodels.AttrInt("axis", 1))
	b.Output("sp1", tensor.Float32)
	m := b.Model()
	wrt := []string{"x", "w", "u", "mw"}
	defaultCheck.run(t, m, aFeedX(), wrt...)
	static := aGradValues(t, m, aFeedX(), wrt, false)
	dynamic := aGradValues(t, m, aFeedX(), wrt, true)
	for _, w := range wrt {
		s, d := aVals(static[w]), aVals(dynamic[w])
		if len(s) != len(d) {
			t.Fatalf("%s: %d static gradient elements, %d dynamic", w, len(s), len(d))
		}
		for i := range s {
			if math.Abs(float64(s[i]-d[i])) > 1e-5*math.Max(1, math.Abs(float64(s[i]))) {
				t.Errorf("%s[%d]: static %g, dynamic %g", w, i, s[i], d[i])
			}
		}
	}
}

// TestRulesAtLaterOpsets runs rules whose forward forms or emitted nodes
// change after opset 17 (ReduceMean and ReduceMax with axes as an input,
// Split with num_outputs, Pad, Shape with start/end, ScatterND, Gelu from
// 20) at opsets 18, 21 and 22 through the finite-difference check.
func TestRulesAtLaterOpsets(t *testing.T) {
	for _, opset := range []int64{18, 21, 22} {
		t.Run(fmt.Sprint(opset), func(t *testing.T) {
			// Distinct values (for ReduceMax) scaled by w in [0.98, 1.02).
			b, p := aShapeModelW("later", opset, 0.98, 1.02)
			ints := func(name string, v ...int64) string {
				return b.InitializerInt64(name, []int64{int64(len(v))}, v)
			}
			b.Node("ReduceMean", []string{p, ints("ax", 0, -1)}, []string{"rm"}, testmodels.AttrInt("keepdims", 0))
			b.Output("rm", tensor.Float32)
			b.Node("ReduceMax", []string{p, ints("ax2", 1)}, []string{"rx"})
			b.Output("rx", tensor.Float32)
			b.Node("Split", []string{p}, []string{"s0", "s1"}, testmodels.AttrInt("axis", 2), testmodels.AttrInt("num_outputs", 2))
			b.Output("s0", tensor.Float32)
			b.Node("Slice", []string{p, ints("st", 1), ints("en", 3), ints("sa", 2)}, []string{"sl"})
			b.Output("sl", tensor.Float32)
			b.Node("Concat", []string{p, p}, []string{"c"}, testmodels.AttrInt("axis", -1))
			b.Output("c", tensor.Float32)
			b.Node("Gather", []string{p, b.InitializerInt64("gi", []int64{3}, []int64{2, 2, 0})}, []string{"g"}, testmodels.AttrInt("axis", 2))
			b.Output("g", tensor.Float32)
			if opset >= 20 {
				b.Node("Gelu", []string{p}, []string{"ge"})
				b.Output("ge", tensor.Float32)
			}
			m := b.Model()
			defaultCheck.run(t, m, map[string]*tensor.Tensor{"x": aSpread(1, []int64{2, 3, 4}, 0.15)}, "x", "w")
		})
	}
}
