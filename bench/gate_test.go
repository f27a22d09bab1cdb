package bench

import (
	"reflect"
	"strings"
	"testing"
)

// gateResult is a latency result with the given p50, p99 and runs/s.
func gateResult(model, provider string, batch int, p50, p99, runsPerSec float64) Result {
	return Result{
		Model: model, Provider: provider, ProviderRan: provider, Batch: batch, Scenario: Latency, Concurrency: 1,
		Latency:    Stats{Count: 100, Percentiles: map[string]float64{"p50": p50, "p90": p99 * 0.9, "p99": p99}},
		RunsPerSec: runsPerSec, SamplesPerSec: runsPerSec * float64(batch),
	}
}

func TestGatesBaselineSlower(t *testing.T) {
	base := &Report{Results: []Result{
		gateResult("old/dir/resnet.onnx", "cpu", 1, 10, 20, 100),
		gateResult("bert.onnx", "cpu", 1, 5, 8, 200),
	}}
	cur := &Report{Results: []Result{
		// p50 +23.4%, p99 +5% (within 10%), throughput −20%.
		gateResult("new/dir/resnet.onnx", "cpu", 1, 12.34, 21, 80),
		// Faster in every way: passes.
		gateResult("bert.onnx", "cpu", 1, 4, 7, 250),
	}}
	g := Gates{Baseline: base, MaxRegressionPct: 10}
	regs, notes := g.Check(cur)
	want := []Regression{
		{Model: "resnet.onnx", Provider: "cpu", Batch: 1, Metric: "p50", Baseline: 10, Current: 12.34, Limit: "+10%", Change: "+23.4%"},
		{Model: "resnet.onnx", Provider: "cpu", Batch: 1, Metric: "throughput", Baseline: 100, Current: 80, Limit: "-10%", Change: "-20.0%"},
	}
	if !reflect.DeepEqual(regs, want) {
		t.Errorf("regressions:\n got %+v\nwant %+v", regs, want)
	}
	if len(notes) != 0 {
		t.Errorf("notes = %q, want none", notes)
	}
}

func TestGatesBaselineWithinLimit(t *testing.T) {
	base := &Report{Results: []Result{gateResult("m.onnx", "cuda", 8, 10, 20, 100)}}
	// +9.9%, +10% exactly, −10% exactly: all within a 10% limit.
	cur := &Report{Results: []Result{gateResult("m.onnx", "cuda", 8, 10.99, 22, 90)}}
	if regs, notes := (Gates{Baseline: base, MaxRegressionPct: 10}).Check(cur); len(regs) != 0 || len(notes) != 0 {
		t.Errorf("within the limit: regressions %+v, notes %q; want none", regs, notes)
	}
	// The same report fails a 5% limit on p50, p99 and throughput.
	regs, _ := (Gates{Baseline: base, MaxRegressionPct: 5}).Check(cur)
	var metrics []string
	for _, r := range regs {
		metrics = append(metrics, r.Metric)
	}
	if want := []string{"p50", "p99", "throughput"}; !reflect.DeepEqual(metrics, want) {
		t.Errorf("5%% limit: metrics %q, want %q", metrics, want)
	}
	// A negative limit turns the baseline gate off.
	if regs, notes := (Gates{Baseline: base, MaxRegressionPct: -1}).Check(cur); len(regs) != 0 || len(notes) != 0 {
		t.Errorf("gate off: regressions %+v, notes %q; want none", regs, notes)
	}
	// 0 fails on any worsening.
	if regs, _ := (Gates{Baseline: base, MaxRegressionPct: 0}).Check(cur); len(regs) != 3 {
		t.Errorf("0%% limit: %d regressions %+v, want 3", len(regs), regs)
	}
}

func TestGatesAbsolute(t *testing.T) {
	r := &Report{Results: []Result{
		gateResult("fast.onnx", "cpu", 4, 1, 2, 1000),   // 4000 samples/s
		gateResult("slow.onnx", "cpu", 4, 30, 45.5, 20), // 80 samples/s
	}}
	g := Gates{MaxRegressionPct: -1, MaxP99MS: 20, MinThroughput: 500}
	regs, notes := g.Check(r)
	want := []Regression{
		{Model: "slow.onnx", Provider: "cpu", Batch: 4, Metric: "p99", Current: 45.5, Limit: "≤ 20ms"},
		{Model: "slow.onnx", Provider: "cpu", Batch: 4, Metric: "samples/s", Current: 80, Limit: "≥ 500/s"},
	}
	if !reflect.DeepEqual(regs, want) {
		t.Errorf("regressions:\n got %+v\nwant %+v", regs, want)
	}
	if len(notes) != 0 {
		t.Errorf("notes = %q, want none", notes)
	}
	if regs, _ := (Gates{MaxRegressionPct: -1}).Check(r); len(regs) != 0 {
		t.Errorf("no gates set: regressions %+v", regs)
	}

	// Without a p99 in the report, the p99 comes from the samples, or a
	// note says it was not checked.
	noP99 := gateResult("m.onnx", "cpu", 1, 1, 2, 1000)
	delete(noP99.Latency.Percentiles, "p99")
	withSamples := noP99
	withSamples.Samples = []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 25} // p99 is rank 10: 25
	regs, notes = (Gates{MaxRegressionPct: -1, MaxP99MS: 20}).Check(&Report{Results: []Result{noP99, withSamples}})
	if len(regs) != 1 || regs[0].Current != 25 {
		t.Errorf("p99 from samples: regressions %+v, want one at 25", regs)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "no p99") {
		t.Errorf("notes %q, want one saying there is no p99", notes)
	}
}

