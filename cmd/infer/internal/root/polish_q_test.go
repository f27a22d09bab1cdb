package root

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/infer-ml/infer/internal/testutil"
)

// Issue 16, bench friction: what a first `infer bench a.onnx b.onnx`
// prints.

// Markdown without a gate says what was compared and claims no "no
// regressions"; with a gate that passes it says which gate.
func TestPolishQMarkdownOnlyClaimsCheckedGates(t *testing.T) {
	a, b := mnist(t), testutil.Testdata(t, "cnn.onnx")
	r := infer(t, "bench", a, b, "--iterations", "30", "--format", "markdown")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "no regressions") || strings.Contains(r.stdout, "### Regressions") {
		t.Errorf("an ungated bench claims no regressions:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "- cnn.onnx vs model.onnx (cpu, batch 1, latency): p50 ") {
		t.Errorf("the comparison is not said in words:\n%s", r.stdout)
	}
	r = infer(t, "bench", a, "--iterations", "30", "--format", "markdown", "--max-p99", "10s")
	if r.code != 0 || !strings.Contains(r.stdout, "✅ no regressions (p99 ≤ 10000ms)") {
		t.Errorf("a passed gate is not named: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The default table of a two-model bench fits 100 columns; --wide has the
// full set, with sizes in human units (the 26 KiB MNIST model is not
// "0.0 MiB").
func TestPolishQTableWidthAndWide(t *testing.T) {
	a, b := mnist(t), testutil.Testdata(t, "cnn.onnx")
	r := infer(t, "bench", a, b, "--iterations", "30")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("default table line of %d columns: %q", n, line)
		}
	}
	for _, want := range []string{"p50 ms", "p90 ms", "p99 ms", "runs/s", "samples/s", "speedup", "cpu · batch 1 · latency"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("default table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = infer(t, "bench", a, b, "--iterations", "30", "--wide")
	if r.code != 0 {
		t.Fatalf("--wide: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"provider", "scenario", "create ms", "first ms", "mean ms", "stddev ms", "p95 ms", "p99.9 ms",
		"min ms", "max ms", "RSS+", "size", "speedup p50", "speedup thr", "25.8 KiB", "98.3 KiB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--wide table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// The first model measured does not pay for ONNX Runtime's own start-up:
// the same model twice in one fresh process (with --data, so no shape
// probe warms the runtime first) grows RSS by about the same. Before, the
// first paid about 12 MiB more than the second.
func TestPolishQRSSFairToFirstModel(t *testing.T) {
	m := mnist(t)
	r := inferProcess(t, t.TempDir(), ortEnv(t), "bench", m, m, "--iterations", "30", "--data", digits(t), "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := readJSON(t, r.stdout)["results"].([]any)
	first := res[0].(map[string]any)["peak_rss_growth_bytes"].(float64)
	second := res[1].(map[string]any)["peak_rss_growth_bytes"].(float64)
	if first < 0 || second < 0 {
		t.Fatalf("RSS not measured: %v, %v", first, second)
	}
	const slack = 4 << 20
	if first > 2*second+slack {
		t.Errorf("first RSS+ %.1f MiB, second %.1f MiB: the first includes the runtime's start-up", first/(1<<20), second/(1<<20))
	}
}
