package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gates are the pass/fail checks on a report; a zero-valued limit is off
// except MaxRegressionPct, which is off when negative.
type Gates struct {
	// Baseline is an earlier report to compare with (see Check).
	Baseline *Report
	// MaxRegressionPct is how much, in percent, p50 and p99 may grow and
	// throughput (runs/s) may fall relative to Baseline; negative is off,
	// 0 fails on any worsening.
	MaxRegressionPct float64
	// MaxP99MS fails any result whose p99 latency exceeds it; <= 0 is off.
	MaxP99MS float64
	// MinThroughput fails any result with fewer samples per second; <= 0
	// is off.
	MinThroughput float64
}

// Metrics named in a Regression.
const (
	// MetricP50 and MetricP99 are latency percentiles in milliseconds.
	MetricP50 = "p50"
	MetricP99 = "p99"
	// MetricThroughput is runs per second, compared with the baseline.
	// Batch is part of the match key, so its relative change is that of
	// samples per second too.
	MetricThroughput = "throughput"
	// MetricSamplesPerSec is samples per second, for MinThroughput.
	MetricSamplesPerSec = "samples/s"
)

// Check returns the gates that r fails, in the order of r.Results (absolute
// gates first for each result, then the baseline comparison), and notes on
// what could not be checked, one line each, for the user to see as
// warnings.
//
// Absolute gates: p99 above MaxP99MS (the "p99" percentile of the result,
// or computed from its Samples if the report has no p99), samples/s below
// MinThroughput.
//
// Baseline gate (when Baseline is set and MaxRegressionPct >= 0): a result
// is compared with the baseline result that has the same key — model base
// name (ModelName), provider that ran, batch size and scenario. When no
// baseline result has its key, and the run and the baseline each hold
// exactly one result for that provider, batch and scenario, those two are
// compared whatever their model names, so a renamed model file can still
// be gated. p50 or p99 growing by more than MaxRegressionPct percent, or
// runs/s falling by more, is a regression; Change says by how much
// ("+23.4%"). Results with no counterpart, in either report, or whose key
// is shared by several results (ambiguous), are not compared and are
// reported in notes, as are metrics missing or zero in the baseline.
func (g Gates) Check(r *Report) (regressions []Regression, notes []string) {
	if r == nil {
		return nil, nil
	}
	for _, res := range r.Results {
		regressions = append(regressions, g.checkAbsolute(res, &notes)...)
	}
	if g.Baseline != nil && g.MaxRegressionPct >= 0 {
		regs, n := g.checkBaseline(r)
		regressions = append(regressions, regs...)
		notes = append(notes, n...)
	}
	return regressions, notes
}

// Describe lists the gates that are on, in words, for a report's Gates:
// "p50 and p99 at most +10%, runs/s at most -10% vs the baseline",
// "p99 ≤ 20ms", "samples/s ≥ 500/s". It is empty when no gate is on.
func (g Gates) Describe() []string {
	var ds []string
	if g.Baseline != nil && g.MaxRegressionPct >= 0 {
		lim := strconv.FormatFloat(g.MaxRegressionPct, 'f', -1, 64) + "%"
		ds = append(ds, "p50 and p99 at most +"+lim+", runs/s at most -"+lim+" vs the baseline")
	}
	if g.MaxP99MS > 0 {
		ds = append(ds, "p99 ≤ "+strconv.FormatFloat(g.MaxP99MS, 'f', -1, 64)+"ms")
	}
	if g.MinThroughput > 0 {
		ds = append(ds, "samples/s ≥ "+strconv.FormatFloat(g.MinThroughput, 'f', -1, 64)+"/s")
	}
	return ds
}

// describeResult names a result in notes.
func describeResult(r Result) string {
	return fmt.Sprintf("%s on %s, batch %d, %s", ModelName(r.Model), r.ProviderRan, r.Batch, r.Scenario)
}

func (g Gates) checkAbsolute(res Result, notes *[]string) []Regression {
	var regs []Regression
	if g.MaxP99MS > 0 {
		p99, ok := res.Latency.Percentiles[MetricP99]
		if !ok && len(res.Samples) > 0 {
			sorted := slices.Clone(res.Samples)
			slices.Sort(sorted)
			p99, ok = Percentile(sorted, 99), true
		}
		switch {
		case !ok:
			*notes = append(*notes, describeResult(res)+": no p99 in the report; the p99 limit was not checked")
		case p99 > g.MaxP99MS:
			regs = append(regs, Regression{
				Model: ModelName(res.Model), Provider: res.ProviderRan, Batch: res.Batch,
				Metric: MetricP99, Current: p99,
				Limit: "≤ " + strconv.FormatFloat(g.MaxP99MS, 'f', -1, 64) + "ms",
			})
		}
	}
	if g.MinThroughput > 0 && res.SamplesPerSec < g.MinThroughput {
		regs = append(regs, Regression{
			Model: ModelName(res.Model), Provider: res.ProviderRan, Batch: res.Batch,
			Metric: MetricSamplesPerSec, Current: res.SamplesPerSec,
			Limit: "≥ " + strconv.FormatFloat(g.MinThroughput, 'f', -1, 64) + "/s",
		})
	}
	return regs
}

