package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
)

// Percentile returns the p-th percentile of sorted (ascending) by the
// nearest-rank method: the sample at rank ⌈p/100 · n⌉, 1-based, clamped to
// [1, n]. The result is always one of the samples.
//
// For example, with the 10 samples 1, 2, …, 10:
//
//	p50: ⌈0.50 · 10⌉ = 5  → 5
//	p90: ⌈0.90 · 10⌉ = 9  → 9
//	p99: ⌈0.99 · 10⌉ = ⌈9.9⌉ = 10 → 10
//
// p is meant to be in (0, 100]; a p at or below 0 gives the minimum and one
// above 100 the maximum (the rank is clamped). It returns NaN if sorted is
// empty or p is NaN. It does not check that sorted is sorted.
//
// gonum's stat.Quantile(p/100, stat.Empirical, …) implements the same rule
// but computes p/100 · n in floating point, where 0.999 · 1000 is
// 999.0000000000001 and its p99.9 of 1…1000 is 1000, not 999; it also
// panics on empty input. Percentile computes p · n / 100 and treats a rank
// within rounding error of an integer as that integer, so a percentile
// written in decimal ("99.9") gets the rank exact arithmetic gives.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 || math.IsNaN(p) {
		return math.NaN()
	}
	return sorted[nearestRank(p, n)-1]
}

// nearestRank returns ⌈p/100 · n⌉ clamped to [1, n].
func nearestRank(p float64, n int) int {
	x := p * float64(n) / 100
	rank := math.Ceil(x)
	// p is a decimal such as 99.9 that binary floating point only
	// approximates; an exact integer product must not round up to the
	// next rank.
	if r := math.Round(x); math.Abs(x-r) <= 1e-13*math.Max(1, math.Abs(x)) {
		rank = r
	}
	switch {
	case rank < 1:
		return 1
	case rank > float64(n):
		return n
	}
	return int(rank)
}

// PercentileKey is the key of the p-th percentile in Stats.Percentiles:
// "p50", "p99", "p99.9".
func PercentileKey(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// Summarize returns the statistics of samplesMS (milliseconds) with the
// given percentiles (each in (0, 100]; see Percentile). It does not modify
// samplesMS. Stddev is the sample standard deviation (n−1), 0 for fewer
// than two samples. With no samples every field is 0 and Percentiles is
// empty, so the result always encodes as JSON.
func Summarize(samplesMS []float64, percentiles []float64) Stats {
	s := Stats{Count: len(samplesMS), Percentiles: make(map[string]float64, len(percentiles))}
	if len(samplesMS) == 0 {
		return s
	}
	sorted := slices.Clone(samplesMS)
	slices.Sort(sorted)
	s.Min = sorted[0]
	s.Max = sorted[len(sorted)-1]
	if len(sorted) < 2 {
		s.Mean = sorted[0]
	} else {
		s.Mean, s.Stddev = stat.MeanStdDev(sorted, nil)
	}
	for _, p := range percentiles {
		s.Percentiles[PercentileKey(p)] = Percentile(sorted, p)
	}
	return s
}

// ParsePercentiles parses a comma-separated list of percentiles such as
// "50,90,95,99,99.9" and returns them sorted, without duplicates. It returns
// an error naming the value if one is not a number or not in (0, 100], and
// an error if the list is empty.
func ParsePercentiles(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("percentiles: empty list")
	}
	var ps []float64
	for field := range strings.SplitSeq(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			return nil, fmt.Errorf("percentiles %q: empty value", s)
		}
		p, err := strconv.ParseFloat(field, 64)
		if err != nil {
			return nil, fmt.Errorf("percentile %q: not a number", field)
		}
		// NaN fails both comparisons, so it is rejected too.
		if !(p > 0 && p <= 100) {
			return nil, fmt.Errorf("percentile %q: not in (0, 100]", field)
		}
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return slices.Compact(ps), nil
}
