package half

import (
	"math"
	"slices"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// awkwardModel exercises what the Python converters get wrong: blocked
// operators (Resize, TopK, CumSum, Max, Range) between half values, a
// Range whose length changes if its float32 operands are rounded to half,
// Cast nodes to float32 from integers, to float32 from float32 and through
// float64 and back, ConstantOfShape without a value, a node blocked by
// name and a Loop whose body carries a float state and holds a Constant.
func awkwardModel() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("awkward_half", 18)
	x := b.Input("input", tensor.Float32, "N", 4, 8, 8)
	r := testmodels.NewRand(5)
	w := b.Initializer("conv.weight", []int64{4, 4, 3, 3}, r.He([]int64{4, 4, 3, 3}, 36))
	h := b.Op("Conv", []string{x, w}, testmodels.AttrInts("pads", 1, 1, 1, 1))

	scales := b.Initializer("resize.scales", []int64{4}, []float32{1, 1, 2, 2})
	up := b.Op("Resize", []string{h, "", scales}, testmodels.AttrString("mode", "nearest"))
	b.Node("ReduceMean", []string{up, b.InitializerInt64("resized.axes", []int64{3}, []int64{1, 2, 3})}, []string{"resized"}, testmodels.AttrInt("keepdims", 0))
	b.Output("resized", tensor.Float32, "N")

	k := b.InitializerInt64("topk.k", []int64{1}, []int64{3})
	b.Node("TopK", []string{h, k}, []string{"topk_values", "topk_indices"})
	cum := b.Op("CumSum", []string{"topk_values", b.InitializerInt64("cumsum.axis", nil, []int64{3})})
	b.Node("Max", []string{cum, b.Initializer("max.floor", nil, []float32{0.25})}, []string{"topk_max"})
	b.Output("topk_max", tensor.Float32, "N", 4, 8, 3)

	// float32: 1/0.1 rounds to 10 values; in float16 0.1 is 0.09998 and
	// Range would make 11.
	rng := b.Op("Range", []string{
		b.Initializer("range.start", nil, []float32{0}),
		b.Initializer("range.limit", nil, []float32{1}),
		b.Initializer("range.delta", nil, []float32{0.1}),
	})
	b.Node("Mul", []string{rng, b.Initializer("range.scale", nil, []float32{3})}, []string{"ramp"})
	b.Output("ramp", tensor.Float32, 10)

	// Cast int64 → float32, float32 → float32, float32 → float64 → float32.
	shapeF := b.Op("Cast", []string{b.Op("Shape", []string{x})}, testmodels.AttrInt("to", 1))
	same := b.Op("Cast", []string{h}, testmodels.AttrInt("to", 1))
	wide := b.Op("Cast", []string{same}, testmodels.AttrInt("to", int64(tensor.Float64)))
	back := b.Op("Cast", []string{wide}, testmodels.AttrInt("to", 1))
	pooled := b.Op("ReduceMean", []string{back, b.InitializerInt64("pool.axes", []int64{2}, []int64{2, 3})}, testmodels.AttrInt("keepdims", 0))
	// The int64 → float32 Cast feeds a blocked node and a half one.
	scaled := b.Node("Mul", []string{pooled, shapeF}, []string{"scaled"})
	scaled.Name = "keep_me_float"
	sum := b.Op("ReduceSum", []string{shapeF}, testmodels.AttrInt("keepdims", 1))
	zeros := b.Op("ConstantOfShape", []string{b.InitializerInt64("zeros.shape", []int64{1}, []int64{4})})
	b.Node("Add", []string{b.Op("Div", []string{"scaled", sum}), zeros}, []string{"pooled"})
	b.Output("pooled", tensor.Float32, "N", 4)

	body := testmodels.NewSubgraph("body").WeightsAsConstants()
	body.Input("body/i", tensor.Int64)
	body.Input("body/cond", tensor.Bool)
	body.Input("body/state", tensor.Float32, "N", 4)
	step := body.Initializer("body/step", []int64{4}, []float32{0.5, -0.25, 1, 2})
	next := body.Op("Mul", []string{body.Op("Add", []string{"body/state", step}), "pooled"})
	body.Node("Identity", []string{"body/cond"}, []string{"body/cond_out"})
	body.Node("Tanh", []string{next}, []string{"body/state_out"})
	body.Output("body/cond_out", tensor.Bool)
	body.Output("body/state_out", tensor.Float32, "N", 4)
	trips := b.InitializerInt64("loop.trips", nil, []int64{3})
	cond := b.AddTensor(&onnxpb.TensorProto{Name: "loop.cond", DataType: int32(tensor.Bool), Int32Data: []int32{1}})
	b.Node("Loop", []string{trips, cond, "pooled"}, []string{"looped"}, testmodels.AttrGraph("body", body.Graph()))
	b.Output("looped", tensor.Float32, "N", 4)
	return b.Model()
}

