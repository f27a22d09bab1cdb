package root

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

// helpLines maps each flag's name to its line in `infer CMD --help`.
func helpLines(t *testing.T, cmd string) map[string]string {
	t.Helper()
	r := infer(t, cmd, "--help")
	if r.code != 0 {
		t.Fatalf("%s --help: exit %d: %s", cmd, r.code, r.stderr)
	}
	flagName := regexp.MustCompile(`^\s+(?:-\w, )?--([\w-]+)`)
	lines := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if m := flagName.FindStringSubmatch(l); m != nil {
			lines[m[1]] = l
		}
	}
	return lines
}

// Help shows no sentinel default ("(default -1)" for a gate that is off),
// no "%f" float lists ("[0.250000,…]"), says how to turn off each boolean
// that is on by default, says which part of a required --data is required,
// and describes --ep in the same words everywhere.
func TestHelpSaysWhatDefaultsMean(t *testing.T) {
	root := NewCmdRoot(&cmdutil.Factory{IO: cmdutil.NewIOStreams(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})})
	sentinel := regexp.MustCompile(`\(default -[0-9]`)
	fixedFloat := regexp.MustCompile(`[0-9]\.[0-9]{6}`)
	epWords := strings.ReplaceAll(cmdutil.EPUsage, "`", "")
	defaultTrue, eps := 0, 0
	for _, c := range root.Commands() {
		lines := helpLines(t, c.Name())
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			line, ok := lines[fl.Name]
			if !ok {
				t.Errorf("%s --help has no line for --%s", c.Name(), fl.Name)
				return
			}
			if sentinel.MatchString(line) || fixedFloat.MatchString(line) {
				t.Errorf("%s: sentinel or %%f default in help: %q", c.Name(), line)
			}
			if fl.Value.Type() == "bool" && fl.Value.String() == "true" {
				defaultTrue++
				if !strings.Contains(line, "(default true; --"+fl.Name+"=false to ") {
					t.Errorf("%s --%s is on by default and its help does not say how to turn it off: %q", c.Name(), fl.Name, line)
				}
			}
			if fl.Name == "ep" {
				eps++
				if !strings.Contains(line, "--ep provider ") || !strings.Contains(line, epWords) {
					t.Errorf("%s --ep is described in other words: %q", c.Name(), line)
				}
			}
		})
		switch c.Name() {
		case "eval", "compare", "distill":
			if l := lines["data"]; !strings.Contains(l, "inputs (required)") || !strings.Contains(l, "labels (a label or labels array) optional") {
				t.Errorf("%s --data does not say the inputs are required and the labels optional: %q", c.Name(), l)
			}
		}
	}
	if defaultTrue < 3 || eps < 6 {
		t.Fatalf("found %d default-true booleans and %d --ep flags", defaultTrue, eps)
	}
	if l := helpLines(t, "prune")["levels"]; !strings.Contains(l, "(default 0.25,0.5,0.75,0.9)") {
		t.Errorf("--levels: %q", l)
	}
}