// matchKey is how results are paired with the baseline.
type matchKey struct {
	model    string // ModelName
	provider string // ProviderRan
	batch    int
	scenario Scenario
}

// groupKey is matchKey without the model, for the single-result rule.
type groupKey struct {
	provider string
	batch    int
	scenario Scenario
}

func keyOf(r Result) matchKey {
	return matchKey{ModelName(r.Model), r.ProviderRan, r.Batch, r.Scenario}
}

func (k matchKey) group() groupKey { return groupKey{k.provider, k.batch, k.scenario} }

func (g Gates) checkBaseline(r *Report) (regs []Regression, notes []string) {
	base := g.Baseline.Results
	baseByKey := map[matchKey][]int{}
	baseByGroup := map[groupKey][]int{}
	for i, b := range base {
		k := keyOf(b)
		baseByKey[k] = append(baseByKey[k], i)
		baseByGroup[k.group()] = append(baseByGroup[k.group()], i)
	}
	curByKey := map[matchKey]int{}
	curByGroup := map[groupKey]int{}
	for _, c := range r.Results {
		k := keyOf(c)
		curByKey[k]++
		curByGroup[k.group()]++
	}
	used := make([]bool, len(base))
	for _, cur := range r.Results {
		k := keyOf(cur)
		var match []int
		switch {
		case len(baseByKey[k]) > 0:
			match = baseByKey[k]
			if curByKey[k] > 1 {
				match = nil // several current results would claim one baseline
			}
		case curByGroup[k.group()] == 1 && len(baseByGroup[k.group()]) == 1:
			match = baseByGroup[k.group()]
		}
		switch {
		case len(match) == 1:
			used[match[0]] = true
			regs = append(regs, g.compare(base[match[0]], cur, &notes)...)
		case len(baseByKey[k]) > 0:
			for _, i := range baseByKey[k] {
				used[i] = true
			}
			notes = append(notes, describeResult(cur)+": several results share this model name, provider, batch and scenario; not compared with the baseline")
		default:
			notes = append(notes, describeResult(cur)+": no baseline result to compare with")
		}
	}
	for i, b := range base {
		if !used[i] {
			notes = append(notes, "baseline "+describeResult(b)+": not measured in this run")
		}
	}
	return regs, notes
}

// compare applies MaxRegressionPct to one matched pair.
func (g Gates) compare(base, cur Result, notes *[]string) []Regression {
	name := ModelName(cur.Model)
	if bn := ModelName(base.Model); bn != name {
		name += " (baseline " + bn + ")"
	}
	limit := strconv.FormatFloat(g.MaxRegressionPct, 'f', -1, 64) + "%"
	var regs []Regression
	check := func(metric string, b, c float64, higherIsWorse bool) {
		if !(b > 0) || math.IsInf(b, 0) {
			*notes = append(*notes, fmt.Sprintf("%s: baseline %s is %v; not compared", describeResult(cur), metric, b))
			return
		}
		change := (c - b) / b * 100
		worse, lim := change, "+"+limit
		if !higherIsWorse {
			worse, lim = -change, "-"+limit
		}
		if worse > g.MaxRegressionPct {
			regs = append(regs, Regression{
				Model: name, Provider: cur.ProviderRan, Batch: cur.Batch, Metric: metric,
				Baseline: b, Current: c, Limit: lim, Change: fmt.Sprintf("%+.1f%%", change),
			})
		}
	}
	for _, metric := range []string{MetricP50, MetricP99} {
		b, okB := base.Latency.Percentiles[metric]
		c, okC := cur.Latency.Percentiles[metric]
		switch {
		case !okB:
			*notes = append(*notes, describeResult(cur)+": the baseline has no "+metric+"; not compared")
		case !okC:
			*notes = append(*notes, describeResult(cur)+": this run has no "+metric+"; not compared with the baseline")
		default:
			check(metric, b, c, true)
		}
	}
	check(MetricThroughput, base.RunsPerSec, cur.RunsPerSec, false)
	return regs
}

// ParseRegression parses a --max-regression limit, "10%" or "10", into a
// percentage. It returns an error naming s if it is not a finite number at
// least 0.
func ParseRegression(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("regression limit %q: want a percentage at least 0, such as 10%%", s)
	}
	return v, nil
}

// ParseDurationMS parses a latency limit with a unit, "20ms", "1.5s",
// "500us", into milliseconds. It returns an error naming s if it is not a
// Go duration or not positive.
func ParseDurationMS(s string) (float64, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("latency limit %q: want a duration with a unit, such as 20ms, 1.5s or 500us", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("latency limit %q: must be positive", s)
	}
	return float64(d) / float64(time.Millisecond), nil
}

// ParseThroughput parses a throughput limit, "500" or "500/s", in samples
// per second. It returns an error naming s if it is not a finite positive
// number.
func ParseThroughput(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "/s")), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("throughput limit %q: want a positive number of samples per second, such as 500 or 500/s", s)
	}
	return v, nil
}
