package testutil

import (
	"sort"
	"testing"
	"time"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// P50 is the median of runs timed Run calls of m on prepared inputs, in
// milliseconds, with one intra-op thread and 5 warm-up runs, for
// benchmarks that compare models as ratios (alternate blocks of calls on
// a noisy machine).
func P50(t testing.TB, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor, runs int) float64 {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Prepare(inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 5; i++ {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
	}
	lat := make([]float64, runs)
	for i := range lat {
		t0 := time.Now()
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		lat[i] = float64(time.Since(t0)) / 1e6
	}
	sort.Float64s(lat)
	return lat[len(lat)/2]
}

// Median of v (sorted in place).
func Median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}
