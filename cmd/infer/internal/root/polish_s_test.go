package root

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
)

// mnistDistillArgs is a distill run of the MNIST pair with the default
// training settings, writing into dir.
func mnistDistillArgs(t *testing.T, dir string, extra ...string) []string {
	return append([]string{"distill", "--teacher", mnist(t), "--student", testutil.Testdata(t, "mnist_student.onnx"),
		"--data", shuffledDigits(t), "-o", filepath.Join(dir, "s.onnx"), "--no-progress"}, extra...)
}

// TestPolishSDistillDefaults: one epoch with the default settings (no
// --lr, --batch-size, --schedule, --temperature or --alpha) trains the
// MNIST student past 90% on the held-out digits; the former defaults
// (Adam 1e-3 constant, batch 64, T = 4) gave 87.5%. The report echoes the
// defaults used.
func TestPolishSDistillDefaults(t *testing.T) {
	dir := t.TempDir()
	rep := filepath.Join(dir, "r.json")
	r := infer(t, mnistDistillArgs(t, dir, "--epochs", "1", "--report", rep)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rp := readReport(t, rep)
	if acc, _ := rp["validation"].(map[string]any)["candidate_accuracy"].(float64); acc < 90 {
		t.Errorf("one epoch with the defaults gave %.2f%%; want ≥ 90%%", acc)
	}
	o := rp["options"].(map[string]any)
	for k, want := range map[string]any{"lr": 4e-3, "schedule": "cosine", "batch_size": 64.0, "temperature": 2.0, "alpha": 0.9} {
		if o[k] != want {
			t.Errorf("options.%s = %v, want %v", k, o[k], want)
		}
	}
}

// TestPolishSDistillPlot: --plot writes the learning curve as a PNG that
// decodes, or as an SVG, next to the model.
func TestPolishSDistillPlot(t *testing.T) {
	dir := t.TempDir()
	pngPath, svgPath := filepath.Join(dir, "curve.png"), filepath.Join(dir, "curve.svg")
	r := infer(t, mnistDistillArgs(t, dir, "--epochs", "2", "--plot", pngPath)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("%s: %v", pngPath, err)
	}
	r = infer(t, mnistDistillArgs(t, dir, "--epochs", "1", "--plot", svgPath, "--force")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(svgPath)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "agreement with the teacher") {
		t.Fatalf("svg plot: %v", err)
	}
}

// TestPolishSDistillPlotUsage: a --plot that is also -o or --report, or
// not a .png/.svg, is a usage error (exit 2) before any training, and
// nothing is written.
func TestPolishSDistillPlotUsage(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", x, "--plot", x}, "two outputs of this run name"},
		{[]string{"--plot", x, "--report", x}, "two outputs of this run name"},
		{[]string{"--plot", filepath.Join(dir, "x.jpg")}, "--plot " + filepath.Join(dir, "x.jpg") + ": want a .png or .svg file"},
	} {
		oneLineError(t, infer(t, mnistDistillArgs(t, dir, c.args...)...), 2, c.want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused runs wrote %v", entries)
	}
}

// TestPolishSDemoListsOutputs: every file that `make demo` tells a command
// to write (-o, --report, --plot, tee) is in $(DEMO), and the demo ends
// by printing the "wrote:" list holding each of them.
func TestPolishSDemoListsOutputs(t *testing.T) {
	demo := filepath.Join(t.TempDir(), "demo-out")
	cmd := exec.Command("make", "-n", "demo", "DEMO="+demo)
	cmd.Dir = testutil.RepoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	text := string(out)
	i := strings.LastIndex(text, `echo "wrote:"`)
	if i < 0 {
		t.Fatalf("make demo does not end with a \"wrote:\" list:\n%s", text)
	}
	steps, list := text[:i], text[i:]
	if strings.Contains(list, "./infer ") {
		t.Fatalf("a command runs after the \"wrote:\" list:\n%s", list)
	}
	listed := map[string]bool{}
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == ';' || r == '\n' }) {
		listed[f] = true
	}
	// The infer commands of the demo, continuation lines joined.
	var commands []string
	for _, line := range strings.Split(strings.ReplaceAll(steps, "\\\n", " "), "\n") {
		if line = strings.TrimPrefix(line, "set -o pipefail; "); strings.HasPrefix(line, "./infer ") {
			commands = append(commands, line)
		}
	}
	var outputs []string
	for _, c := range commands {
		for _, m := range regexp.MustCompile(`(?:-o|--report|--plot|\| tee) (\S+)`).FindAllStringSubmatch(c, -1) {
			outputs = append(outputs, m[1])
		}
	}
	if len(commands) < 6 || len(outputs) < 8 {
		t.Fatalf("found %d infer commands and %d outputs in the demo:\n%s", len(commands), len(outputs), steps)
	}
	for _, o := range outputs {
		if !strings.HasPrefix(o, demo+"/") {
			t.Errorf("the demo writes %s outside $(DEMO)", o)
		}
		if !listed[o] {
			t.Errorf("the \"wrote:\" list leaves out %s", o)
		}
	}
}
