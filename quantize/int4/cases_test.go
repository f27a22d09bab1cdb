package int4

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestGemm folds alpha into the scales and beta·C into the bias input, for
// transB 0 and 1 and biases [N], [1, N] and scalar, and checks ORT's
// output against the layers recomputed in Go from the decoded weights.
func TestGemm(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(4)
	b := testmodels.NewBuilder("gemms", 17)
	x := b.Input("x", tensor.Float32, "N", 64)
	type layer struct {
		name        string
		k, n        int64
		transB      bool
		alpha, beta float32
		cShape      []int64
	}
	layers := []layer{
		{"g1", 64, 128, true, 1, 1, []int64{128}},
		{"g2", 128, 96, false, 0.5, 2, []int64{1, 96}},
		{"g3", 96, 80, false, 1, 1, nil},
		{"g4", 80, 48, true, 1.5, 0.25, []int64{48}},
	}
	bias := map[string][]float32{}
	h := x
	for i, l := range layers {
		wShape := []int64{l.k, l.n}
		if l.transB {
			wShape = []int64{l.n, l.k}
		}
		w := b.Initializer(l.name+".weight", wShape, r.Normal(wShape, 1/math.Sqrt(float64(l.k))))
		c := b.Initializer(l.name+".bias", l.cShape, r.Normal(l.cShape, 0.5))
		bias[l.name] = tensor.Values[float32](initializer(t, b.Model().GetGraph(), c))
		out := "y"
		if i < len(layers)-1 {
			out = l.name + ".out"
		}
		b.Node("Gemm", []string{h, w, c}, []string{out},
			testmodels.AttrInt("transB", int64(btoi(l.transB))),
			testmodels.AttrFloat("alpha", l.alpha), testmodels.AttrFloat("beta", l.beta)).Name = l.name
		h = out
	}
	b.Output("y", tensor.Float32, "N", 48)
	float := b.Model()

	for _, sym := range []bool{true, false} {
		m := proto.Clone(float).(*onnxpb.ModelProto)
		res, err := Quantize(m, Options{Symmetric: sym, MinElements: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := graph.Validate(m); err != nil {
			t.Fatal(err)
		}
		if res.Quantized != 4 || len(res.Skipped) != 0 {
			t.Fatalf("result %+v", res)
		}
		nodes := nodesOf(m.GetGraph(), "MatMulNBits")
		const rows = 5
		in := randomInput([]int64{rows, 64}, 5)
		want := tensor.Values[float32](in)
		for i, n := range nodes {
			l := layers[i]
			if n.GetName() != l.name || len(n.GetInput()) != 6 || n.GetInput()[4] != "" {
				t.Fatalf("node %s inputs %q", n.GetName(), n.GetInput())
			}
			if sym != (n.GetInput()[3] == "") {
				t.Fatalf("node %s zero points %q with symmetric %v", n.GetName(), n.GetInput()[3], sym)
			}
			// A bias usable as it is keeps its initializer; one folded
			// into a new bias goes.
			reuse := l.beta == 1 && len(l.cShape) == 1
			if reuse != (n.GetInput()[5] == l.name+".bias") || reuse != (initializerOrNil(m.GetGraph(), l.name+".bias") != nil) {
				t.Errorf("node %s bias %q", n.GetName(), n.GetInput()[5])
			}
			y := matmul(want, decode(t, m.GetGraph(), n), rows, int(l.k), int(l.n))
			c := bias[l.name]
			for j := range y {
				v := c[0]
				if len(c) > 1 {
					v = c[j%int(l.n)]
				}
				y[j] += l.beta * v
			}
			want = y
		}
		got := run(t, m, map[string]*tensor.Tensor{"x": in})["y"]
		if e := relErr(want, got); e > refTol {
			t.Errorf("symmetric %v: ORT vs Go: relative error %.2g > %g", sym, e, refTol)
		}
		ref := run(t, float, map[string]*tensor.Tensor{"x": in})["y"]
		t.Logf("symmetric %v: SQNR vs float %.2f dB after 4 layers", sym, sqnr(ref, got))
		if s := sqnr(ref, got); s < minStackSQNR {
			t.Errorf("SQNR %.2f dB", s)
		}
	}
}

// TestMLPDefaults: the zero Options quantize the MLP's two hidden layers
// and keep the 64×10 classifier float, as smaller than DefaultMinElements.
func TestMLPDefaults(t *testing.T) {
	testutil.InitORT(t)
	float := testmodels.MLP(testmodels.MLPConfig{})
	m := proto.Clone(float).(*onnxpb.ModelProto)
	res, err := Quantize(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Quantized != 2 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "640 values, fewer than the minimum 1024") {
		t.Fatalf("result %+v", res)
	}
	// Asymmetric by default: zero points present.
	for _, n := range nodesOf(m.GetGraph(), "MatMulNBits") {
		if n.GetInput()[3] == "" || attrInt(n, "block_size") != DefaultBlockSize {
			t.Errorf("node %s: inputs %q, block size %d", n.GetName(), n.GetInput(), attrInt(n, "block_size"))
		}
	}
	x := randomInput([]int64{16, 64}, 6)
	ref := run(t, float, map[string]*tensor.Tensor{"input": x})["logits"]
	got := run(t, m, map[string]*tensor.Tensor{"input": x})["logits"]
	t.Logf("MLP logits SQNR %.2f dB; %s", sqnr(ref, got), res)
	if s := sqnr(ref, got); s < minStackSQNR {
		t.Errorf("SQNR %.2f dB", s)
	}
}

// TestSkips builds one model with a node for each reason to stay float
// and checks the reasons, that the rest is quantized, and that ORT runs
// the result with the float nodes' outputs unchanged.
func TestSkips(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(8)
	b := testmodels.NewBuilder("skips", 17)
	x := b.Input("x", tensor.Float32, 4, 64)
	xt := b.Input("xt", tensor.Float32, 64, 4)
	w := func(name string, shape ...int64) string {
		return b.Initializer(name, shape, r.Normal(shape, 0.1))
	}
	var outs []string
	node := func(name, op string, inputs []string, attrs ...*onnxpb.AttributeProto) {
		b.Node(op, inputs, []string{name + ".y"}, attrs...).Name = name
		outs = append(outs, name+".y")
		if name == "batched" {
			b.Output(name+".y", tensor.Float32, 2, 4, 32)
		} else {
			b.Output(name+".y", tensor.Float32, 4, 32)
		}
	}
	node("computed", "MatMul", []string{x, b.Op("Transpose", []string{w("wt", 32, 64)})})
	node("overridable", "MatMul", []string{x, w("winput", 64, 32)})
	shared := w("wshared", 64, 32)
	node("shared", "MatMul", []string{x, shared})
	node("excluded", "MatMul", []string{x, shared})
	node("short", "MatMul", []string{b.Op("Slice", []string{x,
		b.InitializerInt64("starts", []int64{1}, []int64{0}), b.InitializerInt64("ends", []int64{1}, []int64{16}),
		b.InitializerInt64("axes", []int64{1}, []int64{1})}), w("wshort", 16, 32)})
	bad := r.Normal([]int64{64, 32}, 0.1)
	bad[100] = float32(math.Inf(1))
	node("nonfinite", "MatMul", []string{x, b.Initializer("wbad", []int64{64, 32}, bad)})
	node("batched", "MatMul", []string{x, w("w3d", 2, 64, 32)})
	node("transA", "Gemm", []string{xt, w("wta", 64, 32)}, testmodels.AttrInt("transA", 1))
	node("rowbias", "Gemm", []string{x, w("wrb", 64, 32), w("crb", 4, 32)})
	pair := w("wpair", 64, 32)
	node("pair1", "MatMul", []string{x, pair})
	node("pair2", "MatMul", []string{x, pair})
	node("gemmpair", "Gemm", []string{x, pair})
	float := b.Model()
	float.Graph.Input = append(float.Graph.Input, testmodels.ValueInfo("winput", tensor.Float32, 64, 32))

	m := proto.Clone(float).(*onnxpb.ModelProto)
	res, err := Quantize(m, Options{MinElements: 1, ExcludeNodes: []string{"excluded"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Validate(m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"computed":    `weight "Transpose_0_out" is not a constant initializer`,
		"overridable": `weight "winput" is also a graph input`,
		"excluded":    "excluded (ExcludeNodes)",
		"shared":      `weight "wshared" is also read by "excluded", which stays float`,
		"short":       `weight "wshort" has K = 16, less than one block of 32`,
		"nonfinite":   `weight "wbad" cannot be quantized: W[3, 4] is +Inf`,
		"batched":     `weight "w3d" has shape [2 64 32], not a matrix`,
		"transA":      "transA = 1",
		"rowbias":     `bias "crb" has shape [4 32]`,
	}
	got := map[string]string{}
	for _, sk := range res.Skipped {
		got[sk.Node] = sk.Reason
	}
	for node, reason := range want {
		if !strings.Contains(got[node], reason) {
			t.Errorf("%s: reason %q, want %q", node, got[node], reason)
		}
	}
	if len(got) != len(want) {
		t.Errorf("skipped %v", res.Skipped)
	}
	// pair1 and pair2 share one packing; gemmpair (transB = 0, alpha 1)
	// packs the same way, so it shares it too.
	if res.Quantized != 3 || res.WeightBytesBefore != 4*64*32 {
		t.Fatalf("quantized %d, bytes before %d", res.Quantized, res.WeightBytesBefore)
	}
	nb := nodesOf(m.GetGraph(), "MatMulNBits")
	if len(nb) != 3 || nb[0].GetInput()[1] != nb[1].GetInput()[1] || nb[0].GetInput()[1] != nb[2].GetInput()[1] {
		t.Fatalf("MatMulNBits nodes %v", nb)
	}
	if initializerOrNil(m.GetGraph(), "wpair") != nil || initializerOrNil(m.GetGraph(), "wshared") == nil {
		t.Error("wpair should be gone and wshared kept")
	}

	inputs := map[string]*tensor.Tensor{"x": randomInput([]int64{4, 64}, 9), "xt": randomInput([]int64{64, 4}, 10)}
	ref := run(t, float, inputs)
	q := run(t, m, inputs)
	for _, o := range outs {
		name := strings.TrimSuffix(o, ".y")
		s := sqnr(ref[o], q[o])
		_, skipped := got[name]
		switch {
		case name == "nonfinite":
		case skipped && !math.IsInf(s, 1):
			t.Errorf("%s stayed float but its output changed (SQNR %.1f dB)", name, s)
		case !skipped && s < minMatMulSQNR:
			t.Errorf("%s: SQNR %.1f dB", name, s)
		}
	}
}

// TestSubgraphs quantizes MatMuls inside If branches with their own
// weights, and keeps float a weight of the main graph that a branch reads.
func TestSubgraphs(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(11)
	b := testmodels.NewBuilder("branches", 17)
	x := b.Input("x", tensor.Float32, "N", 64)
	cond := b.Input("cond", tensor.Bool)
	outer := b.Initializer("outer.weight", []int64{64, 32}, r.Normal([]int64{64, 32}, 0.1))
	b.Node("MatMul", []string{x, outer}, []string{"main.y"}).Name = "main_mm"

	then := testmodels.NewSubgraph("then")
	tw := then.Initializer("then.weight", []int64{64, 32}, r.Normal([]int64{64, 32}, 0.1))
	then.Node("MatMul", []string{x, tw}, []string{"then.y"}).Name = "then_mm"
	then.Output("then.y", tensor.Float32, "N", 32)
	els := testmodels.NewSubgraph("else")
	els.Node("MatMul", []string{x, outer}, []string{"else.y"}).Name = "else_mm"
	els.Output("else.y", tensor.Float32, "N", 32)
	b.Node("If", []string{cond}, []string{"if.y"},
		testmodels.AttrGraph("then_branch", then.Graph()), testmodels.AttrGraph("else_branch", els.Graph()))
	b.Output("main.y", tensor.Float32, "N", 32)
	b.Output("if.y", tensor.Float32, "N", 32)
	float := b.Model()

	m := proto.Clone(float).(*onnxpb.ModelProto)
	res, err := Quantize(m, Options{MinElements: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Validate(m); err != nil {
		t.Fatal(err)
	}
	if res.Quantized != 1 || len(res.Skipped) != 2 ||
		!strings.Contains(res.Skipped[0].Reason, `"outer.weight" is also read inside a subgraph of "If_0"`) ||
		!strings.Contains(res.Skipped[1].Reason, "not a constant initializer of the node's graph") {
		t.Fatalf("quantized %d, skipped %+v", res.Quantized, res.Skipped)
	}
	x0 := randomInput([]int64{3, 64}, 12)
	for _, c := range []bool{true, false} {
		in := map[string]*tensor.Tensor{"x": x0, "cond": tensor.MustNew([]int64{}, []bool{c})}
		ref, got := run(t, float, in), run(t, m, in)
		s := sqnr(ref["if.y"], got["if.y"])
		if c && s < minMatMulSQNR || !c && !math.IsInf(s, 1) {
			t.Errorf("cond %v: SQNR %.1f dB", c, s)
		}
	}
}

// TestVectorInput pins that ONNX Runtime's MatMulNBits takes a rank-1 A
// as MatMul does, so such MatMuls need no skip.
func TestVectorInput(t *testing.T) {
	testutil.InitORT(t)
	m := matmulModel(64, 32, 13)
	m.Graph.Input[0] = testmodels.ValueInfo("x", tensor.Float32, 64)
	m.Graph.Output[0] = testmodels.ValueInfo("y", tensor.Float32, 32)
	if res, err := Quantize(m, Options{MinElements: 1}); err != nil || res.Quantized != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	x := randomInput([]int64{64}, 14)
	got := run(t, m, map[string]*tensor.Tensor{"x": x})["y"]
	want := matmul(tensor.Values[float32](x), decode(t, m.GetGraph(), nodesOf(m.GetGraph(), "MatMulNBits")[0]), 1, 64, 32)
	if len(got) != 32 || relErr(want, got) > refTol {
		t.Fatalf("got %d values, relative error %.2g", len(got), relErr(want, got))
	}
}

// TestAgain: a quantized model has nothing left to quantize, and the
// opset import is added once.
func TestAgain(t *testing.T) {
	m := matmulModel(64, 32, 15)
	for i, want := range []int{1, 0} {
		res, err := Quantize(m, Options{MinElements: 1})
		if err != nil || res.Quantized != want {
			t.Fatalf("pass %d: %+v, %v", i, res, err)
		}
	}
	n := 0
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == Domain {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d com.microsoft imports", n)
	}
}

func TestBadInput(t *testing.T) {
	good := matmulModel(64, 32, 16)
	nilNode := matmulModel(64, 32, 16)
	nilNode.Graph.Node = append(nilNode.Graph.Node, nil)
	for _, tc := range []struct {
		name string
		m    *onnxpb.ModelProto
		opts Options
		want string
	}{
		{"nil model", nil, Options{}, "no graph"},
		{"no graph", &onnxpb.ModelProto{}, Options{}, "no graph"},
		{"nil node", nilNode, Options{}, "node #1 is nil"},
		{"block 48", good, Options{BlockSize: 48}, "block size 48"},
		{"block 8", good, Options{BlockSize: 8}, "block size 8"},
		{"block 512", good, Options{BlockSize: 512}, "block size 512"},
		{"accuracy", good, Options{AccuracyLevel: 5}, "accuracy level 5"},
		{"min elements", good, Options{MinElements: -1}, "negative"},
	} {
		before := proto.Clone(good)
		if tc.m != nil {
			before = proto.Clone(tc.m)
		}
		_, err := Quantize(tc.m, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if tc.m != nil && !proto.Equal(before, tc.m) {
			t.Errorf("%s: the model changed", tc.name)
		}
	}
}
