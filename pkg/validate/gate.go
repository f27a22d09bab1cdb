package validate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
)

// ErrNeedsLabels is returned when the accuracy-drop gate is set and the
// evaluation data has no labels (or the model no class-shaped output):
// the gate cannot be measured, and passing it on another metric would
// hide that.
var ErrNeedsLabels = errors.New(`the accuracy-drop gate needs labels in the evaluation data (a "label" or "labels" array) and a class-shaped output`)

// Gate names for Verdict.Gate.
const (
	MaxAccuracyDrop = "max_accuracy_drop"
	MinAgreement    = "min_agreement"
	MinSQNR         = "min_sqnr"
	FiniteOutputs   = "finite_outputs"
	MinSpeedup      = "min_speedup"
)

// Gate holds the quality gates of a run; a nil limit is a gate not set.
type Gate struct {
	// MaxAccuracyDrop is the largest top-1 accuracy drop in points, on
	// labelled data.
	MaxAccuracyDrop *float64
	// MinAgreement is the smallest top-1 agreement with the reference in
	// percent; MinSQNR the smallest output SQNR in dB.
	MinAgreement *float64
	MinSQNR      *float64
	// Finite fails a candidate with NaN or infinite outputs.
	Finite bool
	// MinSpeedup is the smallest latency ratio reference/candidate
	// (CheckSpeed).
	MinSpeedup *float64
}

// Limit returns a pointer to v, for the fields of Gate.
func Limit(v float64) *float64 { return &v }

// Quality reports whether a gate on the outputs is set (not counting
// MinSpeedup).
func (g Gate) Quality() bool {
	return g.MaxAccuracyDrop != nil || g.MinAgreement != nil || g.MinSQNR != nil || g.Finite
}

// Verdict is one gate's measurement and result.
type Verdict struct {
	Gate  string  `json:"gate"`
	Limit float64 `json:"limit"`
	// Value is the measurement (the worst output's), nil when it was not
	// measured, NaN or infinite (an identical output's SQNR).
	Value  *float64 `json:"value"`
	Output string   `json:"output,omitempty"`
	Met    bool     `json:"met"`
	// Summary says it in words, without flag names.
	Summary string `json:"summary"`
}

// NeedsLabels returns ErrNeedsLabels when the accuracy-drop gate is set
// and the first batch of src has no labels; src is rewound. Commands call
// it before any work, so the answer is the same everywhere.
func (g Gate) NeedsLabels(src dataset.Source) error {
	if g.MaxAccuracyDrop == nil {
		return nil
	}
	if err := src.Reset(); err != nil {
		return err
	}
	b, err := src.Next()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := src.Reset(); err != nil {
		return err
	}
	if b == nil || b.Labels == nil {
		return ErrNeedsLabels
	}
	return nil
}

// Measurable returns ErrNeedsLabels when the accuracy-drop gate is set
// and ev has no labelled class-shaped output.
func (g Gate) Measurable(ev *eval.Result) error {
	if g.MaxAccuracyDrop == nil {
		return nil
	}
	for _, o := range ev.Outputs {
		if o.Classified && o.Labelled > 0 {
			return nil
		}
	}
	return ErrNeedsLabels
}

// Check measures every output gate set on ev, in a fixed order; a
// measurement that is missing or NaN fails.
func (g Gate) Check(ev *eval.Result) []Verdict {
	var vs []Verdict
	if g.MaxAccuracyDrop != nil {
		vs = append(vs, accuracyVerdict(ev, *g.MaxAccuracyDrop))
	}
	if g.MinAgreement != nil {
		vs = append(vs, agreementVerdict(ev, *g.MinAgreement))
	}
	if g.MinSQNR != nil {
		vs = append(vs, sqnrVerdict(ev, *g.MinSQNR))
	}
	if g.Finite {
		vs = append(vs, finiteVerdict(ev))
	}
	return vs
}

// CheckSpeed measures the speedup gate; nil when it is not set. A
// missing measurement fails.
func (g Gate) CheckSpeed(sp *eval.Speed, provider string) *Verdict {
	if g.MinSpeedup == nil {
		return nil
	}
	v := &Verdict{Gate: MinSpeedup, Limit: *g.MinSpeedup, Summary: "speedup not measured"}
	if sp != nil {
		v.Value, v.Met = finite(sp.Speedup), sp.Speedup >= *g.MinSpeedup // NaN fails
		v.Summary = fmt.Sprintf("speedup %s on %s, minimum %g×", sp, provider, *g.MinSpeedup)
	}
	return v
}

