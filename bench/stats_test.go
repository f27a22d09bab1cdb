package bench

import (
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i + 1)
	}
	return s
}

func TestPercentile(t *testing.T) {
	// Ranks by hand, nearest rank ⌈p/100 · n⌉:
	//   1..10:   p50 → ⌈5⌉ = 5; p90 → ⌈9⌉ = 9; p95 → ⌈9.5⌉ = 10;
	//            p99 → ⌈9.9⌉ = 10; p10 → ⌈1⌉ = 1; p11 → ⌈1.1⌉ = 2.
	//   1..1000: p99.9 → ⌈999⌉ = 999 (p/100·n in floating point is
	//            999.0000000000001, which would wrongly give 1000);
	//            p99.95 → ⌈999.5⌉ = 1000; p0.1 → ⌈1⌉ = 1.
	//   1..7:    p50 → ⌈3.5⌉ = 4; p99 → ⌈6.93⌉ = 7; p14.2 → ⌈0.994⌉ = 1;
	//            p14.3 → ⌈1.001⌉ = 2.
	tests := []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{seq(10), 50, 5},
		{seq(10), 90, 9},
		{seq(10), 95, 10},
		{seq(10), 99, 10},
		{seq(10), 100, 10},
		{seq(10), 10, 1},
		{seq(10), 11, 2},
		{seq(1000), 99.9, 999},
		{seq(1000), 99.95, 1000},
		{seq(1000), 0.1, 1},
		{seq(7), 50, 4},
		{seq(7), 99, 7},
		{seq(7), 14.2, 1},
		{seq(7), 14.3, 2},
		{[]float64{3.5}, 0.001, 3.5},
		{[]float64{3.5}, 100, 3.5},
		// Out of (0, 100]: the rank is clamped.
		{seq(10), 0, 1},
		{seq(10), -5, 1},
		{seq(10), 150, 10},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("Percentile(1..%d, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil, 50) = %v, want NaN", got)
	}
	if got := Percentile(seq(3), math.NaN()); !math.IsNaN(got) {
		t.Errorf("Percentile(1..3, NaN) = %v, want NaN", got)
	}
}

