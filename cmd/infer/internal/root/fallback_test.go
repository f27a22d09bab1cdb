package root

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
)

// When int8 is slower than float everywhere, the original itself is
// written, and the report says it is the same model instead of timing it
// against itself (which printed noise as "faster 1.08×"); the report still
// matches the schema.
func TestFallbackIsTheSameModel(t *testing.T) {
	dir := t.TempDir()
	hidden := make([]int64, 24)
	for i := range hidden {
		hidden[i] = 8
	}
	model := writeModel(t, dir, "deep", testmodels.MLP(testmodels.MLPConfig{In: 8, Hidden: hidden, Classes: 8, Seed: 4}))
	r := infer(t, "quantize", model, "--mode", "dynamic", "-o", filepath.Join(dir, "q.onnx"), "--json")
	rep := validReport(t, reportSchema(t), "fallback", r)
	if _, ok := rep["quantize"].(map[string]any)["fallback"]; !ok {
		t.Fatalf("no float fallback: the dynamic int8 chain of 8×8 MatMuls should be slower than float")
	}
	lat := rep["latency"].(map[string]any)
	if lat["same_model"] != true || lat["speedup"] != 1.0 {
		t.Fatalf("latency %v: want the same model", lat)
	}
	table := infer(t, "quantize", model, "--mode", "dynamic", "-o", filepath.Join(dir, "q2.onnx"))
	if table.code != 0 || !strings.Contains(table.stdout, "the same model") || strings.Contains(table.stdout, "faster)") {
		t.Fatalf("exit %d\n%s\n%s", table.code, table.stdout, table.stderr)
	}
}
