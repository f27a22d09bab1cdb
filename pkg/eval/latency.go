package eval

import (
	"errors"
	"io"
	"sort"
	"time"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Latency is a quick p50 in milliseconds of m on the first batch of src
// (5 warm-up runs, then runs timed runs; 0 means 50), for the reports of
// the optimizing commands. `infer bench` measures properly.
func Latency(m *onnxpb.ModelProto, so ort.Options, src dataset.Source, runs int) (float64, error) {
	if err := src.Reset(); err != nil {
		return 0, err
	}
	b, err := src.Next()
	if errors.Is(err, io.EOF) {
		return 0, errors.New("no evaluation sample for the latency comparison")
	}
	if err != nil {
		return 0, err
	}
	return LatencyOn(m, so, b.Inputs, runs)
}

// LatencyOn is Latency on the given inputs.
func LatencyOn(m *onnxpb.ModelProto, so ort.Options, inputs map[string]*tensor.Tensor, runs int) (float64, error) {
	s, err := ort.NewSessionFromModel(m, so)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	p, err := s.Prepare(inputs)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if runs <= 0 {
		runs = 50
	}
	for i := 0; i < 5; i++ {
		if err := p.Run(); err != nil {
			return 0, err
		}
	}
	lat := make([]float64, runs)
	for i := range lat {
		t0 := time.Now()
		if err := p.Run(); err != nil {
			return 0, err
		}
		lat[i] = float64(time.Since(t0)) / 1e6
	}
	sort.Float64s(lat)
	return lat[(len(lat)-1)/2], nil
}