// Score is the metric the accuracy-aware search improves: the accuracy
// drop, else the worst SQNR, else the worst agreement (the first gate
// set); 0 when no output gate is set.
func (g Gate) Score(ev *eval.Result) float64 {
	var v Verdict
	switch {
	case g.MaxAccuracyDrop != nil:
		v = accuracyVerdict(ev, *g.MaxAccuracyDrop)
	case g.MinSQNR != nil:
		return worstSQNR(ev)
	case g.MinAgreement != nil:
		v = agreementVerdict(ev, *g.MinAgreement)
	default:
		return 0
	}
	if v.Value == nil {
		return math.NaN()
	}
	return *v.Value
}

// Better reports whether score a is better than b (Score); NaN never is.
func (g Gate) Better(a, b float64) bool {
	if g.MaxAccuracyDrop != nil {
		return a < b || math.IsNaN(b) && !math.IsNaN(a)
	}
	return a > b || math.IsNaN(b) && !math.IsNaN(a)
}

// Met reports whether every verdict is met.
func Met(vs []Verdict) bool {
	for _, v := range vs {
		if !v.Met {
			return false
		}
	}
	return true
}

// Summary joins the verdicts' summaries: the failed ones when any failed,
// else all of them.
func Summary(vs []Verdict) string {
	var all, failed []string
	for _, v := range vs {
		all = append(all, v.Summary)
		if !v.Met {
			failed = append(failed, v.Summary)
		}
	}
	if len(failed) > 0 {
		return strings.Join(failed, "; ")
	}
	return strings.Join(all, "; ")
}

func accuracyVerdict(ev *eval.Result, limit float64) Verdict {
	v := Verdict{Gate: MaxAccuracyDrop, Limit: limit, Summary: "top-1 accuracy drop not measured: no labelled class-shaped output"}
	worst := math.Inf(-1)
	for _, o := range ev.Outputs {
		if !o.Classified || o.Labelled == 0 {
			continue
		}
		r, c := 100*o.RefAccuracy(), 100*o.CandAccuracy()
		if d := r - c; d > worst || math.IsNaN(d) {
			worst, v.Output = d, o.Name
			v.Summary = fmt.Sprintf("top-1 accuracy dropped %.2f points (%.2f%% → %.2f%%), limit %.2f", d, r, c, limit)
		}
	}
	if v.Output != "" {
		v.Value, v.Met = finite(worst), worst <= limit // NaN fails
	}
	return v
}

func agreementVerdict(ev *eval.Result, limit float64) Verdict {
	v := Verdict{Gate: MinAgreement, Limit: limit, Summary: "top-1 agreement not measured: no class-shaped output"}
	worst := math.Inf(1)
	for _, o := range ev.Outputs {
		if !o.Classified {
			continue
		}
		if a := 100 * o.Agreement(); a < worst || math.IsNaN(a) {
			worst, v.Output = a, o.Name
		}
	}
	if v.Output != "" {
		v.Value, v.Met = finite(worst), worst >= limit
		v.Summary = fmt.Sprintf("top-1 agreement %.2f%%, minimum %.2f%%", worst, limit)
	}
	return v
}

func sqnrVerdict(ev *eval.Result, limit float64) Verdict {
	worst := worstSQNR(ev)
	v := Verdict{Gate: MinSQNR, Limit: limit, Value: finite(worst), Met: worst >= limit}
	for _, o := range ev.Outputs {
		if q := o.SQNR(); q == worst || math.IsNaN(q) {
			v.Output = o.Name
			break
		}
	}
	switch {
	case math.IsNaN(worst):
		v.Summary = fmt.Sprintf("output SQNR not measured (NaN), minimum %.1f dB", limit)
	case math.IsInf(worst, 1):
		v.Summary = fmt.Sprintf("outputs identical, minimum SQNR %.1f dB", limit)
	default:
		v.Summary = fmt.Sprintf("output SQNR %.1f dB, minimum %.1f dB", worst, limit)
	}
	return v
}

// worstSQNR is the smallest output SQNR (NaN when any is NaN).
func worstSQNR(ev *eval.Result) float64 {
	worst := math.Inf(1)
	for _, o := range ev.Outputs {
		q := o.SQNR()
		if math.IsNaN(q) {
			return q
		}
		worst = math.Min(worst, q)
	}
	return worst
}

func finiteVerdict(ev *eval.Result) Verdict {
	var n int64
	v := Verdict{Gate: FiniteOutputs}
	for _, o := range ev.Outputs {
		if o.NonFinite > 0 && v.Output == "" {
			v.Output = o.Name
		}
		n += o.NonFinite
	}
	f := float64(n)
	v.Value, v.Met = &f, n == 0
	v.Summary = fmt.Sprintf("%d NaN or infinite values in the candidate's outputs", n)
	return v
}

// finite returns &x, or nil for NaN and infinities (which JSON cannot
// hold).
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
