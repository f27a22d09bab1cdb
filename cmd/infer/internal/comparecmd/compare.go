// Package comparecmd implements `infer compare`.
package comparecmd

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/report"
)

// Options of `infer compare`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory

	Ref, Cand       string
	Data            cmdutil.DataFlags
	Runtime         cmdutil.RuntimeFlags
	Outputs         []string
	MaxAccuracyDrop float64 // percentage points; <0 means no gate
	MinAgreement    float64 // percent; <0 means no gate
	MinSQNR         float64 // dB; NaN means no gate
	JSON            bool
	NoProgress      bool
	// Changed says which flags were given (a gate flag not given is no
	// gate); CommandLine is the command as given, for the report.
	Changed     func(string) bool
	CommandLine []string
}

// Report is what `infer compare --json` prints: the shared report
// sections (docs/report.schema.json), every output under validation.
type Report struct {
	report.Report
	Provider string `json:"provider"`
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "compare REFERENCE CANDIDATE --data D",
		Short: "Compare a candidate model with its reference on the same data, with quality gates",
		Long: `Run a reference and a candidate model on the same batches and report, per
output: top-1 accuracy against labels (when the data has them), top-1
agreement with the reference, max absolute error, MSE, cosine similarity and
SQNR in dB. Gates exit with code 3 when they fail.`,
		Example: `  infer compare model.onnx model.int8.onnx --data test.npz
  infer compare model.onnx model.int8.onnx --data test.npz --max-accuracy-drop 0.5 --min-agreement 99
  infer compare model.onnx model.fp16.onnx --data random --min-sqnr 40 --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Ref, opts.Cand = args[0], args[1]
			opts.Changed, opts.CommandLine = c.Flags().Changed, cmdutil.CommandLine(c, args)
			if !c.Flags().Changed("min-sqnr") {
				opts.MinSQNR = math.NaN()
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Data.Bind(cmd.Flags(), true)
	opts.Runtime.Bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&opts.Outputs, "outputs", nil, "outputs to compare (default: all shared outputs)")
	cmd.Flags().Float64Var(&opts.MaxAccuracyDrop, "max-accuracy-drop", -1, "fail (exit 3) when top-1 accuracy drops by more than this many percentage points (needs labels; default: no gate)")
	cmd.Flags().Float64Var(&opts.MinAgreement, "min-agreement", -1, "fail (exit 3) when top-1 agreement with the reference is below this percentage (default: no gate)")
	cmdutil.HideDefault(cmd.Flags(), "max-accuracy-drop", "min-agreement")
	cmd.Flags().Float64Var(&opts.MinSQNR, "min-sqnr", 0, "fail (exit 3) when any output's SQNR is below this many dB")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	cmd.Flags().BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Run compares the models.
func Run(opts *Options) error {
	gate, err := cmdutil.GateValues{MaxAccuracyDrop: opts.MaxAccuracyDrop, MinAgreement: opts.MinAgreement, MinSQNR: opts.MinSQNR}.Gate(opts.Changed)
	if err != nil {
		return err
	}
	gate.Finite = true
	so, err := opts.Runtime.Options()
	if err != nil {
		return err
	}
	if opts.Data.Data == "" {
		return cmdutil.Usagef("--data is required")
	}
	ref, err := cmdutil.LoadModel(opts.Ref)
	if err != nil {
		return err
	}
	cand, err := cmdutil.LoadModel(opts.Cand)
	if err != nil {
		return err
	}
	src, err := opts.Data.Open(ref)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := gate.NeedsLabels(src); err != nil {
		return cmdutil.Worded(err)
	}
	info, err := opts.Factory.InitORT()
	if err != nil {
		return err
	}
	rs, err := opts.Factory.OpenSession(ref, so)
	if err != nil {
		return err
	}
	defer rs.Close()
	cs, err := opts.Factory.OpenSession(cand, so)
	if err != nil {
		return err
	}
	defer cs.Close()
	res, err := eval.Compare(rs, cs, src, eval.Options{Outputs: opts.Outputs, Progress: opts.Factory.Progress(opts.NoProgress)})
	if err != nil {
		return err
	}
	echo := map[string]any{"data": opts.Data.Data, "ep": opts.Runtime.EP}
	if len(opts.Outputs) > 0 {
		echo["outputs"] = opts.Outputs
	}
	cmdutil.EchoGate(echo, gate)
	r := &Report{Report: *report.New(report.NewHeader("compare", info.Version, opts.CommandLine, echo),
		report.Loaded("reference", opts.Ref, ref), report.Loaded("candidate", opts.Cand, cand)), Provider: rs.Provider.Name}
	r.Validation = report.ValidationOf("reference", opts.Data.Data, res)
	if err := gate.Measurable(res); err != nil {
		return cmdutil.Worded(err)
	}
	r.SetGates(gate.Check(res)...)
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, r); err != nil {
			return err
		}
	} else {
		print(opts.IO.Out, r)
	}
	if failed := r.Failed(); len(failed) > 0 {
		return cmdutil.GateFailure(failed, "")
	}
	return nil
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *p)
}

func print(out io.Writer, r *Report) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	v := r.Validation
	fmt.Fprintf(w, "reference\t%s\n", r.Inputs[0].Path)
	fmt.Fprintf(w, "candidate\t%s\n", r.Inputs[1].Path)
	fmt.Fprintf(w, "data\t%s (%d samples)\n", v.Data, v.Samples)
	fmt.Fprintf(w, "provider\t%s\n\n", r.Provider)
	fmt.Fprintln(w, "output\tref acc\tcand acc\tdrop (pts)\tagreement\tmax |err|\tMSE\tcosine\tSQNR")
	for _, o := range v.Outputs {
		drop := "-"
		if o.AccuracyDrop != nil {
			drop = fmt.Sprintf("%.2f", *o.AccuracyDrop)
		}
		sq := "identical"
		if o.SQNR != nil {
			sq = fmt.Sprintf("%.1f dB", *o.SQNR)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.3g\t%.3g\t%.6f\t%s\n", o.Name, pct(o.ReferenceAccuracy), pct(o.CandidateAccuracy), drop, pct(o.Agreement), o.MaxAbsError, o.MSE, o.Cosine, sq)
	}
	w.Flush()
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintln(out)
		for _, g := range failed {
			fmt.Fprintf(out, "GATE FAILED  %s\n", g.Summary)
		}
	}
}
