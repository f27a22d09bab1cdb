package root

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

// argsFor gives a command the positional arguments its Args check accepts,
// so the flag checks that follow it are reached.
func argsFor(c *cobra.Command) []string {
	switch c.Name() {
	case "compare":
		return []string{"a.onnx", "b.onnx"}
	case "distill", "version":
		return nil
	}
	return []string{"m.onnx"}
}

// Every floating-point flag of every command refuses NaN and ±Inf with a
// usage error: a NaN threshold compares false with everything and switched
// the quality gates off (exit 0 on a model that fell from 99.6% to 10%).
func TestNonFiniteFlagsRefused(t *testing.T) {
	root := NewCmdRoot(&cmdutil.Factory{IO: cmdutil.NewIOStreams(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})})
	seen := 0
	for _, c := range root.Commands() {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			var values []string
			switch fl.Value.Type() {
			case "float64", "float32":
				values = []string{"NaN", "Inf", "-Inf"}
			case "float64Slice", "float32Slice":
				values = []string{"0.5,NaN"}
			default:
				return
			}
			seen++
			for _, v := range values {
				args := append([]string{c.Name()}, argsFor(c)...)
				r := infer(t, append(args, "--"+fl.Name+"="+v)...)
				oneLineError(t, r, 2, "--"+fl.Name)
				if !strings.Contains(r.stderr, "must be a finite number") {
					t.Errorf("%s --%s=%s: %q", c.Name(), fl.Name, v, r.stderr)
				}
			}
		})
	}
	// quantize, prune, compare, distill and bench all have float flags.
	if seen < 15 {
		t.Fatalf("only %d float flags found in the command tree", seen)
	}
}

// Exit 2 is decided by the error's type: a file whose name contains the
// words cobra uses in its own messages is an ordinary error (exit 1).
func TestUsageErrorsAreTyped(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"accepts 1 arg(s).onnx", "invalid argument.onnx", "unknown flag.npz", "requires at least.onnx"} {
		r := infer(t, "inspect", filepath.Join(dir, name))
		oneLineError(t, r, 1, "no such file")
		r = infer(t, "eval", mnist(t), "--data", filepath.Join(dir, name))
		oneLineError(t, r, 1, name)
	}
	for _, args := range [][]string{{"inspect", "a.onnx", "b.onnx"}, {"version", "x"}, {"bench"}, {"distill", "x"}} {
		oneLineError(t, infer(t, args...), 2, "see infer "+args[0]+" --help")
	}
	// Nothing bypasses the typed checks: no required flags (cobra words
	// those itself) and no subcommand replaces the root's flag check.
	root := NewCmdRoot(&cmdutil.Factory{IO: cmdutil.NewIOStreams(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})})
	for _, c := range root.Commands() {
		if c.PersistentPreRun != nil || c.PersistentPreRunE != nil {
			t.Errorf("%s sets PersistentPreRun: the root's finite-flag check would not run", c.Name())
		}
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if _, ok := fl.Annotations[cobra.BashCompOneRequiredFlag]; ok {
				t.Errorf("%s --%s is a cobra required flag: its error is untyped", c.Name(), fl.Name)
			}
		})
	}
}

// No output of a run may be one of its inputs, data files included, even
// with --force; the input is left as it was.
func TestOutputsNeverReplaceData(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "digits.npz")
	orig, err := os.ReadFile(digits(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "eval.npz")
	if err := os.WriteFile(other, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "latency.svg")
	for _, args := range [][]string{
		{"quantize", mnist(t), "--data", data, "-o", data, "--force"},
		{"quantize", mnist(t), "--data", data, "--report", data, "--force"},
		{"quantize", mnist(t), "--data", data, "--eval-data", other, "--save-calibration", other, "--force"},
		{"prune", mnist(t), "--data", data, "--report", data, "--force"},
		{"distill", "--teacher", mnist(t), "--student-from-teacher", "--data", data, "--report", data, "--force"},
		{"distill", "--teacher", mnist(t), "--student-from-teacher", "--data", data, "--eval-data", other, "-o", other, "--force"},
		{"bench", mnist(t), "--data", data, "-o", data, "--force"},
		{"bench", mnist(t), "--iterations", "1", "-o", st, "--plot", st, "--force"},
	} {
		r := infer(t, args...)
		if r.code == 0 {
			t.Fatalf("%v: exit 0", args)
		}
		if !strings.Contains(r.stderr, "is an input") && !strings.Contains(r.stderr, "two outputs") {
			t.Errorf("%v: %q", args, r.stderr)
		}
		for _, f := range []string{data, other} {
			if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, orig) {
				t.Fatalf("%v: %s was changed", args, f)
			}
		}
	}
}