// --ep is parsed alike everywhere: one provider or an ordered fallback
// list per --ep; bench measures each --ep it is given, the other commands
// refuse a second one instead of silently keeping the last.
func TestEPRepeatedOnlyInBench(t *testing.T) {
	oneLineError(t, infer(t, "eval", mnist(t), "--data", "random", "--ep", "cpu", "--ep", "cuda"), 2, "--ep given twice")
	oneLineError(t, infer(t, "quantize", mnist(t), "--dry-run", "--ep", "tensorrt,cpu", "--ep", "cpu"), 2, "infer bench measures several")
	for _, cmd := range []string{"eval", "bench"} {
		oneLineError(t, infer(t, cmd, mnist(t), "--data", "random", "--ep", "cpu,cpu"), 2, "listed twice")
	}
	r := infer(t, "bench", mnist(t), "--ep", "cpu", "--ep", "CPU", "--iterations", "2", "--warmup", "0", "--format", "csv")
	if r.code != 0 || strings.Count(r.stdout, "\n") < 3 {
		t.Fatalf("bench with two --ep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = infer(t, "eval", mnist(t), "--data", "random", "--ep", "tensorrt,cuda,cpu", "--json")
	if r.code != 0 {
		t.Fatalf("eval --ep tensorrt,cuda,cpu: exit %d: %s", r.code, r.stderr)
	}
}

// complete runs `infer __complete ARGS…` and returns the candidates and
// the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	r := infer(t, append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	last := len(lines) - 1
	if last < 0 || !strings.HasPrefix(lines[last], ":") {
		t.Fatalf("__complete %q: no directive line: %q", args, r.stdout)
	}
	return lines[:last], lines[last]
}

// Shell completion completes the values of every enum-valued flag (each
// choice named in the flag's help), --ep fallback lists, and the file
// types of model and data arguments.
func TestCompletionOfFlagValues(t *testing.T) {
	const noFiles, fileExt, dirs = ":4", ":8", ":16"
	want := map[string][]string{
		"precision":       {"int8", "fp16", "bf16", "int4"},
		"mode":            {"static", "dynamic"},
		"calibration":     {"minmax", "percentile", "entropy"},
		"weight-type":     {"int8", "uint8"},
		"activation-type": {"auto", "int8", "uint8"},
		"pattern":         {"unstructured", "2:4", "channel"},
		"scope":           {"layer", "global"},
		"norm":            {"l1", "l2"},
		"format":          {"table", "json", "csv", "markdown"},
		"scenario":        {"latency", "throughput", "server"},
		"graph-opt":       {"disable", "basic", "extended", "all"},
		"optimizer":       {"adam", "adamw", "sgd"},
		"schedule":        {"constant", "cosine"},
		"loss":            {"kl", "mse"},
		"ep":              {"cpu", "cuda", "tensorrt"},
	}
	root := NewCmdRoot(&cmdutil.Factory{IO: cmdutil.NewIOStreams(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})})
	seen := map[string]bool{}
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			choices, ok := want[fl.Name]
			if !ok {
				return
			}
			seen[fl.Name] = true
			args := append(append([]string{c.Name()}, argsFor(c)...), "--"+fl.Name, "")
			got, dir := complete(t, args...)
			if !slices.Equal(got, choices) || dir != noFiles {
				t.Errorf("%q: %q %s, want %q %s", args, got, dir, choices, noFiles)
			}
			for _, ch := range choices {
				if !strings.Contains(fl.Usage, ch) {
					t.Errorf("%s --%s completes %q, which its help does not name: %q", c.Name(), fl.Name, ch, fl.Usage)
				}
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("no command has --%s", name)
		}
	}
	cases := []struct {
		args []string
		want []string
		dir  string
	}{
		{[]string{"quantize", "m.onnx", "--precision", "f"}, []string{"fp16"}, noFiles},
		{[]string{"bench", "m.onnx", "--ep", "tensorrt,"}, []string{"tensorrt,cpu", "tensorrt,cuda"}, noFiles},
		{[]string{"prune", "m.onnx", "--ep", "cuda,cpu,t"}, []string{"cuda,cpu,tensorrt"}, noFiles},
		{[]string{"prune", "m.onnx", "--sparsity", ""}, nil, noFiles},
		{[]string{"quantize", ""}, []string{"onnx"}, fileExt},
		{[]string{"bench", "a.onnx", "b.onnx", ""}, []string{"onnx"}, fileExt},
		{[]string{"compare", "a.onnx", "b.onnx", ""}, nil, noFiles},
		{[]string{"version", ""}, nil, noFiles},
		{[]string{"quantize", "m.onnx", "--data", ""}, []string{"npz"}, fileExt},
		{[]string{"prune", "m.onnx", "--eval-data", ""}, []string{"npz"}, fileExt},
		{[]string{"distill", "--teacher", ""}, []string{"onnx"}, fileExt},
		{[]string{"distill", "--checkpoint-dir", ""}, nil, dirs},
		{[]string{"bench", "m.onnx", "--baseline", ""}, []string{"json"}, fileExt},
		{[]string{"prune", "m.onnx", "--plot", ""}, []string{"png", "svg"}, fileExt},
	}
	for _, tc := range cases {
		got, dir := complete(t, tc.args...)
		if !slices.Equal(got, tc.want) || dir != tc.dir {
			t.Errorf("%q: %q %s, want %q %s", tc.args, got, dir, tc.want, tc.dir)
		}
	}
}

// hints returns the "infer: prune: hint: " lines of stderr.
func hints(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "infer: prune: hint: ") {
			out = append(out, l)
		}
	}
	return out
}

// Pruning without --data validates on random inputs (exit 0, agreement
// only) and says so in one line with the next step; channel pruning that
// loses ~30 points on MNIST without --finetune suggests it in one line;
// a run that needs neither prints no hint.
func TestPruneNextStepHints(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	b, err := os.ReadFile(mnist(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := infer(t, "prune", model, "--sparsity", "0.5", "-o", filepath.Join(dir, "random.onnx"))
	h := hints(r.stderr)
	if r.code != 0 || len(h) != 1 || !strings.Contains(h[0], "random inputs") || !strings.Contains(h[0], "--data D") || !strings.Contains(h[0], "--max-accuracy-drop P") {
		t.Fatalf("no data: exit %d, hints %q\n%s", r.code, h, r.stderr)
	}
	r = infer(t, "prune", model, "--pattern", "channel", "--sparsity", "0.5", "--data", digits(t), "--limit", "500", "-o", filepath.Join(dir, "channel.onnx"))
	h = hints(r.stderr)
	if r.code != 0 || len(h) != 1 || !strings.Contains(h[0], "top-1 accuracy dropped") || !strings.Contains(h[0], "--finetune --data D") {
		t.Fatalf("channel: exit %d, hints %q\n%s%s", r.code, h, r.stdout, r.stderr)
	}
	r = infer(t, "prune", model, "--sparsity", "0.5", "--data", digits(t), "--limit", "500", "-o", filepath.Join(dir, "unstructured.onnx"))
	if h = hints(r.stderr); r.code != 0 || len(h) != 0 {
		t.Fatalf("unstructured with data: exit %d, hints %q", r.code, h)
	}
}
