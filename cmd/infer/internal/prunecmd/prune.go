// Package prunecmd implements `infer prune`.
package prunecmd

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/distill"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/plotfile"
	"github.com/infer-ml/infer/pkg/report"
	"github.com/infer-ml/infer/prune"
)

// Options of `infer prune`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Changed func(string) bool

	Model, Output   string
	Sparsity        float64
	Pattern         string
	Scope           string
	OpTypes         []string
	ExcludeNodes    []string
	MinParams       int64
	KeepFirstLast   bool
	Norm            string
	Data            cmdutil.DataFlags
	MaxAccuracyDrop float64
	Analyze, Auto   bool
	AnalyzeSamples  int
	Levels          []float64
	Plot            string
	Runtime         cmdutil.RuntimeFlags
	Report          string
	JSON, DryRun    bool
	Force           bool
	NoProgress      bool
	Finetune        bool
	FinetuneEpochs  int
	FinetuneLR      float64
	FinetuneBatch   int
	EvalData        string
	EvalFraction    float64
	// MinAgreement and MinSQNR are gates like MaxAccuracyDrop.
	MinAgreement, MinSQNR float64
	// CommandLine is the command as given, for the report.
	CommandLine []string
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "prune MODEL [flags]",
		Short: "Magnitude pruning: unstructured, N:M or channel pruning, validated against the original",
		Long: `Prune a float ONNX model by weight magnitude and prove it still answers like
the original.

Patterns:
  unstructured  zero the smallest |w| of each Conv/Gemm/MatMul weight (or
                of all of them with --scope global) to exactly --sparsity.
                The file keeps its size and ONNX Runtime on CPU runs no
                faster; the gzip size shrinks. Good for storage, or as a
                start for sparse kernels elsewhere.
  N:M           such as 2:4: keep N of every M consecutive input channels,
                the pattern NVIDIA sparse tensor cores (TensorRT) run
                faster; no speed-up on CPU.
  channel       remove whole output channels/neurons with the smallest L1
                (or L2) norm and rewrite the graph: the model gets smaller
                and faster everywhere. --sparsity is the share of channels.

Every pruned model is loaded in ONNX Runtime and compared with the original
on --data (random inputs when none: agreement and SQNR only). With
--max-accuracy-drop the top-1 drop is a gate (it needs labels: without
them it is a usage error; use --min-agreement or --min-sqnr): exit 3, with
the model and report written.

--analyze prunes each layer on its own at several sparsities and reports
the accuracy of each (table, JSON, --plot). --auto then picks per-layer
sparsities that reach --sparsity overall with the least measured loss.`,
		Example: `  infer prune model.onnx --sparsity 0.5
  infer prune model.onnx --pattern 2:4 --keep-first-last
  infer prune model.onnx --pattern channel --sparsity 0.5 --data val.npz --max-accuracy-drop 1
  infer prune model.onnx --analyze --data val.npz --plot sensitivity.svg
  infer prune model.onnx --auto --sparsity 0.7 --data val.npz`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Model = args[0]
			opts.Changed = c.Flags().Changed
			opts.CommandLine = cmdutil.CommandLine(c, args)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "output model (default MODEL.pruned.onnx)")
	fl.Float64Var(&opts.Sparsity, "sparsity", 0.5, "share of weights (unstructured) or channels (channel) to remove, in (0,1)")
	fl.StringVar(&opts.Pattern, "pattern", "unstructured", "unstructured, N:M (such as 2:4) or channel")
	fl.StringVar(&opts.Scope, "scope", "layer", "layer: each layer to --sparsity; global: rank all layers together")
	fl.StringSliceVar(&opts.OpTypes, "op-types", nil, "op types whose weights are pruned (default "+strings.Join(prune.DefaultOpTypes, ",")+")")
	fl.StringSliceVar(&opts.ExcludeNodes, "exclude-nodes", nil, "node names to leave alone")
	fl.Int64Var(&opts.MinParams, "min-params", 0, "leave alone weights (channel groups) with fewer elements")
	fl.BoolVar(&opts.KeepFirstLast, "keep-first-last", false, "leave the first and last prunable layers alone")
	fl.StringVar(&opts.Norm, "norm", "l1", "channel ranking: l1 or l2")
	opts.Data.Bind(fl, false)
	fl.Float64Var(&opts.MaxAccuracyDrop, "max-accuracy-drop", -1, "gate: largest top-1 accuracy drop in points, on labelled --data; exit 3 when exceeded (default: no gate)")
	cmdutil.HideDefault(fl, "max-accuracy-drop")
	fl.Float64Var(&opts.MinAgreement, "min-agreement", 0, "gate: smallest top-1 agreement with the original in percent, for data without labels (default: no gate)")
	cmdutil.HideDefault(fl, "min-agreement")
	fl.Float64Var(&opts.MinSQNR, "min-sqnr", 0, "gate: smallest output SQNR in dB (default: no gate)")
	cmdutil.HideDefault(fl, "min-sqnr")
	fl.BoolVar(&opts.Analyze, "analyze", false, "sensitivity analysis: each layer pruned alone at --levels; no model is written unless --auto")
	fl.BoolVar(&opts.Auto, "auto", false, "choose per-layer sparsities from the sensitivity analysis to meet --sparsity overall")
	fl.IntVar(&opts.AnalyzeSamples, "analyze-samples", 0, "samples per measurement of the sensitivity analysis (0: all of --data; the first ones)")
	cmdutil.Float64ListVar(fl, &opts.Levels, "levels", prune.DefaultLevels, "the `sparsities` the sensitivity analysis measures, comma-separated")
	fl.StringVar(&opts.Plot, "plot", "", "write the sensitivity plot to this .png or .svg file")
	opts.Runtime.Bind(fl)
	fl.StringVar(&opts.Report, "report", "", "write the JSON report to this file")
	fl.BoolVar(&opts.JSON, "json", false, "print the JSON report on stdout instead of tables")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "list what would be pruned and why not, write nothing")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing output, report or plot")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	fl.BoolVar(&opts.Finetune, "finetune", false, "recover accuracy by distilling the original into the pruned model on --data (as infer distill)")
	fl.IntVar(&opts.FinetuneEpochs, "finetune-epochs", 40, "with --finetune: epochs over the training part of --data")
	fl.Float64Var(&opts.FinetuneLR, "finetune-lr", 1e-3, "with --finetune: Adam learning rate")
	fl.IntVar(&opts.FinetuneBatch, "finetune-batch-size", 32, "with --finetune: samples per training step")
	fl.StringVar(&opts.EvalData, "eval-data", "", "with --finetune: validation data kept apart from the training data (default: the last --eval-fraction of --data)")
	fl.Float64Var(&opts.EvalFraction, "eval-fraction", 0.1, "with --finetune: share of --data held out for validation when there is no --eval-data (taken from the end, in file order)")
	return cmd
}

