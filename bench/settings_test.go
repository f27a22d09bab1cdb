package bench_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/infer-ml/infer/bench"
	"github.com/infer-ml/infer/internal/timing"
)

// Contradicting settings are typed errors worded without CLI flag names
// (cmd/ adds them).
func TestNormalizeErrorsTyped(t *testing.T) {
	cases := []struct {
		cfg  bench.Config
		want error
	}{
		{bench.Config{Scenario: bench.Latency, Concurrency: 2}, bench.ErrLatencyConcurrency},
		{bench.Config{Scenario: bench.Server}, bench.ErrNoRate},
		{bench.Config{Scenario: bench.Throughput, Rate: 10}, bench.ErrRateNotServer},
	}
	for _, c := range cases {
		err := c.cfg.Normalize()
		if !errors.Is(err, c.want) || strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: %v, want %v", c.cfg, err, c.want)
		}
	}
	c := bench.Config{Scenario: bench.Server, Rate: 1e12}
	err := c.Normalize()
	var re *bench.RateError
	if !errors.As(err, &re) || re.Rate != 1e12 || strings.Contains(err.Error(), "--") {
		t.Errorf("rate 1e12: %v", err)
	}
}

// bench's p50 (nearest rank) is the one median eval and the test
// benchmarks use.
func TestPercentile50IsTimingMedian(t *testing.T) {
	for n := 1; n <= 12; n++ {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(i + 1)
		}
		if p, m := bench.Percentile(v, 50), timing.Median(v); p != m {
			t.Errorf("n=%d: p50 %v, median %v", n, p, m)
		}
	}
}
