package quantize

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/quantize/calib"
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

func TestQuantizeMNIST(t *testing.T) {
	testutil.InitORT(t)
	mp, err := onnx.Load(testutil.Fixture(t, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mp.Proto
	digits := testutil.Fixture(t, "mnist/digits.npz")
	res, err := Quantize(m, Options{
		Mode: Static, Plan: PlanOptions{PerChannel: true},
		Calib:              calib.Config{Method: calib.MinMax},
		CalibrationSamples: 500,
		Calibration:        open(t, digits, m, dataset.Options{Limit: 500, Shuffle: true, Seed: 1}),
		Eval:               open(t, digits, m, dataset.Options{Offset: 500, Limit: 2000}),
		MaxAccuracyDrop:    -1, MinSQNR: math.NaN(),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Validation.Primary()
	t.Logf("nodes %d quantized, applied %+v, acc %.4f → %.4f, agreement %.4f, p50 %.3f → %.3f ms", 0, res.Apply, o.RefAccuracy(), o.CandAccuracy(), o.Agreement(), res.RefP50MS, res.QuantP50MS)
	for _, l := range res.Layers {
		t.Logf("layer %s %s %.1f dB", l.Node, l.OpType, l.SQNR)
	}
	for _, n := range res.Nodes {
		if !n.Quantized {
			t.Logf("float %s %s: %s", n.Name, n.OpType, n.Reason)
		}
	}
	out := filepath.Join(t.TempDir(), "q.onnx")
	sr, err := onnx.Save(res.Model, out, onnx.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("size %d → %d (%.2f)", mp.FileBytes, sr.Bytes, float64(sr.Bytes)/float64(mp.FileBytes))
	for _, in := range res.Model.Graph.Initializer {
		t.Logf("init %s %v %d raw=%d", in.Name, in.Dims, in.DataType, len(in.RawData))
	}
	for _, n := range res.Model.Graph.Node {
		t.Logf("node %s %s %v -> %v", n.Name, n.OpType, n.Input, n.Output)
	}
}

func TestQuantizeMLPDynamic(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 2})
	res, err := Quantize(m, Options{Mode: Dynamic, Plan: PlanOptions{PerChannel: true},
		Eval: open(t, "random", m, dataset.Options{RandomSamples: 32, BatchSize: 8, Seed: 3}), MaxAccuracyDrop: -1, MinSQNR: math.NaN()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v sqnr %.1f", res.Apply, res.Validation.Outputs[0].SQNR())
}

// An SQNR gate only the float model can meet makes the accuracy-aware
// search keep the ranked nodes float one at a time, then by bisection,
// until every one is float.
func TestAccuracyAwareBisection(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.Transformer(testmodels.TransformerConfig{})
	res, err := Quantize(m, Options{Mode: Static, Plan: PlanOptions{PerChannel: true},
		Calibration:     open(t, "random", m, dataset.Options{RandomSamples: 4, Seed: 1}),
		Eval:            open(t, "random", m, dataset.Options{RandomSamples: 4, Seed: 2}),
		MaxAccuracyDrop: -1, MinSQNR: 200, LatencyRuns: 2})
	if err != nil {
		t.Fatal(err)
	}
	bisected := false
	for _, n := range res.Notes {
		bisected = bisected || strings.HasPrefix(n, "bisection:")
	}
	if !res.GateMet || len(res.KeptFloat) <= 4 || !bisected {
		t.Fatalf("gate met %v, %d kept float, notes %v", res.GateMet, len(res.KeptFloat), res.Notes)
	}
	if q := res.Validation.Outputs[0].SQNR(); q < 200 {
		t.Fatalf("kept model SQNR %.1f dB", q)
	}
}