// Report is the JSON report: the shared sections (docs/report.schema.json)
// and the pruning's own under "prune".
type Report struct {
	report.Report
	Prune *prune.Result `json:"prune"`
	Plot  string        `json:"plot,omitempty"`
}

func defaultOutput(model string) string {
	return strings.TrimSuffix(model, filepath.Ext(model)) + ".pruned.onnx"
}

// plan checks the flags; contradictions are usage errors.
func plan(o *Options) (prune.Options, error) {
	var po prune.Options
	changed := o.Changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	p, err := prune.ParsePattern(o.Pattern)
	if err != nil {
		return po, &cmdutil.UsageError{Err: fmt.Errorf("--pattern: %w", err)}
	}
	if p.Kind == "nm" {
		if changed("sparsity") && math.Abs(o.Sparsity-p.Sparsity()) > 1e-9 {
			return po, cmdutil.Usagef("--sparsity %g contradicts --pattern %s, which removes %g of the weights", o.Sparsity, p, p.Sparsity())
		}
		if o.Scope == "global" {
			return po, cmdutil.Usagef("--scope global does not apply to N:M patterns: every group of %d keeps %d", p.M, p.N)
		}
		if o.Auto {
			return po, cmdutil.Usagef("--auto does not apply to N:M patterns, which fix the sparsity of every layer")
		}
	} else if err := prune.CheckSparsity(o.Sparsity); err != nil {
		return po, &cmdutil.UsageError{Err: fmt.Errorf("--sparsity: %w", err)}
	}
	switch o.Scope {
	case "layer", "global":
	default:
		return po, cmdutil.Usagef("--scope %q: want layer or global", o.Scope)
	}
	if o.Scope == "global" && o.Auto {
		return po, cmdutil.Usagef("--auto chooses each layer's sparsity itself; drop --scope global")
	}
	norm := prune.Norm(strings.ToLower(o.Norm))
	if norm != prune.L1 && norm != prune.L2 {
		return po, cmdutil.Usagef("--norm %q: want l1 or l2", o.Norm)
	}
	if changed("norm") && p.Kind != "channel" {
		return po, cmdutil.Usagef("--norm applies to --pattern channel (the other patterns rank single weights by |w|)")
	}
	gate, err := cmdutil.GateValues{MaxAccuracyDrop: o.MaxAccuracyDrop, MinAgreement: o.MinAgreement, MinSQNR: o.MinSQNR}.Gate(changed)
	if err != nil {
		return po, err
	}
	if o.MinParams < 0 {
		return po, cmdutil.Usagef("--min-params must not be negative")
	}
	if o.AnalyzeSamples < 0 {
		return po, cmdutil.Usagef("--analyze-samples must not be negative")
	}
	for _, l := range o.Levels {
		if err := prune.CheckSparsity(l); err != nil {
			return po, &cmdutil.UsageError{Err: fmt.Errorf("--levels: %w", err)}
		}
	}
	if (changed("levels") || changed("analyze-samples")) && !o.Analyze && !o.Auto {
		return po, cmdutil.Usagef("--levels and --analyze-samples apply to --analyze or --auto")
	}
	if o.Plot != "" && !o.Analyze && !o.Auto {
		return po, cmdutil.Usagef("--plot draws the sensitivity analysis: add --analyze or --auto")
	}
	if o.Plot != "" {
		if !plotfile.Supported(o.Plot) {
			return po, cmdutil.Usagef("--plot %s: want a .png or .svg file", o.Plot)
		}
	}
	if (changed("finetune-epochs") || changed("finetune-lr") || changed("finetune-batch-size")) && !o.Finetune {
		return po, cmdutil.Usagef("--finetune-epochs, --finetune-lr and --finetune-batch-size apply to --finetune")
	}
	if (changed("eval-data") || changed("eval-fraction")) && !o.Finetune {
		return po, cmdutil.Usagef("--eval-data and --eval-fraction apply to --finetune (without it, --data is the validation data)")
	}
	if o.Finetune && o.EvalData == "" && !(o.EvalFraction > 0 && o.EvalFraction < 1) {
		return po, cmdutil.Usagef("--eval-fraction %g: must be in (0, 1)", o.EvalFraction)
	}
	if o.Finetune && o.EvalData != "" && changed("eval-fraction") {
		return po, cmdutil.Usagef("--eval-fraction holds out part of --data; with --eval-data nothing is held out")
	}
	if o.Finetune && (o.Data.Data == "" || o.Data.Data == "random") {
		return po, cmdutil.Usagef("--finetune needs --data: the inputs the pruned model learns the original's answers on")
	}
	if o.Finetune && p.Kind != "channel" {
		return po, cmdutil.Usagef("--finetune applies to --pattern channel: training would refill the zeros of %s pruning (no sparsity mask is kept yet)", p)
	}
	if o.Finetune && (o.FinetuneEpochs < 1 || !(o.FinetuneLR > 0) || o.FinetuneBatch < 1) {
		return po, cmdutil.Usagef("--finetune-epochs and --finetune-batch-size must be at least 1 and --finetune-lr positive")
	}
	if o.Finetune && o.Analyze && !o.Auto {
		return po, cmdutil.Usagef("--finetune needs a pruned model: drop --analyze or add --auto")
	}
	if o.DryRun && (o.Analyze || o.Auto) {
		return po, cmdutil.Usagef("--dry-run lists the plan without running anything; it excludes --analyze and --auto")
	}
	if o.Analyze && !o.Auto && (changed("output") || gate.Quality()) {
		return po, cmdutil.Usagef("--analyze alone writes no model; add --auto to prune with the analysis")
	}
	so, err := o.Runtime.Options()
	if err != nil {
		return po, err
	}
	po = prune.Options{
		Pattern: p, Sparsity: o.Sparsity, Global: o.Scope == "global", Norm: norm,
		Selection:    prune.Selection{OpTypes: o.OpTypes, ExcludeNodes: o.ExcludeNodes, MinParams: o.MinParams, KeepFirstLast: o.KeepFirstLast},
		Analyze:      o.Analyze || o.Auto,
		Auto:         o.Auto,
		AnalysisOnly: o.Analyze && !o.Auto,
		Levels:       o.Levels,
		Gate:         gate,
		Session:      so,
	}
	return po, nil
}

