package root

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
)

// writeMLP writes an MLP of the given hidden width.
func writeMLP(t *testing.T, dir, name string, hidden int64) string {
	t.Helper()
	m := testmodels.MLP(testmodels.MLPConfig{In: 256, Hidden: []int64{hidden, hidden}, Classes: 10, Seed: 1})
	p := filepath.Join(dir, name)
	if _, err := onnx.Save(m, p, onnx.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

// A model many times slower than the baseline exits 3 and names the
// regressed metric.
func TestBenchBaselineRegression(t *testing.T) {
	dir := t.TempDir()
	fast := writeMLP(t, dir, "fast.onnx", 16)
	slow := writeMLP(t, dir, "slow.onnx", 1024)
	base := filepath.Join(dir, "base.json")
	r := infer(t, "bench", fast, "--iterations", "200", "--batch", "8", "--threads", "1", "--format", "json", "-o", base)
	if r.code != 0 {
		t.Fatalf("baseline run: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(base); err != nil {
		t.Fatal(err)
	}
	r = infer(t, "bench", slow, "--iterations", "200", "--batch", "8", "--threads", "1", "--baseline", base, "--max-regression", "10%", "--format", "markdown")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "p50") || !strings.Contains(r.stdout, "❌") {
		t.Fatalf("regression not named:\nstdout %s\nstderr %s", r.stdout, r.stderr)
	}
	// The other way round — a much faster model against a slow baseline —
	// passes. (A model against itself is not tested: on a shared machine
	// its p99 can move by more than any sensible limit.)
	slowBase := filepath.Join(dir, "slow.json")
	if r = infer(t, "bench", slow, "--iterations", "200", "--batch", "8", "--threads", "1", "--format", "json", "-o", slowBase); r.code != 0 {
		t.Fatalf("slow baseline: exit %d: %s", r.code, r.stderr)
	}
	r = infer(t, "bench", fast, "--iterations", "200", "--batch", "8", "--threads", "1", "--baseline", slowBase, "--max-regression", "10%")
	if r.code != 0 {
		t.Fatalf("faster than baseline: exit %d\n%s", r.code, r.stderr)
	}
	// Absolute gates.
	r = infer(t, "bench", slow, "--iterations", "50", "--max-p99", "1us")
	if r.code != 3 || !strings.Contains(r.stderr, "p99") {
		t.Fatalf("--max-p99: exit %d %s", r.code, r.stderr)
	}
}

func TestBenchTensorRTUnavailable(t *testing.T) {
	r := infer(t, "bench", testutil.Testdata(t, "mlp.onnx"), "--ep", "tensorrt", "--iterations", "10")
	if r.code == 0 {
		t.Skip("TensorRT started: a GPU build and device are present")
	}
	oneLineError(t, r, 1, "tensorrt")
	// With a fallback list it runs on CPU and says so.
	r = infer(t, "bench", testutil.Testdata(t, "mlp.onnx"), "--ep", "tensorrt,cpu", "--iterations", "10", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"provider_ran": "cpu"`) || !strings.Contains(r.stderr, "tensorrt did not start") {
		t.Fatalf("fallback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchOutputs(t *testing.T) {
	dir := t.TempDir()
	model := testutil.Testdata(t, "mlp.onnx")
	out := filepath.Join(dir, "r.csv")
	plot := filepath.Join(dir, "lat.svg")
	r := infer(t, "bench", model, testutil.Testdata(t, "cnn.onnx"), "--iterations", "30", "--format", "csv", "-o", out, "--plot", plot, "--scenario", "throughput", "--concurrency", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	csv, _ := os.ReadFile(out)
	if lines := strings.Count(string(csv), "\n"); lines != 3 {
		t.Fatalf("csv has %d lines:\n%s", lines, csv)
	}
	svg, _ := os.ReadFile(plot)
	if !strings.Contains(string(svg), "<svg") {
		t.Fatal("plot is not an SVG")
	}
	// Existing files are refused without --force, before any work.
	r = infer(t, "bench", model, "--iterations", "5", "-o", out)
	oneLineError(t, r, 1, "--force")
	r = infer(t, "bench", model, "--iterations", "5", "-o", model, "--force")
	oneLineError(t, r, 1, "is an input")
	// Server scenario reports the achieved rate.
	r = infer(t, "bench", model, "--scenario", "server", "--rate", "500", "--iterations", "50", "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"rate_achieved"`) {
		t.Fatalf("server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	model := testutil.Testdata(t, "mlp.onnx")
	cases := [][]string{
		{"bench"},
		{"bench", model, "--iterations", "5", "--duration", "1s"},
		{"bench", model, "--percentiles", "50,101"},
		{"bench", model, "--baseline", "x.json"},
		{"bench", model, "--max-regression", "10%"},
		{"bench", model, "--format", "xml"},
		{"bench", model, "--rate", "10"},
		{"bench", model, "--scenario", "server"},
		{"bench", model, "--plot", "x.jpg"},
		{"bench", model, "--ep", "gpu"},
		{"bench", model, "--batch", "0"},
		{"bench", model, "--warmup", "soon"},
		{"bench", model, "--max-p99", "fast"},
	}
	for _, args := range cases {
		r := infer(t, append(args, "--iterations", "1")...)
		if len(args) > 2 && args[2] == "--iterations" {
			r = infer(t, args...)
		}
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
	}
}
