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
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
	"github.com/infer-ml/infer/quantize/calib"
	"github.com/infer-ml/infer/quantize/half"
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
		Mode: Static, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true},
		Calib:              calib.Config{Method: calib.MinMax},
		CalibrationSamples: 500,
		Calibration:        open(t, digits, m, dataset.Options{Limit: 500, Shuffle: true, Seed: 1}),
		Eval:               open(t, digits, m, dataset.Options{Offset: 500, Limit: 2000}),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Validation.Primary()
	if drop := 100 * (o.RefAccuracy() - o.CandAccuracy()); drop > 0.3 || o.Agreement() < 0.99 {
		t.Fatalf("accuracy %.4f → %.4f, agreement %.4f", o.RefAccuracy(), o.CandAccuracy(), o.Agreement())
	}
	// The 1-channel first convolution stays float with its Relu and
	// MaxPool; everything after it is int8.
	for i, n := range res.Nodes {
		if !n.Quantized && i >= 3 {
			t.Errorf("node %s (%s) stayed float: %s", n.Name, n.OpType, n.Reason)
		}
	}
	if res.Nodes[0].Quantized {
		t.Errorf("the first convolution was quantized")
	}
	if len(res.Layers) == 0 || math.IsNaN(float64(res.Layers[0].SQNR)) {
		t.Fatalf("layer table %v", res.Layers)
	}
	out := filepath.Join(t.TempDir(), "q.onnx")
	sr, err := onnx.Save(res.Model, out, onnx.SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(sr.Bytes) / float64(mp.FileBytes); ratio > 0.35 {
		t.Fatalf("quantized file is %.2f× the float file", ratio)
	}
}

func TestQuantizeMLPDynamic(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 2})
	res, err := Quantize(m, Options{Mode: Dynamic, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true},
		Eval: open(t, "random", m, dataset.Options{RandomSamples: 32, BatchSize: 8, Seed: 3})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Apply.Weights != 3 || res.Validation.Outputs[0].SQNR() < 30 {
		t.Fatalf("applied %+v, SQNR %.1f dB", res.Apply, res.Validation.Outputs[0].SQNR())
	}
}

// An SQNR gate only the float model can meet makes the accuracy-aware
// search keep the ranked nodes float one at a time, then by bisection,
// until every one is float.
func TestAccuracyAwareBisection(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.Transformer(testmodels.TransformerConfig{})
	res, err := Quantize(m, Options{Mode: Static, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true},
		Calibration: open(t, "random", m, dataset.Options{RandomSamples: 4, Seed: 1}),
		Eval:        open(t, "random", m, dataset.Options{RandomSamples: 4, Seed: 2}),
		Gate:        validate.Gate{MinSQNR: validate.Limit(200)}, LatencyRuns: 2})
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

// Automatic mixed precision: an fp16 gate only float32 can meet keeps the
// ranked nodes float32 until it holds.
func TestFP16MixedPrecisionSearch(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.Transformer(testmodels.TransformerConfig{})
	res, err := Quantize(m, Options{Mode: FP16, Half: half.DefaultOptions(tensor.Float16),
		Eval: open(t, "random", m, dataset.Options{RandomSamples: 4, Seed: 2}), Gate: validate.Gate{MinSQNR: validate.Limit(200)}, LatencyRuns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.GateMet || len(res.KeptFloat) == 0 {
		t.Fatalf("gate met %v, kept float %v, summary %q", res.GateMet, res.KeptFloat, res.GateSummary)
	}
	kept := 0
	for _, n := range res.Nodes {
		if !n.Quantized {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("no node reported as kept float32")
	}
}