// Run prunes.
func Run(opts *Options) error {
	po, err := plan(opts)
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = defaultOutput(opts.Model)
	}
	writesModel := !opts.DryRun && !po.AnalysisOnly
	if !opts.DryRun {
		paths := []string{opts.Report, opts.Plot}
		if writesModel {
			paths = append(paths, out)
		}
		inputs := []string{opts.Model, opts.Data.Data, opts.EvalData}
		if err := cmdutil.CheckOutputs(opts.Force, inputs, paths...); err != nil {
			return err
		}
	}
	info, err := opts.Factory.InitORT()
	if err != nil {
		return err
	}
	m, err := cmdutil.LoadModel(opts.Model)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return dryRun(opts, m, po)
	}
	var notes []string
	df := opts.Data
	if df.Data == "" {
		df.Data = "random"
		if opts.Changed == nil || !opts.Changed("samples") {
			df.Samples = 64 // more than --data random's 16: the only check
		}
		notes = append(notes, "hint: validated on random inputs, which tell agreement with the original but not accuracy: pass --data D (labelled inputs) for top-1 accuracy, and --max-accuracy-drop P to gate on it")
	}
	if po.Shapes, po.Probe, err = df.Probe(m, po.Session); err != nil {
		return err
	}
	src, err := df.Open(m)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.Len() == 0 {
		return fmt.Errorf("--data %s has no samples", df.Data)
	}
	// With --finetune, validation data is kept apart from the training
	// data: --eval-data, else the last --eval-fraction of --data.
	vf, train := df, df
	if opts.Finetune {
		var note string
		if vf, train, note, err = finetuneSplit(opts, df, src.Len()); err != nil {
			return err
		}
		notes = append(notes, note)
		if src, err = vf.Open(m); err != nil {
			return err
		}
		defer src.Close()
	}
	po.Eval = src
	if err := po.Gate.NeedsLabels(src); err != nil {
		return cmdutil.Worded(err)
	}
	if po.Analyze {
		af := df
		if opts.AnalyzeSamples > 0 && (df.Limit == 0 || opts.AnalyzeSamples < df.Limit) {
			af.Limit = opts.AnalyzeSamples
		}
		asrc, err := af.Open(m)
		if err != nil {
			return err
		}
		defer asrc.Close()
		po.AnalysisData = asrc
	}
	po.Progress = opts.Factory.Progress(opts.NoProgress)
	res, err := prune.Prune(m.Proto, po)
	if err != nil {
		return cmdutil.Worded(err)
	}
	if opts.Finetune && res.Model != nil {
		if err := finetune(opts, m, train, res, po); err != nil {
			return err
		}
	}
	res.Notes = append(notes, res.Notes...)
	if h := finetuneHint(opts, po, res); h != "" {
		res.Notes = append(res.Notes, h)
	}
	rep := &Report{Report: *report.New(report.NewHeader("prune", info.Version, opts.CommandLine, optionsEcho(opts, po)), report.Loaded("model", opts.Model, m)), Prune: res}
	rep.SetOutcome("original", vf.Data, &res.Outcome, res.PrepNotes, res.Notes)
	if opts.Plot != "" && res.Sensitivity != nil {
		if err := prune.PlotSensitivity(opts.Plot, res.Sensitivity, opts.Force); err != nil {
			return err
		}
		rep.Plot = opts.Plot
	}
	a := cmdutil.Artifact{
		Verb: "prune", Out: out, Inputs: []string{opts.Model}, Force: opts.Force, ReportPath: opts.Report, JSON: opts.JSON,
		Common: &rep.Report, Doc: rep, Print: func(w io.Writer) { printReport(w, rep) }, Written: "the pruned model",
	}
	if writesModel {
		a.Model = res.Model
	}
	return cmdutil.WriteArtifact(opts.IO, a)
}

