// Package comparecmd implements `infer compare`.
package comparecmd

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/eval"
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
}

// Report is what `infer compare --json` prints.
type Report struct {
	Reference   string         `json:"reference"`
	Candidate   string         `json:"candidate"`
	Data        string         `json:"data"`
	Provider    string         `json:"provider"`
	Samples     int            `json:"samples"`
	Outputs     []OutputReport `json:"outputs"`
	GatesFailed []string       `json:"gates_failed"`
}

// OutputReport compares one output.
type OutputReport struct {
	Name         string   `json:"name"`
	RefAccuracy  *float64 `json:"reference_accuracy,omitempty"`
	CandAccuracy *float64 `json:"candidate_accuracy,omitempty"`
	AccuracyDrop *float64 `json:"accuracy_drop_points,omitempty"`
	Agreement    *float64 `json:"top1_agreement,omitempty"`
	MaxAbsError  float64  `json:"max_abs_error"`
	MSE          float64  `json:"mse"`
	Cosine       float64  `json:"cosine"`
	SQNR         *float64 `json:"sqnr_db"` // null when identical (infinite)
	NonFinite    int64    `json:"candidate_non_finite"`
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
	cmd.Flags().Float64Var(&opts.MaxAccuracyDrop, "max-accuracy-drop", -1, "fail (exit 3) when top-1 accuracy drops by more than this many percentage points (needs labels)")
	cmd.Flags().Float64Var(&opts.MinAgreement, "min-agreement", -1, "fail (exit 3) when top-1 agreement with the reference is below this percentage")
	cmd.Flags().Float64Var(&opts.MinSQNR, "min-sqnr", 0, "fail (exit 3) when any output's SQNR is below this many dB")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	cmd.Flags().BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Run compares the models.
func Run(opts *Options) error {
	if opts.MaxAccuracyDrop > 100 || opts.MinAgreement > 100 {
		return cmdutil.Usagef("--max-accuracy-drop and --min-agreement are percentages (0–100)")
	}
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
	r := Report{Reference: opts.Ref, Candidate: opts.Cand, Data: opts.Data.Data, Provider: rs.Provider.Name, Samples: res.Samples, GatesFailed: []string{}}
	for _, o := range res.Outputs {
		or := OutputReport{Name: o.Name, MaxAbsError: o.MaxAbsError, MSE: o.MSE(), Cosine: o.Cosine(), NonFinite: o.NonFinite}
		sm := o.Summary()
		or.SQNR, or.Agreement = sm.SQNR, sm.Agreement
		or.RefAccuracy, or.CandAccuracy, or.AccuracyDrop = sm.RefAccuracy, sm.CandAccuracy, sm.AccuracyDrop
		r.Outputs = append(r.Outputs, or)
	}
	r.GatesFailed = gates(opts, res, &r)
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, r); err != nil {
			return err
		}
	} else {
		print(opts.IO.Out, &r)
	}
	if len(r.GatesFailed) > 0 {
		return cmdutil.Gatef("quality gate failed: %s", strings.Join(r.GatesFailed, "; "))
	}
	return nil
}

func gates(opts *Options, res *eval.Result, r *Report) []string {
	failed := []string{}
	if opts.MaxAccuracyDrop >= 0 {
		labelled := false
		for _, o := range r.Outputs {
			if o.AccuracyDrop != nil {
				labelled = true
				if !(*o.AccuracyDrop <= opts.MaxAccuracyDrop) { // NaN fails
					failed = append(failed, fmt.Sprintf("%s: accuracy dropped %.2f points (%.2f%% → %.2f%%), limit %.2f", o.Name, *o.AccuracyDrop, *o.RefAccuracy, *o.CandAccuracy, opts.MaxAccuracyDrop))
				}
			}
		}
		if !labelled {
			failed = append(failed, "--max-accuracy-drop needs labelled data and a class-shaped output; the data has no labels")
		}
	}
	if opts.MinAgreement >= 0 {
		for _, o := range r.Outputs {
			if o.Agreement != nil && !(*o.Agreement >= opts.MinAgreement) {
				failed = append(failed, fmt.Sprintf("%s: top-1 agreement %.2f%%, minimum %.2f%%", o.Name, *o.Agreement, opts.MinAgreement))
			}
		}
	}
	if !math.IsNaN(opts.MinSQNR) {
		for _, o := range r.Outputs {
			if o.SQNR != nil && !(*o.SQNR >= opts.MinSQNR) {
				failed = append(failed, fmt.Sprintf("%s: SQNR %.1f dB, minimum %.1f dB", o.Name, *o.SQNR, opts.MinSQNR))
			}
		}
	}
	for _, o := range r.Outputs {
		if o.NonFinite > 0 {
			failed = append(failed, fmt.Sprintf("%s: candidate produced %d NaN/Inf values", o.Name, o.NonFinite))
		}
	}
	return failed
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *p)
}

func print(out io.Writer, r *Report) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "reference\t%s\n", r.Reference)
	fmt.Fprintf(w, "candidate\t%s\n", r.Candidate)
	fmt.Fprintf(w, "data\t%s (%d samples)\n", r.Data, r.Samples)
	fmt.Fprintf(w, "provider\t%s\n\n", r.Provider)
	fmt.Fprintln(w, "output\tref acc\tcand acc\tdrop (pts)\tagreement\tmax |err|\tMSE\tcosine\tSQNR")
	for _, o := range r.Outputs {
		drop := "-"
		if o.AccuracyDrop != nil {
			drop = fmt.Sprintf("%.2f", *o.AccuracyDrop)
		}
		sq := "identical"
		if o.SQNR != nil {
			sq = fmt.Sprintf("%.1f dB", *o.SQNR)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.3g\t%.3g\t%.6f\t%s\n", o.Name, pct(o.RefAccuracy), pct(o.CandAccuracy), drop, pct(o.Agreement), o.MaxAbsError, o.MSE, o.Cosine, sq)
	}
	w.Flush()
	if len(r.GatesFailed) > 0 {
		fmt.Fprintln(out)
		for _, g := range r.GatesFailed {
			fmt.Fprintf(out, "GATE FAILED  %s\n", g)
		}
	}
}
