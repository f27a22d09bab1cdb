// Package timing is the one timed-run loop and the one median behind every
// quick latency figure: eval's latency and speed comparison, and the
// test benchmarks' p50. `infer bench` has its own runner (streams,
// durations, concurrency) but reports the same median as its p50.
package timing

import (
	"cmp"
	"slices"
	"time"
)

// Runs calls run warmup times untimed, then n times timed, and returns the
// n durations in call order. It stops at the first error and returns it.
func Runs(run func() error, warmup, n int) ([]time.Duration, error) {
	for range warmup {
		if err := run(); err != nil {
			return nil, err
		}
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		if err := run(); err != nil {
			return nil, err
		}
		ds[i] = time.Since(t0)
	}
	return ds, nil
}

// Median is the lower median of v: the middle value of an odd count, the
// lower of the two middle values of an even one, so it is always one of
// the values (bench's nearest-rank p50 is the same value). v is not
// modified; the median of nothing is the zero value.
func Median[T cmp.Ordered](v []T) T {
	if len(v) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// MedianMS is the median of ds in milliseconds.
func MedianMS(ds []time.Duration) float64 {
	return MS(Median(ds))
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
