package bench_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/infer-ml/infer/bench"
	"github.com/infer-ml/infer/internal/testutil"
)

// Rates whose arrival gaps cannot be kept to (or are no rate) are refused.
func TestServerRateBounds(t *testing.T) {
	for _, rate := range []float64{1e12, bench.MaxRate * 1.01, math.Inf(1), math.NaN(), -1} {
		c := bench.Config{Scenario: bench.Server, Rate: rate, Iterations: 1}
		err := c.Normalize()
		if err == nil || !strings.Contains(err.Error(), "at most 1e+06") {
			t.Errorf("rate %g: %v", rate, err)
		}
	}
	c := bench.Config{Scenario: bench.Server, Rate: bench.MaxRate, Iterations: 1}
	if err := c.Normalize(); err != nil {
		t.Errorf("rate %g: %v", bench.MaxRate, err)
	}
	c = bench.Config{Scenario: bench.Latency, Rate: math.NaN(), Iterations: 1}
	if err := c.Normalize(); err == nil {
		t.Error("a NaN rate outside the server scenario was accepted")
	}
}

// A server run at a rate far beyond what the model serves ends at its
// duration, having queued a bounded number of requests and counted the
// rest as dropped.
func TestServerOverloadEndsAtDuration(t *testing.T) {
	testutil.InitORT(t)
	m, _ := millisecondModel(t)
	rep, err := bench.Run(bench.Config{
		Models: []bench.Model{{Path: m.Path, Model: m}}, Batches: []int{64},
		Scenario: bench.Server, Rate: bench.MaxRate, Duration: 300 * time.Millisecond,
		WarmupRuns: 2, IntraOpThreads: 1, Percentiles: []float64{50},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Dropped == 0 || r.Iterations == 0 {
		t.Fatalf("served %d, dropped %d", r.Iterations, r.Dropped)
	}
}