// finetuneHintPoints is the top-1 loss, in points, past which channel
// pruning on data without --finetune ends with a hint to fine-tune.
const finetuneHintPoints = 1

// finetuneHint is the next step after channel pruning that lost more than
// finetuneHintPoints of top-1 accuracy (of agreement, without labels) on
// --data without --finetune, or "".
func finetuneHint(opts *Options, po prune.Options, res *prune.Result) string {
	if opts.Finetune || po.Pattern.Kind != "channel" || res.Model == nil || res.Validation == nil ||
		opts.Data.Data == "" || opts.Data.Data == "random" {
		return ""
	}
	o := res.Validation.Primary()
	if o == nil {
		return ""
	}
	s := o.Summary()
	var what string
	var lost float64
	switch {
	case s.AccuracyDrop != nil:
		what, lost = fmt.Sprintf("top-1 accuracy dropped %.2f points", *s.AccuracyDrop), *s.AccuracyDrop
	case s.Agreement != nil:
		what, lost = fmt.Sprintf("top-1 agreement with the original is %.2f%%", *s.Agreement), 100-*s.Agreement
	}
	if !(lost > finetuneHintPoints) {
		return ""
	}
	return fmt.Sprintf("hint: %s; add --finetune --data D (training inputs) to recover most of it by distilling the original into the pruned model", what)
}

