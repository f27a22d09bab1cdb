package validate

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/eval"
)

// result is one classifier output over two samples of two classes:
// the candidate agrees on the first, and the labels are 0, 0 when
// labelled.
func result(t *testing.T, cand []float64, labelled bool) *eval.Result {
	t.Helper()
	st := &eval.OutputStats{Name: "y"}
	var labels []int64
	if labelled {
		labels = []int64{0, 0}
	}
	if err := st.Add([]float64{1, 0, 1, 0}, cand, 2, 2, labels); err != nil {
		t.Fatal(err)
	}
	return &eval.Result{Samples: 2, Outputs: []*eval.OutputStats{st}}
}

func TestGateVerdicts(t *testing.T) {
	ev := result(t, []float64{1, 0, 0, 1}, true) // 100% → 50%, agreement 50%
	g := Gate{MaxAccuracyDrop: Limit(10), MinAgreement: Limit(40), MinSQNR: Limit(-100)}
	vs := g.Check(ev)
	if len(vs) != 3 || vs[0].Met || !vs[1].Met || !vs[2].Met || Met(vs) {
		t.Fatalf("verdicts %+v", vs)
	}
	if *vs[0].Value != 50 || !strings.Contains(Summary(vs), "dropped 50.00 points") {
		t.Fatalf("accuracy verdict %+v, summary %q", vs[0], Summary(vs))
	}
	if g.Score(ev) != 50 || !g.Better(1, 50) || g.Better(math.NaN(), 50) {
		t.Fatalf("score %v", g.Score(ev))
	}
}

// A NaN measurement fails every gate; identical outputs (infinite SQNR)
// pass the SQNR gate with no value.
func TestGateNaNFails(t *testing.T) {
	nan := result(t, []float64{math.NaN(), 0, 1, 0}, false)
	g := Gate{MinSQNR: Limit(0), Finite: true}
	for _, v := range g.Check(nan) {
		if v.Met || v.Value != nil && v.Gate == MinSQNR {
			t.Errorf("NaN output passed %+v", v)
		}
	}
	same := result(t, []float64{1, 0, 1, 0}, false)
	if v := g.Check(same)[0]; !v.Met || v.Value != nil {
		t.Errorf("identical outputs: %+v", v)
	}
	sp := Gate{MinSpeedup: Limit(1.5)}.CheckSpeed(nil, "cpu")
	if sp == nil || sp.Met {
		t.Errorf("unmeasured speedup passed: %+v", sp)
	}
}

// The accuracy-drop gate needs labels: without them it is an error, not
// a gate on another metric.
func TestGateNeedsLabels(t *testing.T) {
	g := Gate{MaxAccuracyDrop: Limit(1)}
	if err := g.Measurable(result(t, []float64{1, 0, 1, 0}, false)); !errors.Is(err, ErrNeedsLabels) {
		t.Fatalf("unlabelled: %v", err)
	}
	if err := g.Measurable(result(t, []float64{1, 0, 1, 0}, true)); err != nil {
		t.Fatal(err)
	}
	if err := (Gate{MinAgreement: Limit(1)}).Measurable(result(t, []float64{1, 0, 1, 0}, false)); err != nil {
		t.Fatal(err)
	}
}
