package cmdutil

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/report"
	"github.com/infer-ml/infer/pkg/validate"
)

// Artifact is what an optimizing command writes: a model, its report,
// the printed report, and the exit code its gates give.
type Artifact struct {
	Verb string
	// Model is written to Out (nil: no model, e.g. prune --analyze);
	// Inputs are the files it may not replace.
	Model  *onnxpb.ModelProto
	Out    string
	Inputs []string
	Force  bool
	// ReportPath is --report ("" for none); JSON prints Doc as JSON
	// instead of Print.
	ReportPath string
	JSON       bool
	// Common is the shared part of Doc; its Output is filled here.
	Common *report.Report
	Doc    any
	Print  func(io.Writer)
	// Check runs once the model and report are written, before anything
	// is printed; its error (exit 1) should say what was written.
	Check func() error
	// Written names the model in a gate failure: "the best model found".
	Written string
}

// WriteArtifact saves the model (reloading it, so the report's sha256 and
// size are what is on disk), writes the report, prints it, and returns a
// GateError for the gates not met: save → report → print → gate → exit
// code, with the guarantees of SaveModel and WriteReport.
func WriteArtifact(s *IOStreams, a Artifact) error {
	wrote := ""
	if a.Model != nil {
		written, size, err := SaveModel(a.Model, a.Out, a.Force, a.Inputs)
		if err != nil {
			return err
		}
		f := report.FileOf("output", a.Out, written, size)
		a.Common.Output, wrote = &f, a.Out
	}
	if err := WriteReport(a.ReportPath, a.Force, wrote, a.Doc); err != nil {
		return err
	}
	if a.Check != nil {
		if err := a.Check(); err != nil {
			return err
		}
	}
	if err := Finish(s, a.Verb, a.Common.Notes, a.JSON, a.Doc, a.Print); err != nil {
		return err
	}
	if failed := a.Common.Failed(); len(failed) > 0 && wrote != "" {
		return GateFailure(failed, fmt.Sprintf("%s was written to %s", a.Written, wrote))
	}
	return nil
}

// gateFlags names the flag of each gate.
var gateFlags = map[string]string{
	validate.MaxAccuracyDrop: "--max-accuracy-drop",
	validate.MinAgreement:    "--min-agreement",
	validate.MinSQNR:         "--min-sqnr",
	validate.MinSpeedup:      "--min-speedup",
}

// GateFailure is the exit-3 error for the failed verdicts, one clause
// each ("--max-accuracy-drop 0.5 not met: …"), then what (if not "").
func GateFailure(failed []validate.Verdict, what string) error {
	var parts []string
	for _, v := range failed {
		if f := gateFlags[v.Gate]; f != "" {
			parts = append(parts, fmt.Sprintf("%s %g not met: %s", f, v.Limit, v.Summary))
		} else {
			parts = append(parts, v.Summary)
		}
	}
	if what != "" {
		parts = append(parts, what)
	}
	return Gatef("%s", strings.Join(parts, "; "))
}

// GateValues are the gate flags of a command; Changed says which the user
// gave (a flag not given is no gate, whatever its default).
type GateValues struct {
	MaxAccuracyDrop, MinAgreement, MinSQNR, MinSpeedup float64
}

// Gate checks the gate flags and builds the gates; out-of-range and NaN
// values are usage errors.
func (g GateValues) Gate(changed func(string) bool) (validate.Gate, error) {
	var out validate.Gate
	if changed == nil {
		changed = func(string) bool { return false }
	}
	if changed("max-accuracy-drop") {
		if !(g.MaxAccuracyDrop >= 0 && g.MaxAccuracyDrop <= 100) { // NaN fails too
			return out, Usagef("--max-accuracy-drop %g: must be 0–100 points", g.MaxAccuracyDrop)
		}
		out.MaxAccuracyDrop = validate.Limit(g.MaxAccuracyDrop)
	}
	if changed("min-agreement") {
		if !(g.MinAgreement >= 0 && g.MinAgreement <= 100) {
			return out, Usagef("--min-agreement %g: must be 0–100 percent", g.MinAgreement)
		}
		out.MinAgreement = validate.Limit(g.MinAgreement)
	}
	if changed("min-sqnr") {
		if math.IsNaN(g.MinSQNR) || math.IsInf(g.MinSQNR, 0) {
			return out, Usagef("--min-sqnr %g: must be a number of dB such as 20", g.MinSQNR)
		}
		out.MinSQNR = validate.Limit(g.MinSQNR)
	}
	if changed("min-speedup") {
		if !(g.MinSpeedup > 0) || math.IsInf(g.MinSpeedup, 0) {
			return out, Usagef("--min-speedup %g: must be a positive ratio such as 1.5", g.MinSpeedup)
		}
		out.MinSpeedup = validate.Limit(g.MinSpeedup)
	}
	return out, nil
}

// Worded words the gate errors of the domain packages with flag
// names; other errors are returned as they are.
func Worded(err error) error {
	if errors.Is(err, validate.ErrNeedsLabels) {
		return Usagef(`--max-accuracy-drop needs labels in the evaluation data (a "label" or "labels" array) and a class-shaped output; use --min-agreement or --min-sqnr for unlabelled data`)
	}
	return err
}

// CommandLine is the command as the user gave it, flags normalised to
// --name=value: "infer quantize m.onnx --data=d.npz".
func CommandLine(c *cobra.Command, args []string) []string {
	line := append(strings.Fields(c.CommandPath()), args...)
	c.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		line = append(line, "--"+f.Name+"="+v)
	})
	return line
}

// EchoGate adds the gates set to a report's options, under the flag names
// without dashes ("max_accuracy_drop"); gates not set are left out.
func EchoGate(e map[string]any, g validate.Gate) {
	for k, v := range map[string]*float64{"max_accuracy_drop": g.MaxAccuracyDrop, "min_agreement": g.MinAgreement, "min_sqnr": g.MinSQNR, "min_speedup": g.MinSpeedup} {
		if v != nil {
			e[k] = *v
		}
	}
}