func optionsEcho(o *Options, po prune.Options) map[string]any {
	e := map[string]any{
		"pattern": po.Pattern.String(), "sparsity": po.Sparsity, "scope": o.Scope,
		"ep": o.Runtime.EP, "keep_first_last": o.KeepFirstLast,
	}
	if po.Pattern.Kind == "channel" {
		e["norm"] = string(po.Norm)
	}
	if o.MinParams > 0 {
		e["min_params"] = o.MinParams
	}
	for k, v := range map[string][]string{"op_types": o.OpTypes, "exclude_nodes": o.ExcludeNodes} {
		if len(v) > 0 {
			e[k] = v
		}
	}
	if po.Analyze {
		e["levels"] = po.Levels
		e["analyze_samples"] = o.AnalyzeSamples
		e["auto"] = po.Auto
	}
	cmdutil.EchoGate(e, po.Gate)
	if o.Data.Data != "" {
		e["data"] = o.Data.Data
	}
	if o.Finetune {
		e["finetune"] = map[string]any{"epochs": o.FinetuneEpochs, "lr": o.FinetuneLR, "batch_size": o.FinetuneBatch,
			"loss": "KL at T=4 (alpha 0.9 with labels) + hint terms on the pruned activations"}
		if o.EvalData != "" {
			e["eval_data"] = o.EvalData
		} else {
			e["eval_fraction"] = o.EvalFraction
		}
	}
	return e
}

