package quantize

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
)

// TestQuantizeConformanceModels runs static and dynamic quantization over
// every ONNX conformance model (single operators, and old-opset PyTorch
// exports with real weights) that random data can feed. Each either has
// nothing to quantize, is refused for a stated reason, or yields a model
// that ONNX Runtime loads and that Quantize validated against the
// original; no other outcome (a changed output shape, an invalid model) is
// allowed.
func TestQuantizeConformanceModels(t *testing.T) {
	testutil.InitORT(t)
	dirs := testutil.ConformanceDirs(t)
	allowed := []string{"is already", "cannot upgrade", "has no samples"}
	quantized := 0
	for _, d := range dirs {
		m, err := onnx.Load(filepath.Join(d, "model.onnx"), onnx.LoadOptions{})
		if err != nil {
			continue
		}
		specs := dataset.SpecsFromGraph(m.Proto.Graph)
		cal, err := dataset.Open("random", specs, dataset.Options{RandomSamples: 2, Seed: 1})
		if err != nil {
			continue // inputs random data cannot make (strings, sequences)
		}
		ev, err := dataset.Open("random", specs, dataset.Options{RandomSamples: 2, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []Mode{Static, Dynamic} {
			o := Options{Mode: mode, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true}, Eval: ev, LatencyRuns: 1}
			if mode == Static {
				cal.Reset()
				o.Calibration = cal
			}
			_, err := Quantize(m.Proto, o)
			if err == nil {
				quantized++
				continue
			}
			if errors.Is(err, ErrNothingToQuantize) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || strings.Contains(err.Error(), a)
			}
			if !ok {
				t.Errorf("%s (%s): %v", filepath.Base(d), mode, err)
			}
		}
		cal.Close()
		ev.Close()
	}
	if quantized < 30 {
		t.Fatalf("only %d conformance models quantized", quantized)
	}
}
