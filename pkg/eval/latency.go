package eval

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/infer-ml/infer/internal/timing"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Speed compares the latency of a candidate with its reference, measured
// in alternating rounds on the same inputs so that drift (frequency
// scaling, a neighbour's load) hits both alike.
type Speed struct {
	// RefP50MS and CandP50MS are the medians over rounds of each round's
	// p50, in milliseconds.
	RefP50MS  float64 `json:"reference_p50_ms"`
	CandP50MS float64 `json:"candidate_p50_ms"`
	// Speedup is the median over rounds of reference p50 / candidate p50
	// (above 1: the candidate is faster); Low and High its range.
	Speedup float64 `json:"speedup"`
	Low     float64 `json:"speedup_low"`
	High    float64 `json:"speedup_high"`
	Rounds  int     `json:"rounds"`
	Runs    int     `json:"runs_per_round"`
	// Same is set when the candidate is the reference model itself (a
	// float fallback): nothing was timed against it.
	Same bool `json:"same_model,omitempty"`
}

// SameModel is the comparison of a model with itself, at the reference
// p50 of an earlier measurement (nil gives zeros): speedup 1, no rounds.
func SameModel(earlier *Speed) *Speed {
	s := &Speed{Speedup: 1, Low: 1, High: 1, Same: true}
	if earlier != nil {
		s.RefP50MS, s.CandP50MS = earlier.RefP50MS, earlier.RefP50MS
	}
	return s
}

// Slower reports whether the candidate was slower in every round: a
// slowdown larger than the noise between rounds.
func (s *Speed) Slower() bool { return s.Rounds > 0 && s.High < 1 }

// Faster reports whether the candidate was faster in every round.
func (s *Speed) Faster() bool { return s.Rounds > 0 && s.Low > 1 }

// String reads "1.84× (1.79–1.90 over 5 rounds)".
func (s *Speed) String() string {
	if s.Same {
		return "1.00× (the same model, not timed)"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f over %d rounds)", s.Speedup, s.Low, s.High, s.Rounds)
}

// Verdict is "faster", "slower" or "the same within noise".
func (s *Speed) Verdict() string {
	switch {
	case s.Same:
		return "the same model"
	case s.Faster():
		return "faster"
	case s.Slower():
		return "slower"
	}
	return "the same within noise"
}

// speedRounds is how many alternating rounds CompareSpeed measures, after
// warmupRuns untimed runs of each model.
const (
	speedRounds = 5
	warmupRuns  = 5
)

// CompareSpeed measures ref and cand on the first batch of src: after
// warmupRuns warm-up runs each, speedRounds rounds alternate runs/speedRounds timed
// runs of each model (runs 0 means 50, at least 3 per round).
func CompareSpeed(ref, cand *onnxpb.ModelProto, so ort.Options, src dataset.Source, runs int) (*Speed, error) {
	in, err := FirstBatch(src)
	if err != nil {
		return nil, err
	}
	return CompareSpeedOn(ref, cand, so, in, runs)
}

// FirstBatch is the first batch of src (rewound first): the inputs every
// latency comparison of a run is made on.
func FirstBatch(src dataset.Source) (map[string]*tensor.Tensor, error) {
	if err := src.Reset(); err != nil {
		return nil, err
	}
	b, err := src.Next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no evaluation sample for the latency comparison")
	}
	if err != nil {
		return nil, err
	}
	return b.Inputs, nil
}

// CompareSpeedOn is CompareSpeed on the given inputs.
func CompareSpeedOn(ref, cand *onnxpb.ModelProto, so ort.Options, inputs map[string]*tensor.Tensor, runs int) (*Speed, error) {
	var sessions [2]*ort.Session
	for i, m := range []*onnxpb.ModelProto{ref, cand} {
		s, err := ort.NewSessionFromModel(m, so)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		sessions[i] = s
	}
	return CompareSpeedSessions(sessions[0], sessions[1], inputs, runs)
}

// CompareSpeedSessions is CompareSpeedOn on sessions already open.
func CompareSpeedSessions(ref, cand *ort.Session, inputs map[string]*tensor.Tensor, runs int) (*Speed, error) {
	if runs <= 0 {
		runs = 50
	}
	per := max(runs/speedRounds, 3)
	var preps [2]*ort.Prepared
	for i, s := range []*ort.Session{ref, cand} {
		p, err := s.Prepare(inputs)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		if _, err := timing.Runs(p.Run, warmupRuns, 0); err != nil {
			return nil, err
		}
		preps[i] = p
	}
	var p50 [2][]float64
	ratios := make([]float64, speedRounds)
	for r := range speedRounds {
		for i, p := range preps {
			ds, err := timing.Runs(p.Run, 0, per)
			if err != nil {
				return nil, err
			}
			p50[i] = append(p50[i], timing.MedianMS(ds))
		}
		ratios[r] = p50[0][r] / p50[1][r]
	}
	sp := &Speed{RefP50MS: timing.Median(p50[0]), CandP50MS: timing.Median(p50[1]), Rounds: speedRounds, Runs: per}
	sp.Speedup, sp.Low, sp.High = timing.Median(ratios), slices.Min(ratios), slices.Max(ratios)
	return sp, nil
}
