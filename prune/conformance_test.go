package prune

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
)

// TestPruneConformanceModels runs unstructured and channel pruning over
// every ONNX conformance model (single operators, and old-opset PyTorch
// exports with real weights) that random data can feed. Each either has
// nothing to prune, is refused for a stated reason, or yields a model that
// ONNX Runtime loads, with the original's output shapes (Prune compares
// them), that Prune validated against the original.
func TestPruneConformanceModels(t *testing.T) {
	testutil.InitORT(t)
	dirs := testutil.ConformanceDirs(t)
	allowed := []string{"has no samples", "holds NaN", "holds +Inf", "holds -Inf"}
	pruned := map[string]int{}
	for _, d := range dirs {
		m, err := onnx.Load(filepath.Join(d, "model.onnx"), onnx.LoadOptions{})
		if err != nil {
			continue
		}
		ev, err := dataset.Open("random", dataset.SpecsFromGraph(m.Proto.Graph), dataset.Options{RandomSamples: 2, Seed: 2})
		if err != nil {
			continue // inputs random data cannot make (strings, sequences)
		}
		for _, p := range []Pattern{Unstructured, Channel} {
			_, err := Prune(m.Proto, Options{Pattern: p, Sparsity: 0.5, Eval: ev, LatencyRuns: 1})
			if err == nil {
				pruned[p.Kind]++
				continue
			}
			if errors.Is(err, ErrNothingPrunable) {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || strings.Contains(err.Error(), a)
			}
			if !ok {
				t.Errorf("%s (%s): %v", filepath.Base(d), p, err)
			}
		}
		ev.Close()
	}
	t.Logf("pruned: %v", pruned)
	if pruned["unstructured"] < 25 {
		t.Fatalf("too few conformance models pruned: %v", pruned)
	}
}