func dryRun(opts *Options, m *onnx.Model, po prune.Options) error {
	plan, err := prune.Plan(m.Proto, po)
	if err != nil {
		return err
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, plan)
	}
	w := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "pattern\t%s\n", plan.Pattern)
	for _, n := range plan.Preprocessing {
		fmt.Fprintf(w, "pre-processing\t%s\n", n)
	}
	if len(plan.Groups) > 0 {
		fmt.Fprintln(w, "\nchannel group\tsources\tchannels\tparams\tplan")
		for _, g := range plan.Groups {
			what := "prune"
			if g.Reason != "" {
				what = "keep: " + g.Reason
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", g.Name, strings.Join(g.Sources, ","), g.Channels, g.Params, what)
		}
	} else {
		fmt.Fprintln(w, "\nweight\tnode\top\tparams\tplan")
		for _, l := range plan.Weights {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\tprune\n", l.Weight, l.Node, l.OpType, l.Params)
		}
		for _, s := range plan.Skipped {
			fmt.Fprintf(w, "\t%s\t%s\t\tkeep: %s\n", s.Node, s.OpType, s.Reason)
		}
	}
	return w.Flush()
}

func printReport(out io.Writer, rep *Report) {
	r := rep.Prune
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	report.PrintFiles(w, &rep.Report)
	fmt.Fprintf(w, "pattern\t%s\n", r.Pattern)
	report.PrintValidation(w, rep.Validation)
	report.PrintLatency(w, rep.Latency)
	w.Flush()
	if s := r.Sensitivity; s != nil {
		printSensitivity(out, s)
	}
	if r.Model == nil {
		return
	}
	if len(r.Layers) > 0 {
		fmt.Fprintln(out)
		lw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		hdr := "weight\tnode\top\tparams\tsparsity\t"
		if r.NMSatisfied != nil {
			hdr += "N:M groups ok\t"
		}
		fmt.Fprintln(lw, hdr)
		for _, l := range r.Layers {
			fmt.Fprintf(lw, "%s\t%s\t%s\t%d\t%.1f%%\t", l.Weight, l.Node, l.OpType, l.Params, 100*l.Sparsity)
			if r.NMSatisfied != nil {
				fmt.Fprintf(lw, "%d/%d\t", l.Groups-l.GroupsViolating, l.Groups)
			}
			fmt.Fprintln(lw)
		}
		lw.Flush()
	}
	if len(r.Groups) > 0 {
		fmt.Fprintln(out)
		gw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(gw, "channel group\tsources\tchannels\tkept\tnote")
		for _, g := range r.Groups {
			fmt.Fprintf(gw, "%s\t%s\t%d\t%d\t%s\n", g.Name, strings.Join(g.Sources, ","), g.Channels, g.Kept, g.Reason)
		}
		gw.Flush()
	}
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	ratio := func(a, b int64) string {
		if b == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f×", float64(a)/float64(b))
	}
	fmt.Fprintln(w, "\toriginal\tpruned\tratio")
	b, a := r.Before, r.After
	fmt.Fprintf(w, "parameters\t%d\t%d\t%s\n", b.Params, a.Params, ratio(a.Params, b.Params))
	fmt.Fprintf(w, "non-zero parameters\t%d\t%d\t%s\n", b.Nonzero, a.Nonzero, ratio(a.Nonzero, b.Nonzero))
	fmt.Fprintf(w, "size\t%s\t%s\t%s\n", onnx.HumanBytes(b.Bytes), onnx.HumanBytes(a.Bytes), ratio(a.Bytes, b.Bytes))
	fmt.Fprintf(w, "size, gzip\t%s\t%s\t%s\n", onnx.HumanBytes(b.GzipBytes), onnx.HumanBytes(a.GzipBytes), ratio(a.GzipBytes, b.GzipBytes))
	if b.FLOPs > 0 && a.FLOPs > 0 {
		fmt.Fprintf(w, "FLOPs per sample\t%d\t%d\t%s\n", b.FLOPs, a.FLOPs, ratio(a.FLOPs, b.FLOPs))
	}
	fmt.Fprintf(w, "sparsity\t\t%.1f%%\t\n", 100*r.Sparsity)
	w.Flush()
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	report.PrintGates(w, &rep.Report)
	w.Flush()
}

