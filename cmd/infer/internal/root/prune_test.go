package root

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
)

func TestPruneMNIST(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "mnist.onnx")
	b, err := os.ReadFile(mnist(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := filepath.Join(dir, "r.json")
	r := infer(t, "prune", src, "--sparsity", "0.5", "--data", digits(t), "--limit", "2000", "--report", rep, "--max-accuracy-drop", "5")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := filepath.Join(dir, "mnist.pruned.onnx")
	if _, err := ort.NewSessionFromFile(out, ort.Options{}); err != nil {
		t.Fatalf("default output: %v", err)
	}
	for _, want := range []string{"size, gzip", "top-1 accuracy", "gate", "50.0%"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	rp := readReport(t, rep)
	if rp["prune"].(map[string]any)["sparsity"].(float64) != 0.5 || rp["output"] == nil || rp["gate_met"] != true {
		t.Fatalf("report %v", rp)
	}
	// Again without --force: refused before any work.
	r = infer(t, "prune", src, "--sparsity", "0.5")
	oneLineError(t, r, 1, "--force")
	// A gate that cannot hold: exit 3, model written.
	out2 := filepath.Join(dir, "hard.onnx")
	r = infer(t, "prune", src, "--sparsity", "0.95", "--data", digits(t), "--limit", "500", "-o", out2, "--max-accuracy-drop", "0")
	if r.code != 3 || !strings.Contains(r.stderr, "accuracy drop") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(out2); err != nil {
		t.Fatal("gate failure left no model")
	}
	// 2:4 leaves the first convolution (1 input channel) dense and says so.
	r = infer(t, "prune", src, "--pattern", "2:4", "-o", filepath.Join(dir, "nm.onnx"), "--json")
	if r.code != 0 || !strings.Contains(r.stdout, "1 input channels, not a multiple of 4: left dense") || !strings.Contains(r.stdout, `"nm_satisfied": true`) {
		t.Fatalf("2:4 with a 1-channel convolution: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = infer(t, "prune", src, "--pattern", "2:4", "--keep-first-last", "-o", filepath.Join(dir, "nm.onnx"), "--json", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, `"nm_satisfied": true`) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestPruneAnalyzePlot(t *testing.T) {
	dir := t.TempDir()
	plot, rep := filepath.Join(dir, "s.svg"), filepath.Join(dir, "r.json")
	r := infer(t, "prune", testutil.Testdata(t, "cnn.onnx"), "--analyze", "--plot", plot, "--report", rep, "--levels", "0.5,0.9", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "sensitivity") || !strings.Contains(r.stdout, "conv2.weight") {
		t.Fatalf("no sensitivity table:\n%s", r.stdout)
	}
	if b, err := os.ReadFile(plot); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("plot: %v", err)
	}
	rp := readReport(t, rep)
	if rp["output"] != nil || rp["prune"].(map[string]any)["sensitivity"] == nil {
		t.Fatalf("report %v", rp)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(testutil.Testdata(t, "cnn.onnx")), "cnn.pruned.onnx")); err == nil {
		t.Fatal("--analyze wrote a model")
	}
}

func TestPruneUsageErrors(t *testing.T) {
	m := testutil.Testdata(t, "mlp.onnx")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--sparsity", "1.5"}, 2, "outside (0, 1)"},
		{[]string{"--sparsity", "0"}, 2, "outside (0, 1)"},
		{[]string{"--pattern", "4:2"}, 2, "1 ≤ N < M"},
		{[]string{"--pattern", "2:4", "--sparsity", "0.7"}, 2, "contradicts"},
		{[]string{"--scope", "all"}, 2, "layer or global"},
		{[]string{"--norm", "l3", "--pattern", "channel"}, 2, "l1 or l2"},
		{[]string{"--plot", "x.png"}, 2, "--analyze"},
		{[]string{"--auto", "--scope", "global"}, 2, "--auto"},
		{[]string{"--finetune", "--data", "x.npz"}, 2, "--pattern channel"},
		{[]string{"--pattern", "channel", "--finetune"}, 2, "--finetune needs --data"},
		{[]string{"--op-types", "LSTM", "--dry-run"}, 1, "nothing to prune"},
	} {
		r := infer(t, append([]string{"prune", m}, c.args...)...)
		oneLineError(t, r, c.code, c.want)
	}
	r := infer(t, "prune", testutil.Testdata(t, "gru.onnx"), "-o", filepath.Join(t.TempDir(), "g.onnx"))
	oneLineError(t, r, 1, "nothing to prune")
	r = infer(t, "prune", m, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "fc1.weight") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := onnx.Load(strings.TrimSuffix(m, ".onnx")+".pruned.onnx", onnx.LoadOptions{}); err == nil {
		t.Fatal("--dry-run wrote a model")
	}
}
