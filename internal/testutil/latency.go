package testutil

import (
	"testing"

	"github.com/infer-ml/infer/internal/timing"
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
	ds, err := timing.Runs(p.Run, 5, runs)
	if err != nil {
		t.Fatal(err)
	}
	return timing.MedianMS(ds)
}

// Median of v: timing.Median, the one median every latency figure uses.
func Median(v []float64) float64 { return timing.Median(v) }
