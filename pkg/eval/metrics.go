// Package eval compares a candidate model with a reference on the same data:
// per output, top-1 accuracy against labels, top-1 agreement with the
// reference, maximum absolute error, mean squared error, cosine similarity
// and signal-to-quantization-noise ratio. Statistics are accumulated batch by
// batch; nothing keeps all outputs in memory.
//
// Conventions:
//   - Top-1 is the argmax over the last axis of an output whose first axis is
//     the batch (rank ≥ 2, last axis > 1); ties go to the lowest index.
//     Outputs of other shapes get no top-1 numbers.
//   - SQNR = 10·log10(Σ ref² / Σ (ref − cand)²) over all elements, +Inf when
//     the outputs are identical.
//   - Cosine similarity is computed per sample and averaged over samples.
//   - NaN or Inf in a candidate output is counted and reported, never hidden.
package eval

import (
	"fmt"
	"math"
)

// OutputStats accumulates the comparison of one output.
type OutputStats struct {
	Name string `json:"name"`
	// Samples compared.
	Samples int `json:"samples"`
	// Elements compared.
	Elements int64 `json:"elements"`
	// Classification numbers (only when the output is class-shaped).
	Classified bool `json:"classified"`
	// Labelled samples and how many the reference and candidate got right.
	Labelled    int     `json:"labelled,omitempty"`
	RefCorrect  int     `json:"ref_correct,omitempty"`
	CandCorrect int     `json:"cand_correct,omitempty"`
	Agreements  int     `json:"agreements,omitempty"`
	MaxAbsError float64 `json:"max_abs_error"`
	sumSqErr    float64
	sumSqRef    float64
	sumCos      float64
	cosSamples  int
	NonFinite   int64 `json:"non_finite,omitempty"`
}

// LabelError is the error for a label that is not a class index of a
// classifier's output: negative, or not below its number of classes. Such
// a label would count as wrong for every model, hiding a broken one.
type LabelError struct {
	// Where names the sample: "sample I" of the batch given to Add, or
	// where the label was read (see dataset.Batch.LabelSource).
	Where   string
	Sample  int // in the batch given to Add
	Label   int64
	Output  string
	Classes int
}

func (e *LabelError) Error() string {
	return fmt.Sprintf("%s: label %d is not a class of output %q, which has %d (0..%d)", e.Where, e.Label, e.Output, e.Classes, e.Classes-1)
}

// Add compares one batch of an output: ref and cand hold n samples of
// equal size each, labels holds n labels or is nil. It returns an error if
// the lengths disagree, or a *LabelError, before counting anything, if the
// output is class-shaped and a label is not one of its classes.
func (s *OutputStats) Add(ref, cand []float64, n int, classes int, labels []int64) error {
	if len(ref) != len(cand) {
		return fmt.Errorf("output %q: reference has %d values, candidate %d", s.Name, len(ref), len(cand))
	}
	if n <= 0 || len(ref)%n != 0 {
		return fmt.Errorf("output %q: %d values do not split into %d samples", s.Name, len(ref), n)
	}
	if labels != nil && len(labels) != n {
		return fmt.Errorf("output %q: %d labels for %d samples", s.Name, len(labels), n)
	}
	per := len(ref) / n
	if classes > 1 && per == classes {
		for i, l := range labels {
			if l < 0 || l >= int64(classes) {
				return &LabelError{Where: fmt.Sprintf("sample %d", i), Sample: i, Label: l, Output: s.Name, Classes: classes}
			}
		}
	}
	for i := 0; i < n; i++ {
		r, c := ref[i*per:(i+1)*per], cand[i*per:(i+1)*per]
		var dot, nr, nc float64
		for j := range r {
			if math.IsNaN(c[j]) || math.IsInf(c[j], 0) {
				s.NonFinite++
			}
			d := r[j] - c[j]
			if a := math.Abs(d); a > s.MaxAbsError || math.IsNaN(a) {
				s.MaxAbsError = a
			}
			s.sumSqErr += d * d
			s.sumSqRef += r[j] * r[j]
			dot += r[j] * c[j]
			nr += r[j] * r[j]
			nc += c[j] * c[j]
		}
		switch {
		case nr == 0 && nc == 0:
			s.sumCos++
		case nr > 0 && nc > 0:
			s.sumCos += dot / math.Sqrt(nr*nc)
		}
		s.cosSamples++
		if classes > 1 && per%classes == 0 && per == classes {
			s.Classified = true
			ra, ca := Argmax(r), Argmax(c)
			if ra == ca {
				s.Agreements++
			}
			if labels != nil {
				s.Labelled++
				if int64(ra) == labels[i] {
					s.RefCorrect++
				}
				if int64(ca) == labels[i] {
					s.CandCorrect++
				}
			}
		}
	}
	s.Samples += n
	s.Elements += int64(len(ref))
	return nil
}

// MSE is the mean squared error over all elements.
func (s *OutputStats) MSE() float64 {
	if s.Elements == 0 {
		return 0
	}
	return s.sumSqErr / float64(s.Elements)
}

// SQNR in dB; +Inf when there is no error, -Inf when the reference is all
// zero but the candidate is not.
func (s *OutputStats) SQNR() float64 { return SQNR(s.sumSqRef, s.sumSqErr) }

// Cosine is the mean per-sample cosine similarity.
func (s *OutputStats) Cosine() float64 {
	if s.cosSamples == 0 {
		return 0
	}
	return s.sumCos / float64(s.cosSamples)
}

// Agreement is the fraction of samples whose top-1 matches the reference.
func (s *OutputStats) Agreement() float64 { return frac(s.Agreements, s.Samples) }

// RefAccuracy and CandAccuracy are top-1 accuracies against labels.
func (s *OutputStats) RefAccuracy() float64  { return frac(s.RefCorrect, s.Labelled) }
func (s *OutputStats) CandAccuracy() float64 { return frac(s.CandCorrect, s.Labelled) }

func frac(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// SQNR returns 10·log10(signal/noise) for sums of squares.
func SQNR(signal, noise float64) float64 {
	if noise == 0 {
		return math.Inf(1)
	}
	if signal == 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(signal/noise)
}

// Argmax returns the index of the largest value (the first one on ties;
// NaN never wins).
func Argmax(v []float64) int {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] || math.IsNaN(v[best]) {
			best = i
		}
	}
	return best
}

// Summary is an output's comparison in report units: percentages and dB,
// nil where it does not apply (no labels, not a classifier, identical
// outputs).
type Summary struct {
	RefAccuracy, CandAccuracy, AccuracyDrop *float64 // top-1 %, labelled data
	Agreement                               *float64 // top-1 agreement %, classifiers
	SQNR                                    *float64 // dB, finite only
	Cosine, MaxAbsError                     float64
}

// Summary converts the statistics to report units.
func (s *OutputStats) Summary() Summary {
	v := Summary{Cosine: s.Cosine(), MaxAbsError: s.MaxAbsError}
	if q := s.SQNR(); !math.IsInf(q, 0) && !math.IsNaN(q) {
		v.SQNR = &q
	}
	if s.Classified {
		a := 100 * s.Agreement()
		v.Agreement = &a
	}
	if s.Labelled > 0 {
		r, c := 100*s.RefAccuracy(), 100*s.CandAccuracy()
		d := r - c
		v.RefAccuracy, v.CandAccuracy, v.AccuracyDrop = &r, &c, &d
	}
	return v
}
