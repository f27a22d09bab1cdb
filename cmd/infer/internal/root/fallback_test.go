package root

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
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

// --max-accuracy-drop on labelled data whose model has no class-shaped
// output (one value per sample) is a usage error in compare and in every
// command, not a gate failure.
func TestAccuracyGateNeedsClassShapedOutput(t *testing.T) {
	dir := t.TempDir()
	b := testmodels.NewBuilder("sum", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	b.Node("ReduceSum", []string{x, b.InitializerInt64("axes", []int64{1}, []int64{1})}, []string{"y"}, &onnxpb.AttributeProto{Name: "keepdims", Type: onnxpb.AttributeProto_INT, I: 0})
	b.Output("y", tensor.Float32, "N")
	model := writeModel(t, dir, "sum", b.Model())
	data := filepath.Join(dir, "d.npz")
	w, err := tensor.CreateNPZ(data, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("x", tensor.MustNew([]int64{8, 4}, make([]float32, 32))); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("label", tensor.MustNew([]int64{8}, make([]int64, 8))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := infer(t, "compare", model, model, "--data", data, "--max-accuracy-drop", "1")
	oneLineError(t, r, 2, "--max-accuracy-drop needs labels")
}

// prune without --data validates on 64 random samples unless --samples
// says otherwise (it used to ignore --samples there).
func TestPruneRandomSamplesHonoured(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want float64
	}{{nil, 64}, {[]string{"--samples", "8"}, 8}} {
		args := append([]string{"prune", mnist(t), "-o", filepath.Join(dir, "p.onnx"), "--force", "--json"}, c.args...)
		rep := readJSON(t, infer(t, args...).stdout)
		if got := rep["validation"].(map[string]any)["samples"]; got != c.want {
			t.Errorf("%v: %v samples, want %v", c.args, got, c.want)
		}
	}
}

// With a fallback list whose first provider cannot start (the CPU build of
// ONNX Runtime has no CUDA), quantize and prune say so and report the
// provider that ran, not the first one asked for.
func TestProviderFallbackReported(t *testing.T) {
	dir := t.TempDir()
	for _, verb := range []string{"quantize", "prune"} {
		r := infer(t, verb, mnist(t), "--ep", "cuda,cpu", "-o", filepath.Join(dir, verb+".onnx"), "--json")
		rep := readJSON(t, r.stdout)
		if p := rep["latency"].(map[string]any)["provider"]; p != "cpu" {
			t.Errorf("%s: latency on %v, want cpu", verb, p)
		}
		if !strings.Contains(r.stderr, "provider cuda did not start") {
			t.Errorf("%s: no note on the provider that did not start:\n%s", verb, r.stderr)
		}
	}
}