func printSensitivity(out io.Writer, s *prune.Sensitivity) {
	fmt.Fprintf(out, "\nsensitivity (%s, %d samples; each layer pruned alone)\n", s.Metric, s.Samples)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	var levels []float64
	seen := map[float64]bool{}
	for _, l := range s.Layers {
		for _, p := range l.Points {
			if !seen[p.Sparsity] {
				seen[p.Sparsity] = true
				levels = append(levels, p.Sparsity)
			}
		}
	}
	sort.Float64s(levels)
	hdr := "layer\top\tparams\t"
	if s.FLOPs != nil {
		hdr += "FLOPs\t"
	}
	for _, lv := range levels {
		hdr += fmt.Sprintf("%.0f%%\t", 100*lv)
	}
	fmt.Fprintln(w, hdr)
	for _, l := range s.Layers {
		row := fmt.Sprintf("%s\t%s\t%d\t", l.Name, l.OpType, l.Params)
		if s.FLOPs != nil {
			row += flopShare(l.FLOPs, s.FLOPs.Total) + "\t"
		}
		for _, lv := range levels {
			cell := ""
			for _, p := range l.Points {
				if p.Sparsity == lv {
					cell = cellOf(s.Metric, p)
				}
			}
			row += cell + "\t"
		}
		fmt.Fprintln(w, row)
	}
	w.Flush()
	switch s.Metric {
	case "accuracy drop":
		if s.RefAccuracy != nil {
			fmt.Fprintf(out, "(cells: top-1 accuracy %%; the original has %.2f%%)\n", *s.RefAccuracy)
		}
	case "disagreement":
		fmt.Fprintln(out, "(cells: top-1 agreement with the original, %)")
	default:
		fmt.Fprintln(out, "(cells: output SQNR, dB)")
	}
	if f := s.FLOPs; f != nil && f.Total > 0 {
		fmt.Fprintf(out, "prunable: %.0f%% of the %s per sample are in nodes that a prunable channel group changes (FLOPs column: each group's share; a node two groups change counts in both)\n", 100*f.Share(), cmdutil.FLOPs(f.Total))
		for i, g := range f.Refused {
			if i == 5 {
				fmt.Fprintf(out, "  and %d more groups left alone\n", len(f.Refused)-i)
				break
			}
			fmt.Fprintf(out, "  left alone: %s, %s of the FLOPs: %s\n", g.Name, flopShare(g.FLOPs, f.Total), g.Reason)
		}
	}
}