func TestAwkwardModel(t *testing.T) {
	testutil.InitORT(t)
	ref := awkwardModel()
	opts := DefaultOptions(tensor.Float16)
	opts.BlockNodes = []string{"keep_me_float"}
	got, res := convert(t, ref, opts)
	t.Logf("%+v", *res)

	wantBlocked := []string{"Resize_0", "TopK_0", "CumSum_0", "Max_0", "Range_0", "keep_me_float"}
	for _, name := range wantBlocked {
		if !slices.Contains(res.Blocked, name) {
			t.Errorf("Blocked %v lacks %q", res.Blocked, name)
		}
	}
	if res.CastsRemoved < 2 {
		t.Errorf("CastsRemoved = %d, want ≥ 2 (float32→float32, float64 round trip)", res.CastsRemoved)
	}
	checkNoCastPairs(t, got)

	inits := map[string]tensor.DType{}
	for _, in := range got.Graph.Initializer {
		inits[in.GetName()] = tensor.DType(in.GetDataType())
	}
	for name, want := range map[string]tensor.DType{
		"conv.weight": tensor.Float16, "resize.scales": tensor.Float32,
		"range.start": tensor.Float32, "range.delta": tensor.Float32,
		"range.scale": tensor.Float16, "max.floor": tensor.Float32,
		"topk.k": tensor.Int64,
	} {
		if inits[name] != want {
			t.Errorf("initializer %q is %s, want %s", name, inits[name], want)
		}
	}
	producers := map[string]*onnxpb.NodeProto{}
	for _, n := range got.Graph.Node {
		for _, o := range n.Output {
			producers[o] = n
		}
	}
	for _, n := range got.Graph.Node {
		switch {
		case n.GetOpType() == "Resize":
			// Its data input is cast to float32 from the half Conv output.
			if p := producers[n.Input[0]]; p == nil || p.GetOpType() != "Cast" || castTo(p) != tFloat {
				t.Errorf("Resize reads %q, not a Cast to float32", n.Input[0])
			}
		case n.GetOpType() == "Cast" && producers[n.Input[0]] != nil && producers[n.Input[0]].GetOpType() == "Shape":
			// int64 → float32 Cast feeds the blocked Mul: it keeps float32
			// (the ReduceSum reads a Cast of it to float16).
			if castTo(n) != tFloat {
				t.Errorf("Cast of the shape goes to %s, want float32", tensor.DType(castTo(n)))
			}
		case n.GetOpType() == "Cast" && castTo(n) == int32(tensor.Float64):
			t.Errorf("float64 round trip %q left", n.GetName())
		case n.GetOpType() == "ConstantOfShape":
			if v := attrOf(n, "value"); v == nil || v.GetT().GetDataType() != tF16 {
				t.Errorf("ConstantOfShape value not float16")
			}
		}
	}
	for _, g := range graphs(got.Graph)[1:] {
		for _, v := range append(g.Input, g.Output...) {
			if v.GetName() == "body/state" || v.GetName() == "body/state_out" {
				if elemOf(v) != tensor.Float16 {
					t.Errorf("loop body %q is %s, want float16", v.GetName(), elemOf(v))
				}
			}
		}
	}

	feeds := randomFeeds(t, ref, 7)
	want, have := run(t, ref, feeds), run(t, got, feeds)
	if n := have["ramp"].Len(); n != 10 {
		t.Errorf("Range made %d values, want 10", n)
	}
	for name := range want {
		db := sqnr(t, map[string]*tensor.Tensor{name: want[name]}, map[string]*tensor.Tensor{name: have[name]})
		t.Logf("%s: SQNR %.1f dB", name, db)
		if db < minSQNRFloat16 && !math.IsInf(db, 1) {
			t.Errorf("%s: SQNR %.1f dB, want ≥ %.0f", name, db, minSQNRFloat16)
		}
	}
}

func TestBFloat16AwkwardCPU(t *testing.T) {
	testutil.InitORT(t)
	ref := awkwardModel()
	opts := DefaultOptions(tensor.BFloat16Type)
	opts.BlockOps = CPUBlockOps(ref, tensor.BFloat16Type)
	got, res := convert(t, ref, opts)
	t.Logf("%+v", *res)
	checkNoCastPairs(t, got)
	feeds := randomFeeds(t, ref, 8)
	if db := sqnr(t, run(t, ref, feeds), run(t, got, feeds)); db < minSQNRBFloat16 {
		t.Errorf("SQNR %.1f dB", db)
	}
}
