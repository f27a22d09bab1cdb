package eval

import (
	"math"
	"testing"
)

func TestStatsOnKnownValues(t *testing.T) {
	s := &OutputStats{Name: "y"}
	// Two samples of three classes; the candidate swaps sample 1's winner.
	ref := []float64{3, 1, 0, 0, 2, 1}
	cand := []float64{3, 1, 1, 0, 1, 2}
	if err := s.Add(ref, cand, 2, 3, []int64{0, 1}); err != nil {
		t.Fatal(err)
	}
	if !s.Classified || s.Agreements != 1 || s.RefCorrect != 2 || s.CandCorrect != 1 {
		t.Fatalf("classification %+v", s)
	}
	if s.MaxAbsError != 1 {
		t.Fatalf("max abs error %v", s.MaxAbsError)
	}
	// Σref² = 9+1+0+0+4+1 = 15; Σerr² = 0+0+1+0+1+1 = 3.
	if got, want := s.MSE(), 3.0/6; math.Abs(got-want) > 1e-12 {
		t.Fatalf("MSE %v, want %v", got, want)
	}
	if got, want := s.SQNR(), 10*math.Log10(15.0/3); math.Abs(got-want) > 1e-12 {
		t.Fatalf("SQNR %v, want %v", got, want)
	}
	// Sample 0: (9+1)/(√10·√11); sample 1: (0+2+2)/(√5·√5).
	want := (10/math.Sqrt(110) + 4.0/5) / 2
	if got := s.Cosine(); math.Abs(got-want) > 1e-12 {
		t.Fatalf("cosine %v, want %v", got, want)
	}
	if s.Agreement() != 0.5 || s.RefAccuracy() != 1 || s.CandAccuracy() != 0.5 {
		t.Fatalf("rates %v %v %v", s.Agreement(), s.RefAccuracy(), s.CandAccuracy())
	}
}

func TestStatsEdgeCases(t *testing.T) {
	s := &OutputStats{Name: "y"}
	if err := s.Add([]float64{1, 2}, []float64{1, 2}, 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(s.SQNR(), 1) || s.Classified {
		t.Fatalf("identical outputs: SQNR %v classified %v", s.SQNR(), s.Classified)
	}
	if err := s.Add([]float64{1}, []float64{math.NaN()}, 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	if s.NonFinite != 1 || !math.IsNaN(s.MaxAbsError) {
		t.Fatalf("NaN must show: non-finite %d max err %v", s.NonFinite, s.MaxAbsError)
	}
	for _, bad := range []func() error{
		func() error { return s.Add([]float64{1}, []float64{1, 2}, 1, 0, nil) },
		func() error { return s.Add([]float64{1, 2, 3}, []float64{1, 2, 3}, 2, 0, nil) },
		func() error { return s.Add([]float64{1, 2}, []float64{1, 2}, 2, 0, []int64{1}) },
	} {
		if bad() == nil {
			t.Error("mismatched lengths accepted")
		}
	}
	if Argmax([]float64{math.NaN(), 1, 3, 3}) != 2 {
		t.Fatal("argmax: NaN must not win and ties go to the first")
	}
}