// flopShare formats part/total as a percentage.
func flopShare(part, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

func cellOf(metric string, p prune.Point) string {
	switch {
	case metric == "accuracy drop" && p.Accuracy != nil:
		return fmt.Sprintf("%.2f", *p.Accuracy)
	case metric == "disagreement" && p.Agreement != nil:
		return fmt.Sprintf("%.2f", *p.Agreement)
	case p.SQNR != nil:
		return fmt.Sprintf("%.1f", *p.SQNR)
	}
	return "-"
}

// finetuneSplit returns the validation and the training data of
// --finetune: --eval-data and all of --data, or the last --eval-fraction
// of --data (total samples after --offset and --limit) and the rest.
func finetuneSplit(opts *Options, df cmdutil.DataFlags, total int) (val, train cmdutil.DataFlags, note string, err error) {
	val, train = df, df
	if opts.EvalData != "" {
		val.Data, val.Limit, val.Offset = opts.EvalData, 0, 0
		return val, train, fmt.Sprintf("fine-tuned on %s, validated on --eval-data %s", df.Data, opts.EvalData), nil
	}
	if total < 2 {
		return val, train, "", fmt.Errorf("--data %s has %d sample(s): too few to hold some out for validation after --finetune (pass --eval-data)", df.Data, total)
	}
	_, r, err := dataset.Split(total, opts.EvalFraction)
	if err != nil {
		return val, train, "", err
	}
	train.Limit = r.Offset
	val.Offset, val.Limit = df.Offset+r.Offset, r.Limit
	return val, train, fmt.Sprintf("fine-tuned on the first %d of the %d samples of %s and validated on the last %d, held out (file order); pass --eval-data for a separate set", r.Offset, total, df.Data, r.Limit), nil
}

// finetune distills the original into the pruned model on --data, then
// validates the result again.
func finetune(opts *Options, m *onnx.Model, train cmdutil.DataFlags, res *prune.Result, po prune.Options) error {
	// A batch-1 export trains on a copy whose batch may vary (checked in
	// ORT); the trained weights go back into the pruned model by name.
	student := res.Model
	if d, ok := distill.DynamicBatch(student); ok {
		student = d
	}
	specs := dataset.SpecsFromGraph(student.GetGraph())
	shapes, _ := dataset.ParseShapes(opts.Data.Shapes)
	base := dataset.Options{BatchSize: opts.FinetuneBatch, Shapes: shapes, Limit: train.Limit, Offset: train.Offset}
	if f := cmdutil.FixedBatch(student); f > 0 {
		base.BatchSize = int(f)
	}
	// The loss distill's own recovery of a pruned student uses: soft
	// targets at T = 4, with labels (alpha 0.9) when the data has them,
	// and a hint term on each pruned group's activation.
	loss := distill.LossConfig{Kind: distill.LossKL, Temperature: 4, Alpha: 1}
	if hints := distill.HintsFor(m.Proto, res.Groups); len(hints) > 0 {
		loss.Hints, loss.HintWeight = hints, 1
	}
	do := distill.Options{
		Loss:      loss,
		Optimizer: distill.OptimizerConfig{Name: "adam", LR: opts.FinetuneLR, Schedule: "cosine", TotalSteps: 1},
		Epochs:    opts.FinetuneEpochs, Seed: opts.Data.Seed, Session: po.Session,
		Train: func(seed int64) (dataset.Source, error) {
			o := base
			o.Shuffle, o.Seed = true, seed
			return dataset.Open(train.Data, specs, o)
		},
		Progress: opts.Factory.Progress(opts.NoProgress),
		Log:      opts.IO.ErrOut,
	}
	probe, err := do.Train(0)
	if err != nil {
		return err
	}
	steps := 0
	for {
		b, err := probe.Next()
		if err != nil {
			break
		}
		if steps == 0 && b.Labels != nil {
			do.Loss.Labels, do.Loss.Alpha = true, 0.9
		}
		steps++
	}
	probe.Close()
	do.Optimizer.TotalSteps = max(1, steps*opts.FinetuneEpochs)
	dres, err := distill.Distill(m.Proto, student, do)
	if err != nil {
		return fmt.Errorf("--finetune: %w", err)
	}
	tuned := res.Model
	if student != res.Model {
		tuned = graph.CloneSharingInitializers(res.Model)
		trained := map[string]*onnxpb.TensorProto{}
		for _, t := range dres.Model.Graph.Initializer {
			trained[t.GetName()] = t
		}
		for _, p := range dres.Params {
			for i, t := range tuned.Graph.Initializer {
				if t.GetName() == p && trained[p] != nil {
					tuned.Graph.Initializer[i] = trained[p]
				}
			}
		}
	} else {
		tuned = dres.Model
	}
	if err := prune.Revalidate(m.Proto, tuned, res, po); err != nil {
		return err
	}
	last := dres.History[len(dres.History)-1]
	how := "soft targets"
	if do.Loss.Labels {
		how += " and labels"
	}
	if len(loss.Hints) > 0 {
		how += fmt.Sprintf(", with hint terms on %d pruned activations", len(loss.Hints))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("fine-tuned by distillation from the original (%s): %d epochs, %d steps, final training loss %.4f", how, len(dres.History), dres.Steps, last.TrainLoss))
	return nil
}