func TestGatesMatching(t *testing.T) {
	g := Gates{MaxRegressionPct: 10}

	// Renamed model, one result per provider/batch/scenario on each side:
	// compared, and the regression names both.
	g.Baseline = &Report{Results: []Result{gateResult("model-v1.onnx", "cpu", 1, 10, 20, 100)}}
	regs, notes := g.Check(&Report{Results: []Result{gateResult("model-v2.onnx", "cpu", 1, 15, 20, 100)}})
	if len(regs) != 1 || regs[0].Metric != "p50" || regs[0].Model != "model-v2.onnx (baseline model-v1.onnx)" || regs[0].Change != "+50.0%" {
		t.Errorf("renamed single result: regressions %+v", regs)
	}
	if len(notes) != 0 {
		t.Errorf("renamed single result: notes %q", notes)
	}

	// Two models on each side with new names: no way to pair them, so
	// nothing is compared and every result is noted.
	g.Baseline = &Report{Results: []Result{
		gateResult("a1.onnx", "cpu", 1, 10, 20, 100),
		gateResult("b1.onnx", "cpu", 1, 10, 20, 100),
	}}
	regs, notes = g.Check(&Report{Results: []Result{
		gateResult("a2.onnx", "cpu", 1, 50, 90, 10),
		gateResult("b2.onnx", "cpu", 1, 50, 90, 10),
	}})
	if len(regs) != 0 {
		t.Errorf("ambiguous rename: regressions %+v, want none", regs)
	}
	if len(notes) != 4 {
		t.Errorf("ambiguous rename: notes %q, want 4 (two unmatched on each side)", notes)
	}

	// Different provider or batch is never matched, even alone.
	g.Baseline = &Report{Results: []Result{gateResult("m.onnx", "cuda", 1, 1, 2, 1000)}}
	regs, notes = g.Check(&Report{Results: []Result{gateResult("m.onnx", "cpu", 1, 10, 20, 100)}})
	if len(regs) != 0 || len(notes) != 2 {
		t.Errorf("other provider: regressions %+v, notes %q; want none and 2 notes", regs, notes)
	}
	if !strings.Contains(notes[0], "no baseline result") || !strings.Contains(notes[1], "not measured in this run") {
		t.Errorf("other provider: notes %q", notes)
	}

	// Same key twice in the run: ambiguous, noted, not compared.
	g.Baseline = &Report{Results: []Result{gateResult("a/m.onnx", "cpu", 1, 10, 20, 100)}}
	regs, notes = g.Check(&Report{Results: []Result{
		gateResult("x/m.onnx", "cpu", 1, 50, 90, 10),
		gateResult("y/m.onnx", "cpu", 1, 50, 90, 10),
	}})
	if len(regs) != 0 || len(notes) != 2 || !strings.Contains(notes[0], "several results") {
		t.Errorf("duplicate key: regressions %+v, notes %q", regs, notes)
	}

	// A baseline metric that is zero or missing is noted, not divided by.
	zero := gateResult("m.onnx", "cpu", 1, 10, 20, 0)
	delete(zero.Latency.Percentiles, "p99")
	g.Baseline = &Report{Results: []Result{zero}}
	regs, notes = g.Check(&Report{Results: []Result{gateResult("m.onnx", "cpu", 1, 10, 20, 100)}})
	if len(regs) != 0 || len(notes) != 2 {
		t.Errorf("zero/missing baseline metric: regressions %+v, notes %q; want none and 2", regs, notes)
	}
	for _, n := range notes {
		if strings.Contains(n, "NaN") || strings.Contains(n, "Inf") {
			t.Errorf("note %q", n)
		}
	}

	if regs, notes := g.Check(nil); regs != nil || notes != nil {
		t.Errorf("Check(nil) = %v, %v", regs, notes)
	}
}

func TestParseGateLimits(t *testing.T) {
	for in, want := range map[string]float64{"10%": 10, "10": 10, " 2.5 % ": 2.5, "0": 0, "0%": 0, "150%": 150} {
		got, err := ParseRegression(in)
		if err != nil || got != want {
			t.Errorf("ParseRegression(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "-5%", "ten", "NaN", "inf%"} {
		if _, err := ParseRegression(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseRegression(%q): error %v, want one naming it", in, err)
		}
	}

	for in, want := range map[string]float64{"20ms": 20, "1.5s": 1500, "500us": 0.5, "500µs": 0.5, "1m": 60000, " 3ms ": 3} {
		if got, err := ParseDurationMS(in); err != nil || got != want {
			t.Errorf("ParseDurationMS(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "20", "0ms", "-1ms", "fast"} {
		if _, err := ParseDurationMS(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseDurationMS(%q): error %v, want one naming it", in, err)
		}
	}

	for in, want := range map[string]float64{"500": 500, "500/s": 500, "12.5/s": 12.5} {
		if got, err := ParseThroughput(in); err != nil || got != want {
			t.Errorf("ParseThroughput(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-3/s", "/s", "500/min", "Inf"} {
		if _, err := ParseThroughput(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseThroughput(%q): error %v, want one naming it", in, err)
		}
	}
}