// TestNearestRankExact checks the rank against exact rational arithmetic on
// the decimal percentile, for the percentiles users write and many n.
func TestNearestRankExact(t *testing.T) {
	for _, ps := range []string{"50", "90", "95", "99", "99.9", "99.99", "99.999", "0.1", "12.5", "33.3", "66.7", "97.5", "1"} {
		p, err := strconv.ParseFloat(ps, 64)
		if err != nil {
			t.Fatal(err)
		}
		exactP, ok := new(big.Rat).SetString(ps)
		if !ok {
			t.Fatalf("big.Rat %q", ps)
		}
		for n := 1; n <= 20000; n++ {
			x := new(big.Rat).Mul(exactP, big.NewRat(int64(n), 100))
			// ⌈x⌉ of a positive rational.
			q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
			want := int(q.Int64())
			if r.Sign() != 0 {
				want++
			}
			want = max(1, min(n, want))
			if got := nearestRank(p, n); got != want {
				t.Fatalf("nearestRank(%s, %d) = %d, want %d", ps, n, got, want)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	// Unsorted, 7 samples. Sorted: 1 2 3 4 5 7 13.
	// Mean = 35/7 = 5. Squared deviations: 16 9 4 1 0 4 64 = 98;
	// sample variance 98/6, stddev √(49/3).
	// Ranks: p50 ⌈3.5⌉ = 4 → 4; p90 ⌈6.3⌉ = 7 → 13; p99.9 ⌈6.993⌉ = 7 → 13;
	// p25 ⌈1.75⌉ = 2 → 2.
	samples := []float64{5, 13, 1, 4, 2, 7, 3}
	orig := slices.Clone(samples)
	s := Summarize(samples, []float64{25, 50, 90, 99.9})
	if !slices.Equal(samples, orig) {
		t.Errorf("Summarize modified its input: %v, was %v", samples, orig)
	}
	if s.Count != 7 || s.Min != 1 || s.Max != 13 {
		t.Errorf("count/min/max = %d/%v/%v, want 7/1/13", s.Count, s.Min, s.Max)
	}
	if math.Abs(s.Mean-5) > 1e-12 {
		t.Errorf("mean = %v, want 5", s.Mean)
	}
	if want := math.Sqrt(49.0 / 3); math.Abs(s.Stddev-want) > 1e-12 {
		t.Errorf("stddev = %v, want %v", s.Stddev, want)
	}
	wantP := map[string]float64{"p25": 2, "p50": 4, "p90": 13, "p99.9": 13}
	if len(s.Percentiles) != len(wantP) {
		t.Errorf("percentiles = %v, want %v", s.Percentiles, wantP)
	}
	for k, v := range wantP {
		if got, ok := s.Percentiles[k]; !ok || got != v {
			t.Errorf("percentile %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

func TestSummarizeSmall(t *testing.T) {
	one := Summarize([]float64{2.5}, []float64{50, 99})
	want := Stats{Count: 1, Min: 2.5, Mean: 2.5, Stddev: 0, Max: 2.5,
		Percentiles: map[string]float64{"p50": 2.5, "p99": 2.5}}
	if one.Count != want.Count || one.Min != want.Min || one.Mean != want.Mean ||
		one.Stddev != want.Stddev || one.Max != want.Max ||
		one.Percentiles["p50"] != 2.5 || one.Percentiles["p99"] != 2.5 {
		t.Errorf("Summarize([2.5]) = %+v, want %+v", one, want)
	}

	none := Summarize(nil, []float64{50})
	if none.Count != 0 || none.Min != 0 || none.Mean != 0 || none.Stddev != 0 || none.Max != 0 ||
		none.Percentiles == nil || len(none.Percentiles) != 0 {
		t.Errorf("Summarize(nil) = %+v, want zeros and an empty map", none)
	}

	// 1..1000: mean 500.5, p99.9 = 999 (rank 999).
	thousand := Summarize(seq(1000), []float64{50, 99, 99.9})
	if thousand.Mean != 500.5 || thousand.Percentiles["p50"] != 500 || thousand.Percentiles["p99"] != 990 || thousand.Percentiles["p99.9"] != 999 {
		t.Errorf("Summarize(1..1000) = mean %v, %v; want 500.5, p50 500, p99 990, p99.9 999", thousand.Mean, thousand.Percentiles)
	}
}

func TestPercentileKey(t *testing.T) {
	for p, want := range map[float64]string{50: "p50", 99: "p99", 99.9: "p99.9", 99.99: "p99.99", 0.5: "p0.5", 100: "p100"} {
		if got := PercentileKey(p); got != want {
			t.Errorf("PercentileKey(%v) = %q, want %q", p, got, want)
		}
	}
}

func TestParsePercentiles(t *testing.T) {
	good := []struct {
		in   string
		want []float64
	}{
		{"50,90,95,99,99.9", []float64{50, 90, 95, 99, 99.9}},
		{" 99 , 50,90 ", []float64{50, 90, 99}},
		{"99,50,99,50.0", []float64{50, 99}},
		{"100", []float64{100}},
		{"0.01", []float64{0.01}},
	}
	for _, tt := range good {
		got, err := ParsePercentiles(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParsePercentiles(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	bad := []struct{ in, mention string }{
		{"", "empty"},
		{"  ", "empty"},
		{"50,,90", "empty value"},
		{"50,abc", `"abc"`},
		{"0", `"0"`},
		{"-1", `"-1"`},
		{"100.5", `"100.5"`},
		{"50,NaN", `"NaN"`},
		{"inf", `"inf"`},
	}
	for _, tt := range bad {
		got, err := ParsePercentiles(tt.in)
		if err == nil {
			t.Errorf("ParsePercentiles(%q) = %v, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ParsePercentiles(%q) error %q does not mention %s", tt.in, err, tt.mention)
		}
	}
}
