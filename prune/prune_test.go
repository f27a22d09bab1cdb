package prune

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/inspect"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/validate"
)

func open(t *testing.T, spec string, m *onnxpb.ModelProto, o dataset.Options) dataset.Source {
	t.Helper()
	s, err := dataset.Open(spec, dataset.SpecsFromGraph(m.Graph), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomData(t *testing.T, m *onnxpb.ModelProto) dataset.Source {
	return open(t, "random", m, dataset.Options{RandomSamples: 16, BatchSize: 4, Seed: 7})
}

func opts(m *onnxpb.ModelProto, t *testing.T, p Pattern, s float64) Options {
	return Options{Pattern: p, Sparsity: s, Eval: randomData(t, m), LatencyRuns: 3}
}

func TestPruneUnstructured(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{})
	for _, global := range []bool{false, true} {
		o := opts(m, t, Unstructured, 0.6)
		o.Global = global
		res, err := Prune(m, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Layers) != 3 {
			t.Fatalf("%d layers pruned", len(res.Layers))
		}
		var n, z int64
		for _, l := range res.Layers {
			n += l.Params
			z += l.ZerosAfter
			if !global && l.ZerosAfter != int64(math.Round(0.6*float64(l.Params))) {
				t.Errorf("%s: %d zeros of %d", l.Weight, l.ZerosAfter, l.Params)
			}
		}
		if global && z != int64(math.Round(0.6*float64(n))) {
			t.Errorf("global: %d zeros of %d", z, n)
		}
		if res.Before.Params != res.After.Params || res.After.Nonzero >= res.Before.Nonzero || res.After.GzipBytes >= res.Before.GzipBytes {
			t.Errorf("sizes %+v → %+v", res.Before, res.After)
		}
		if res.Validation == nil || res.Validation.Samples != 16 || res.Speed.CandP50MS <= 0 {
			t.Fatalf("validation %+v, p50 %v", res.Validation, res.Speed.CandP50MS)
		}
	}
	// The input model is untouched.
	ref := testmodels.MLP(testmodels.MLPConfig{})
	a, _ := testmodels.Marshal(ref)
	b, _ := testmodels.Marshal(m)
	if string(a) != string(b) {
		t.Fatal("Prune modified its input")
	}
}

func TestPruneConstantAndSubgraphWeights(t *testing.T) {
	testutil.InitORT(t)
	for _, f := range []string{"mlp_constants.onnx", "if_constant_branches.onnx"} {
		mp, err := onnx.Load(testutil.Testdata(t, f), onnx.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Prune(mp.Proto, opts(mp.Proto, t, Unstructured, 0.5))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(res.Layers) == 0 {
			t.Fatalf("%s: nothing pruned", f)
		}
		for _, l := range res.Layers {
			if l.Sparsity < 0.49 {
				t.Errorf("%s: %s sparsity %v", f, l.Weight, l.Sparsity)
			}
			if f == "if_constant_branches.onnx" && l.Graph == "" {
				t.Errorf("%s: %s is not in a subgraph", f, l.Weight)
			}
		}
	}
}

func TestPruneNMRuns(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.CNN(testmodels.CNNConfig{})
	o := opts(m, t, NM(2, 4), 0)
	// The first convolution reads 3 channels: it stays dense, named in
	// Skipped with the reason, and the rest take the pattern.
	res, err := Prune(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Node != m.Graph.Node[0].GetName() || !strings.Contains(res.Skipped[0].Reason, "3 input channels, not a multiple of 4") {
		t.Fatalf("skipped %+v", res.Skipped)
	}
	if res.NMSatisfied == nil || !*res.NMSatisfied || len(res.Layers) != 3 {
		t.Fatalf("layers %d, satisfied %v", len(res.Layers), res.NMSatisfied)
	}
	o.Selection.KeepFirstLast = true
	res, err = Prune(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.NMSatisfied == nil || !*res.NMSatisfied || len(res.Layers) != 2 {
		t.Fatalf("%+v", res.Layers)
	}
	for _, l := range res.Layers {
		if l.Sparsity != 0.5 || l.GroupsViolating != 0 {
			t.Errorf("%+v", l)
		}
	}
}

func TestPruneNothing(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.GRU(testmodels.GRUConfig{})
	_, err := Prune(m, opts(m, t, Unstructured, 0.5))
	if !errors.Is(err, ErrNothingPrunable) {
		t.Fatalf("got %v", err)
	}
	if err := CheckSparsity(1); err == nil {
		t.Fatal("sparsity 1 accepted")
	}
}

func TestPruneAnalyzeAutoMNIST(t *testing.T) {
	testutil.InitORT(t)
	mp, err := onnx.Load(testutil.Fixture(t, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mp.Proto
	digits := testutil.Fixture(t, "mnist/digits.npz")
	o := Options{
		Pattern: Unstructured, Sparsity: 0.7, Analyze: true, Auto: true,
		AnalysisData: open(t, digits, m, dataset.Options{Limit: 1500}),
		Eval:         open(t, digits, m, dataset.Options{}),
		Gate:         validate.Gate{MaxAccuracyDrop: validate.Limit(0)}, LatencyRuns: 3, Session: ort.Options{},
	}
	res, err := Prune(m, o)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Sensitivity
	if s == nil || len(s.Layers) != 3 || len(s.Layers[0].Points) != 4 || s.Metric != "accuracy drop" {
		t.Fatalf("sensitivity %+v", s)
	}
	var total, pruned float64
	for _, l := range s.Layers {
		total += float64(l.Params)
		pruned += float64(l.Params) * res.Chosen[l.Name]
	}
	if math.Abs(pruned/total-0.7) > 1e-3 {
		t.Fatalf("--auto chose %v: %.4f overall", res.Chosen, pruned/total)
	}
	if math.Abs(res.Sparsity-0.7) > 1e-3 {
		t.Fatalf("pruned model sparsity %.4f", res.Sparsity)
	}
	// A zero-point gate on a 70% sparse model: not met, still a result.
	if res.GateMet || res.GateSummary == "" {
		t.Fatalf("gate %v %q", res.GateMet, res.GateSummary)
	}
}

// TestAnalyzeChannelFLOPs: the channel analysis gives each group the work
// of the nodes it changes (its convolution and the reader of its
// channels), and the share of the model's work that pruning reaches.
// MNIST: conv1 (8 channels) is read by conv2, conv2 (16) by the
// classifier's MatMul, whose 10 outputs are the graph output (left
// alone, its MatMul still shrinks with conv2's channels).
func TestAnalyzeChannelFLOPs(t *testing.T) {
	testutil.InitORT(t)
	mp, err := onnx.Load(testutil.Fixture(t, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mp.Proto
	digits := testutil.Fixture(t, "mnist/digits.npz")
	res, err := Prune(m, Options{
		Pattern: Channel, Sparsity: 0.5, Analyze: true, AnalysisOnly: true, Levels: []float64{0.5},
		AnalysisData: open(t, digits, m, dataset.Options{Limit: 64}), Eval: open(t, digits, m, dataset.Options{Limit: 64}),
	})
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := inspect.Shapes(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	perNode, total := inspect.NodeFLOPs(m, shapes)
	byName := map[string]int64{}
	for n, v := range perNode {
		byName[n.GetName()] = v
	}
	conv1, conv2, fc := byName["Convolution28"], byName["Convolution110"], byName["Times212"]
	if conv1 == 0 || conv2 == 0 || fc == 0 || total != conv1+conv2+fc {
		t.Fatalf("per-node FLOPs %v, total %d", byName, total)
	}
	f := res.Sensitivity.FLOPs
	if f == nil || f.Total != total || f.Prunable != total {
		t.Fatalf("channel FLOPs %+v, want total and prunable %d", f, total)
	}
	got := map[string]int64{}
	for _, l := range res.Sensitivity.Layers {
		got[l.Name] = l.FLOPs
	}
	if got["Convolution28"] != conv1+conv2 || got["Convolution110"] != conv2+fc || len(got) != 2 {
		t.Fatalf("group FLOPs %v; nodes conv1 %d conv2 %d fc %d", got, conv1, conv2, fc)
	}
	if len(f.Refused) != 1 || f.Refused[0].Name != "Times212" || f.Refused[0].FLOPs != fc || f.Refused[0].Reason == "" {
		t.Fatalf("refused %+v", f.Refused)
	}
}
