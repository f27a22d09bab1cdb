package quantize

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
)

// A chain of tiny MatMuls runs slower with dynamic int8 (each layer
// quantizes its input at run time, which costs more than an 8×8 product
// saves): the latency search keeps every class float and the float model
// is what comes back, with the reason.
func TestLatencySearchFallsBackToFloat(t *testing.T) {
	testutil.InitORT(t)
	hidden := make([]int64, 24)
	for i := range hidden {
		hidden[i] = 8
	}
	m := testmodels.MLP(testmodels.MLPConfig{In: 8, Hidden: hidden, Classes: 8, Seed: 4})
	res, err := Quantize(m, Options{Mode: Dynamic, Plan: PlanOptions{PerChannel: true},
		Eval: open(t, "random", m, dataset.Options{RandomSamples: 4, BatchSize: 1, Seed: 3})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fallback == nil {
		t.Fatalf("no fallback: speed %s, regions %+v", res.Speed, res.Regions)
	}
	if op := IsQuantized(res.Model); op != "" {
		t.Fatalf("the fallback model holds %s nodes", op)
	}
	if len(res.Regions) == 0 {
		t.Fatal("no regions reported")
	}
	for _, r := range res.Regions {
		if r.Decision != "float" || r.Why != "fallback" {
			t.Errorf("region %+v", r)
		}
	}
	for _, d := range res.Nodes {
		if d.Quantized {
			t.Errorf("node %s still marked quantized", d.Name)
		}
	}
	if q := res.Validation.Outputs[0].SQNR(); q < 80 {
		t.Errorf("the float fallback differs from the original: SQNR %.1f dB", q)
	}
	// The original itself is written: it is not timed against itself
	// (that printed noise as "faster 1.08×").
	if !res.Speed.Same || res.Speed.Verdict() != "the same model" || res.Speed.Speedup != 1 || res.Speed.RefP50MS <= 0 {
		t.Errorf("the fallback's speed %+v: want the same model at the reference's p50", res.Speed)
	}
}
