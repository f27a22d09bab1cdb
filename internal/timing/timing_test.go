package timing

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Runs makes warm-up calls untimed and returns one duration per timed call.
func TestRunsCountsCalls(t *testing.T) {
	calls := 0
	ds, err := Runs(func() error { calls++; return nil }, 5, 7)
	if err != nil || calls != 12 || len(ds) != 7 {
		t.Fatalf("%d calls, %d durations, %v; want 12 calls, 7 durations", calls, len(ds), err)
	}
	for _, d := range ds {
		if d < 0 {
			t.Fatalf("negative duration %v", d)
		}
	}
}

// Runs stops at the first error, in the warm-up or the timed runs.
func TestRunsStopsAtError(t *testing.T) {
	boom := errors.New("boom")
	for _, failAt := range []int{2, 6} {
		calls := 0
		_, err := Runs(func() error {
			calls++
			if calls == failAt {
				return boom
			}
			return nil
		}, 3, 10)
		if !errors.Is(err, boom) || calls != failAt {
			t.Errorf("failing at call %d: %d calls, %v", failAt, calls, err)
		}
	}
}

// The median is the lower median, one of the values, and leaves its input
// as it was.
func TestMedianLower(t *testing.T) {
	cases := []struct {
		v    []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{4, 1, 3, 2}, 2},
		{[]float64{5, 1, 4, 2, 3}, 3},
		{[]float64{2, 1}, 1},
		{nil, 0},
	}
	for _, c := range cases {
		in := slices.Clone(c.v)
		if got := Median(c.v); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, c.want)
		}
		if !slices.Equal(in, c.v) {
			t.Errorf("Median reordered its input: %v, was %v", c.v, in)
		}
	}
	if got := MedianMS([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}); got != 2 {
		t.Errorf("MedianMS = %v, want 2", got)
	}
}
