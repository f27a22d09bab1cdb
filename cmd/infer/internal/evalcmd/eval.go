// Package evalcmd implements `infer eval`.
package evalcmd

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/report"
)

// Options of `infer eval`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory

	Model      string
	Data       cmdutil.DataFlags
	Runtime    cmdutil.RuntimeFlags
	Outputs    []string
	JSON       bool
	NoProgress bool
	// CommandLine is the command as given, for the report.
	CommandLine []string
}

// Report is what `infer eval --json` prints: the shared header and
// inputs (docs/report.schema.json), then the scores.
type Report struct {
	report.Header
	Inputs   []report.File  `json:"inputs"`
	Data     string         `json:"data"`
	Provider string         `json:"provider"`
	Samples  int            `json:"samples"`
	Outputs  []OutputReport `json:"outputs"`
}

// OutputReport scores one output.
type OutputReport struct {
	Name       string   `json:"name"`
	Classified bool     `json:"classified"`
	Labelled   int      `json:"labelled"`
	Correct    int      `json:"correct"`
	Accuracy   *float64 `json:"accuracy,omitempty"`
	NonFinite  int64    `json:"non_finite"`
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "eval MODEL --data D",
		Short: "Run a model over data and report top-1 accuracy against the labels",
		Long: `Run a model over a dataset in ONNX Runtime and report, per output, top-1
accuracy against the data's labels (an integer array "label" or "labels" in
the .npz) and any NaN/Inf produced. Top-1 is the argmax over the last axis of
batch-major outputs such as [N, classes].`,
		Example: `  infer eval model.onnx --data test.npz
  infer eval model.onnx --data test.npz --limit 1000 --json
  infer eval model.onnx --data random --shape input=1x3x224x224 --ep cuda`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Model = args[0]
			opts.CommandLine = cmdutil.CommandLine(c, args)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Data.Bind(cmd.Flags(), true)
	opts.Runtime.Bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&opts.Outputs, "outputs", nil, "outputs to score (default: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	cmd.Flags().BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Run evaluates the model.
func Run(opts *Options) error {
	so, err := opts.Runtime.Options()
	if err != nil {
		return err
	}
	if opts.Data.Data == "" {
		return cmdutil.Usagef("--data is required")
	}
	m, err := cmdutil.LoadModel(opts.Model)
	if err != nil {
		return err
	}
	src, err := opts.Data.Open(m)
	if err != nil {
		return err
	}
	defer src.Close()
	s, err := opts.Factory.OpenSession(m, so)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := eval.Evaluate(s, src, eval.Options{Outputs: opts.Outputs, Progress: opts.Factory.Progress(opts.NoProgress)})
	if err != nil {
		return err
	}
	info, err := opts.Factory.InitORT()
	if err != nil {
		return err
	}
	echo := map[string]any{"data": opts.Data.Data, "ep": opts.Runtime.EP}
	r := Report{Header: report.NewHeader("eval", info.Version, opts.CommandLine, echo), Inputs: []report.File{report.Loaded("model", opts.Model, m)},
		Data: opts.Data.Data, Provider: s.Provider.Name, Samples: res.Samples}
	for _, o := range res.Outputs {
		or := OutputReport{Name: o.Name, Classified: o.Classified, Labelled: o.Labelled, Correct: o.RefCorrect, NonFinite: o.NonFinite}
		if o.Labelled > 0 {
			a := o.RefAccuracy()
			or.Accuracy = &a
		}
		r.Outputs = append(r.Outputs, or)
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, r)
	}
	print(opts.IO.Out, &r)
	return nil
}

func print(out io.Writer, r *Report) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%s\n", r.Inputs[0].Path)
	fmt.Fprintf(w, "data\t%s (%d samples)\n", r.Data, r.Samples)
	fmt.Fprintf(w, "provider\t%s\n", r.Provider)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "output\tsamples\ttop-1 accuracy\tnon-finite")
	for _, o := range r.Outputs {
		acc := "-"
		switch {
		case o.Accuracy != nil:
			acc = fmt.Sprintf("%.2f%% (%d/%d)", 100**o.Accuracy, o.Correct, o.Labelled)
		case o.Classified:
			acc = "no labels"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\n", o.Name, r.Samples, acc, o.NonFinite)
	}
	w.Flush()
}
