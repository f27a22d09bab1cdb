// Package distillcmd implements `infer distill`.
package distillcmd

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/distill"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/plotfile"
	"github.com/infer-ml/infer/pkg/report"
	"github.com/infer-ml/infer/pkg/validate"
)

// Options of `infer distill`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Changed func(string) bool

	Teacher, Student, Output string
	FromTeacher              bool
	Width                    float64
	Data, EvalData           string
	EvalFraction             float64
	Epochs, BatchSize        int
	LR                       float64
	Optimizer                string
	Momentum, WeightDecay    float64
	Schedule                 string
	WarmupSteps              int
	ClipNorm                 float64
	Temperature, Alpha       float64
	HintWeight               float64
	Loss                     string
	Outputs                  string
	Freeze                   []string
	Patience                 int
	CheckpointDir            string
	Resume                   bool
	Seed                     int64
	Shapes                   []string
	Runtime                  cmdutil.RuntimeFlags
	Report                   string
	// Plot is the learning-curve image (.png or .svg), when asked for.
	Plot                    string
	JSON, Force, NoProgress bool
	// Gates compare the trained student with the teacher.
	MaxAccuracyDrop, MinAgreement, MinSQNR float64
	// CommandLine is the command as given, for the report.
	CommandLine []string
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "distill --teacher T.onnx (--student S.onnx | --student-from-teacher --width W) --data D [flags]",
		Short: "Train a student model to answer like a teacher (knowledge distillation in ONNX Runtime, no Python)",
		Long: `Train the student's weights so that its outputs match the teacher's on
the given inputs, and write the student with the trained weights.

infer differentiates the student graph itself: it builds one ONNX training
graph (forward pass, loss, gradient of every weight, standard operators
only) that ONNX Runtime runs; the optimizer step runs in Go on the weight
buffers. Labels are not needed: the teacher's answers are the targets.

Loss (--loss kl): alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T))
+ (1 − alpha) · cross-entropy with the labels when the data has them.
--loss mse matches the outputs themselves (regression, embeddings).

--student-from-teacher builds the student by channel pruning the teacher
(--width is the share of channels kept) and then recovers it.

After every epoch the student is compared with the teacher on the
evaluation data (--eval-data, else the last --eval-fraction of --data in
file order): agreement, and accuracy with labels. With --patience training
stops when that stops improving. With --checkpoint-dir a checkpoint is
written atomically after every epoch, and --resume continues a killed run
exactly where the last checkpoint left it. An existing checkpoint is
replaced only with --force, never when it is an input; on --resume every
tensor of the checkpoint must be finite and of the student's shapes.
A student whose outputs on the evaluation data are NaN or infinite is
written, and the run fails (exit 1).`,
		Example: `  infer distill --teacher big.onnx --student small.onnx --data train.npz --eval-data val.npz
  infer distill --teacher model.onnx --student-from-teacher --width 0.5 --data train.npz
  infer distill --teacher t.onnx --student s.onnx --data d.npz --epochs 20 --patience 3 --checkpoint-dir ckpt
  infer distill --teacher t.onnx --student s.onnx --data d.npz --checkpoint-dir ckpt --resume`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Changed = c.Flags().Changed
			opts.CommandLine = cmdutil.CommandLine(c, args)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Teacher, "teacher", "", "the teacher model (required)")
	fl.StringVar(&opts.Student, "student", "", "the student model to train")
	fl.BoolVar(&opts.FromTeacher, "student-from-teacher", false, "build the student by channel pruning the teacher to --width")
	fl.Float64Var(&opts.Width, "width", 0.5, "with --student-from-teacher: share of channels kept")
	fl.StringVarP(&opts.Output, "output", "o", "", "output model (default STUDENT.distilled.onnx, or TEACHER.student.onnx)")
	fl.StringVar(&opts.Data, "data", "", "the training inputs (required): an .npz file, a folder of .npz files or an ONNX test-data folder; labels (a label or labels array) optional, used by the kl loss with --alpha")
	fl.StringVar(&opts.EvalData, "eval-data", "", "evaluation data (default: the last --eval-fraction of --data)")
	fl.Float64Var(&opts.EvalFraction, "eval-fraction", 0.1, "share of --data held out for evaluation when there is no --eval-data (taken from the end, in file order)")
	fl.IntVar(&opts.Epochs, "epochs", 10, "passes over the training data")
	fl.IntVar(&opts.BatchSize, "batch-size", 64, "samples per step (a student with a fixed batch size uses its own)")
	fl.Float64Var(&opts.LR, "lr", 4e-3, "learning rate (peak, with --schedule cosine)")
	fl.StringVar(&opts.Optimizer, "optimizer", "adam", "adam, adamw or sgd")
	fl.Float64Var(&opts.Momentum, "momentum", 0.9, "sgd momentum")
	fl.Float64Var(&opts.WeightDecay, "weight-decay", 0, "weight decay (decoupled for adamw, L2 otherwise)")
	fl.StringVar(&opts.Schedule, "schedule", "cosine", "learning-rate schedule: cosine (decays to 0 over the run) or constant")
	fl.IntVar(&opts.WarmupSteps, "warmup-steps", 0, "linear warm-up steps")
	fl.Float64Var(&opts.ClipNorm, "clip-norm", 0, "clip the global gradient norm to this value (0: off)")
	fl.Float64Var(&opts.Temperature, "temperature", 2, "softmax temperature of the kl loss")
	fl.Float64Var(&opts.Alpha, "alpha", 0.9, "weight of the teacher term against the labels (kl loss, labelled data)")
	fl.Float64Var(&opts.HintWeight, "hint-weight", 0, "with --student-from-teacher: weight of the terms pulling the kept channels' activations towards the teacher's (relative squared error; 1 is a good start)")
	fl.StringVar(&opts.Loss, "loss", "kl", "kl (classifiers) or mse")
	fl.StringVar(&opts.Outputs, "outputs", "", "the student output to train (default its first float output); the teacher's of the same name, else its first")
	fl.StringSliceVar(&opts.Freeze, "freeze", nil, "weights to keep fixed (name patterns such as 'conv1.*')")
	fl.IntVar(&opts.Patience, "patience", 0, "stop after this many epochs without improvement (0: off); keeps the best epoch")
	fl.StringVar(&opts.CheckpointDir, "checkpoint-dir", "", "write a checkpoint here after every epoch (an existing one: --resume or --force)")
	fl.BoolVar(&opts.Resume, "resume", false, "continue from the checkpoint in --checkpoint-dir")
	fl.Int64Var(&opts.Seed, "seed", 1, "seed of the training order")
	fl.StringSliceVar(&opts.Shapes, "shape", nil, "shape of a dynamic input, NAME=1x3x224x224")
	opts.Runtime.Bind(fl)
	fl.StringVar(&opts.Report, "report", "", "write the JSON report to this file")
	fl.StringVar(&opts.Plot, "plot", "", "write the learning curve (loss, agreement and accuracy per epoch) to this .png or .svg")
	fl.BoolVar(&opts.JSON, "json", false, "print the JSON report on stdout instead of tables")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing output, report or plot")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	fl.Float64Var(&opts.MaxAccuracyDrop, "max-accuracy-drop", 0, "gate: largest top-1 accuracy drop from the teacher in points, on labelled evaluation data; exit 3 when exceeded (default: no gate)")
	fl.Float64Var(&opts.MinAgreement, "min-agreement", 0, "gate: smallest top-1 agreement with the teacher in percent (default: no gate)")
	fl.Float64Var(&opts.MinSQNR, "min-sqnr", 0, "gate: smallest SQNR of the student's output against the teacher's, in dB (default: no gate)")
	for _, f := range []string{"max-accuracy-drop", "min-agreement", "min-sqnr"} {
		cmdutil.HideDefault(fl, f)
	}
	return cmd
}

// Report is the JSON report: the shared sections (docs/report.schema.json;
// the teacher is the reference) and the training's own under "distill".
type Report struct {
	report.Report
	Distill *distill.Result `json:"distill"`
}

// plan checks the flags and builds distill.Options and the gates.
func plan(o *Options) (distill.Options, validate.Gate, error) {
	var do distill.Options
	gate, err := cmdutil.GateValues{MaxAccuracyDrop: o.MaxAccuracyDrop, MinAgreement: o.MinAgreement, MinSQNR: o.MinSQNR}.Gate(o.Changed)
	if err != nil {
		return do, gate, err
	}
	do, err = planTraining(o)
	return do, gate, err
}

// planTraining checks the training flags.
func planTraining(o *Options) (distill.Options, error) {
	var do distill.Options
	changed := o.Changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	switch {
	case o.Teacher == "":
		return do, cmdutil.Usagef("--teacher is required")
	case o.Data == "":
		return do, cmdutil.Usagef("--data is required")
	case o.Student == "" && !o.FromTeacher:
		return do, cmdutil.Usagef("give --student, or --student-from-teacher --width W")
	case o.Student != "" && o.FromTeacher:
		return do, cmdutil.Usagef("--student and --student-from-teacher exclude each other")
	case changed("width") && !o.FromTeacher:
		return do, cmdutil.Usagef("--width applies to --student-from-teacher")
	case !(o.Width > 0 && o.Width < 1):
		return do, cmdutil.Usagef("--width %g: the share of channels kept must be in (0, 1)", o.Width)
	case changed("hint-weight") && !o.FromTeacher:
		return do, cmdutil.Usagef("--hint-weight applies to --student-from-teacher (the activations it pairs come from pruning the teacher)")
	case !(o.HintWeight >= 0 && !math.IsInf(o.HintWeight, 0)):
		return do, cmdutil.Usagef("--hint-weight %g: must be a finite value ≥ 0", o.HintWeight)
	case o.Epochs < 1:
		return do, cmdutil.Usagef("--epochs must be at least 1")
	case o.BatchSize < 1:
		return do, cmdutil.Usagef("--batch-size must be at least 1")
	case o.Loss != distill.LossKL && o.Loss != distill.LossMSE:
		return do, cmdutil.Usagef("--loss %q: want kl or mse", o.Loss)
	case !(o.Temperature > 0):
		return do, cmdutil.Usagef("--temperature must be positive")
	case !(o.Alpha >= 0 && o.Alpha <= 1):
		return do, cmdutil.Usagef("--alpha %g: must be in [0, 1]", o.Alpha)
	case o.Loss == distill.LossMSE && (changed("temperature") || changed("alpha")):
		return do, cmdutil.Usagef("--temperature and --alpha apply to --loss kl")
	case o.EvalData == "" && !(o.EvalFraction > 0 && o.EvalFraction < 1):
		return do, cmdutil.Usagef("--eval-fraction %g: must be in (0, 1)", o.EvalFraction)
	case o.Patience < 0:
		return do, cmdutil.Usagef("--patience must not be negative")
	case o.Resume && o.CheckpointDir == "":
		return do, cmdutil.Usagef("--resume needs --checkpoint-dir")
	case changed("momentum") && o.Optimizer != "sgd":
		return do, cmdutil.Usagef("--momentum applies to --optimizer sgd")
	case o.Plot != "" && !plotfile.Supported(o.Plot):
		return do, cmdutil.Usagef("--plot %s: want a .png or .svg file", o.Plot)
	}
	if _, err := dataset.ParseShapes(o.Shapes); err != nil {
		return do, &cmdutil.UsageError{Err: fmt.Errorf("--shape: %w", err)}
	}
	so, err := o.Runtime.Options()
	if err != nil {
		return do, err
	}
	mom := o.Momentum
	if o.Optimizer != "sgd" {
		mom = 0
	}
	do = distill.Options{
		Loss:   distill.LossConfig{Kind: o.Loss, Temperature: o.Temperature, Alpha: o.Alpha, HintWeight: o.HintWeight},
		Output: o.Outputs,
		Optimizer: distill.OptimizerConfig{Name: o.Optimizer, LR: o.LR, Momentum: mom, WeightDecay: o.WeightDecay,
			Schedule: o.Schedule, WarmupSteps: o.WarmupSteps, ClipNorm: o.ClipNorm},
		Epochs: o.Epochs, Seed: o.Seed, Freeze: o.Freeze, Patience: o.Patience,
		CheckpointDir: o.CheckpointDir, Resume: o.Resume, Session: so,
	}
	probe := do.Optimizer
	if probe.Schedule == distill.ScheduleCosine {
		probe.TotalSteps = max(1, o.WarmupSteps+1) // set from the data later
	}
	if err := probe.Validate(); err != nil {
		return do, &cmdutil.UsageError{Err: err}
	}
	return do, nil
}

func defaultOutput(o *Options) string {
	if o.FromTeacher {
		return strings.TrimSuffix(o.Teacher, filepath.Ext(o.Teacher)) + ".student.onnx"
	}
	return strings.TrimSuffix(o.Student, filepath.Ext(o.Student)) + ".distilled.onnx"
}

// Run distills.
func Run(opts *Options) error {
	do, gate, err := plan(opts)
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = defaultOutput(opts)
	}
	inputs := []string{opts.Teacher, opts.Student, opts.Data, opts.EvalData}
	ckptIn, ckptOut, err := checkpointFile(opts, inputs)
	if err != nil {
		return err
	}
	if ckptIn != "" {
		inputs = append(inputs, ckptIn)
	}
	if err := cmdutil.CheckOutputs(opts.Force, inputs, out, opts.Report, ckptOut, opts.Plot); err != nil {
		return err
	}
	info, err := opts.Factory.InitORT()
	if err != nil {
		return err
	}
	teacher, err := cmdutil.LoadModel(opts.Teacher)
	if err != nil {
		return err
	}
	var student *onnxpb.ModelProto
	var studentInfo report.File
	var notes []string
	if opts.FromTeacher {
		s, hints, n, err := distill.StudentFromTeacher(teacher.Proto, opts.Width)
		if err != nil {
			return err
		}
		student, notes = s, n
		if opts.HintWeight > 0 {
			if len(hints) == 0 {
				return fmt.Errorf("--hint-weight: no pruned group of the teacher has an activation with its channels on axis 1 to pair")
			}
			do.Loss.Hints = hints
			for _, h := range hints {
				notes = append(notes, fmt.Sprintf("hint: %s (%d channels)", h.Value, len(h.Keep)))
			}
		}
		studentInfo = report.File{Role: "student", Path: fmt.Sprintf("(%s, %.0f%% of its channels)", opts.Teacher, 100*opts.Width), Params: report.Params(student)}
	} else {
		sm, err := cmdutil.LoadModel(opts.Student)
		if err != nil {
			return err
		}
		student, studentInfo = sm.Proto, report.Loaded("student", opts.Student, sm)
	}
	specs := dataset.SpecsFromGraph(student.GetGraph())
	shapes, _ := dataset.ParseShapes(opts.Shapes)
	base := dataset.Options{BatchSize: opts.BatchSize, Shapes: shapes}
	if fixed := cmdutil.FixedBatch(student); fixed > 0 && fixed != int64(opts.BatchSize) {
		base.BatchSize = int(fixed)
		if opts.Changed != nil && opts.Changed("batch-size") {
			return cmdutil.Usagef("the student takes batches of exactly %d; --batch-size %d cannot feed it", fixed, opts.BatchSize)
		}
		notes = append(notes, fmt.Sprintf("the student takes batches of exactly %d, so training uses that batch size", fixed))
	}
	probe, err := dataset.Open(opts.Data, specs, base)
	if err != nil {
		return err
	}
	total := probe.Len()
	probe.Close()
	trainN := total
	evalSpec, eo := opts.EvalData, base
	if evalSpec == "" {
		if total < 2 {
			return fmt.Errorf("--data %s has %d samples: too few to hold some out for evaluation (pass --eval-data)", opts.Data, total)
		}
		_, r, err := dataset.Split(total, opts.EvalFraction)
		if err != nil {
			return err
		}
		trainN = r.Offset
		evalSpec, eo = opts.Data, r.Apply(base)
		notes = append(notes, fmt.Sprintf("evaluating on the last %d of the %d samples of %s (file order); pass --eval-data for a separate set", r.Limit, total, opts.Data))
	}
	evalSrc, err := dataset.Open(evalSpec, specs, eo)
	if err != nil {
		return err
	}
	defer evalSrc.Close()
	if err := gate.NeedsLabels(evalSrc); err != nil {
		return cmdutil.Worded(err)
	}
	do.Eval = evalSrc
	if do.Optimizer.Schedule == distill.ScheduleCosine {
		b := base.BatchSize
		do.Optimizer.TotalSteps = (trainN + b - 1) / b * opts.Epochs
	}
	do.Train = func(seed int64) (dataset.Source, error) {
		to := base
		to.Limit, to.Shuffle, to.Seed = trainN, true, seed
		return dataset.Open(opts.Data, specs, to)
	}
	// Labels add the cross-entropy term when the data has them.
	if probeB, err := dataset.Open(opts.Data, specs, dataset.Options{BatchSize: base.BatchSize, Limit: base.BatchSize}); err == nil {
		if b, err := probeB.Next(); err == nil && b.Labels != nil && do.Loss.Kind == distill.LossKL && do.Loss.Alpha < 1 {
			do.Loss.Labels = true
		}
		probeB.Close()
	}
	do.Progress = opts.Factory.Progress(opts.NoProgress)
	do.Log = opts.IO.ErrOut
	res, err := distill.Distill(teacher.Proto, student, do)
	if err != nil {
		return worded(err)
	}
	rep := &Report{Report: *report.New(report.NewHeader("distill", info.Version, opts.CommandLine, optionsEcho(opts, do, gate)),
		report.Loaded("teacher", opts.Teacher, teacher), studentInfo), Distill: res}
	o := &validate.Outcome{Speed: res.Speed, Provider: validate.ProviderOf(do.Session)}
	if res.After != nil {
		o.Validation = res.After.Result
		if err := gate.Measurable(o.Validation); err != nil {
			return cmdutil.Worded(err)
		}
		o.SetGates(gate)
	}
	rep.SetOutcome("teacher", evalSpec, o, res.PrepNotes, append(notes, res.Notes...))
	if err := writePlot(opts.Plot, res, opts.Force); err != nil {
		return err
	}
	return cmdutil.WriteArtifact(opts.IO, cmdutil.Artifact{
		Verb: "distill", Model: res.Model, Out: out, Inputs: inputs, Force: opts.Force, ReportPath: opts.Report, JSON: opts.JSON,
		Common: &rep.Report, Doc: rep, Print: func(w io.Writer) { printReport(w, rep) }, Written: "the student",
		Check: func() error { return checkFinite(res, out, opts.Report) },
	})
}

// worded words distill's errors with the flags that change them.
func worded(err error) error {
	var div *distill.DivergedError
	var mis *distill.CheckpointMismatchError
	switch {
	case errors.As(err, &div):
		return fmt.Errorf("the loss became %v at step %d: lower --lr or set --clip-norm", div.Loss, div.Step)
	case errors.As(err, &mis):
		return fmt.Errorf("checkpoint %s was written for another teacher, student or options; start over without --resume", mis.Path)
	case errors.Is(err, distill.ErrNoCheckpointDir):
		return cmdutil.Usagef("--resume needs --checkpoint-dir")
	}
	return cmdutil.Worded(err)
}

// writePlot draws the run's learning curve to path, when given.
func writePlot(path string, res *distill.Result, replace bool) error {
	if path == "" {
		return nil
	}
	var teacher *float64
	if res.After != nil {
		teacher = res.After.TeacherAccuracy
	}
	return distill.PlotHistory(path, res.History, teacher, replace)
}

// checkpointFile returns the checkpoint file of --checkpoint-dir as an
// input, when the run resumes from it, or else as an output, so that it
// is checked like the others before any work: an output is refused if it
// is an input, or exists without --force; an input is refused if it is
// one of the other inputs, and no output may replace it. A folder that
// does not exist yet holds none (the run creates it); one that is a
// --data or --eval-data folder is refused, as the checkpoint would join
// the data.
func checkpointFile(o *Options, inputs []string) (in, out string, err error) {
	if o.CheckpointDir == "" {
		return "", "", nil
	}
	st, serr := os.Stat(o.CheckpointDir)
	if serr != nil || !st.IsDir() {
		return "", "", nil
	}
	for _, d := range []string{o.Data, o.EvalData} {
		if dst, err := os.Stat(d); err == nil && os.SameFile(st, dst) {
			return "", "", fmt.Errorf("--checkpoint-dir %s is the data folder %s; its checkpoint would be read as data", o.CheckpointDir, d)
		}
	}
	path := distill.CheckpointPath(o.CheckpointDir)
	if !o.Resume {
		return "", path, nil
	}
	if err := cmdutil.CheckOutputs(true, inputs, path); err != nil {
		return "", "", err
	}
	return path, "", nil
}

// checkFinite refuses to report success for a student whose output is
// NaN or infinite on the evaluation data; the error says what was
// written.
func checkFinite(res *distill.Result, out, report string) error {
	if res.After == nil || res.After.NonFinite == 0 {
		return nil
	}
	written := out
	if report != "" {
		written += " and the report " + report
	}
	return fmt.Errorf("wrote %s, but the student's output %q is NaN or infinite in %d values on the %d evaluation samples: the student is unusable", written, res.Output, res.After.NonFinite, res.After.Samples)
}

func optionsEcho(o *Options, do distill.Options, gate validate.Gate) map[string]any {
	e := map[string]any{
		"epochs": o.Epochs, "batch_size": o.BatchSize, "lr": o.LR, "optimizer": o.Optimizer, "schedule": o.Schedule,
		"warmup_steps": o.WarmupSteps, "loss": o.Loss, "seed": o.Seed, "ep": o.Runtime.EP,
		"data": o.Data, "labels_used": do.Loss.Labels,
	}
	cmdutil.EchoGate(e, gate)
	if o.Loss == distill.LossKL {
		e["temperature"], e["alpha"] = o.Temperature, o.Alpha
		if o.HintWeight > 0 {
			e["hint_weight"] = o.HintWeight
		}
	}
	if o.Optimizer == "sgd" {
		e["momentum"] = o.Momentum
	}
	if o.WeightDecay != 0 {
		e["weight_decay"] = o.WeightDecay
	}
	if o.ClipNorm != 0 {
		e["clip_norm"] = o.ClipNorm
	}
	if o.FromTeacher {
		e["student_from_teacher_width"] = o.Width
	}
	if o.EvalData != "" {
		e["eval_data"] = o.EvalData
	} else {
		e["eval_fraction"] = o.EvalFraction
	}
	if len(o.Freeze) > 0 {
		e["freeze"] = o.Freeze
	}
	if o.Patience > 0 {
		e["patience"] = o.Patience
	}
	return e
}

func printReport(out io.Writer, rep *Report) {
	r, teacher, student := rep.Distill, rep.Inputs[0], rep.Inputs[1]
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "teacher\t%s (%s, %d parameters)\n", teacher.Path, onnx.HumanBytes(teacher.Bytes), teacher.FloatParams())
	fmt.Fprintf(w, "student\t%s (%d parameters, %d trained)\n", student.Path, student.FloatParams(), r.TrainableParams)
	if o := rep.Output; o != nil {
		fmt.Fprintf(w, "output\t%s (%s)\n", o.Path, onnx.HumanBytes(o.Bytes))
	}
	fmt.Fprintf(w, "training\t%d epochs, %d steps, %.0f samples/s\n", len(r.History), r.Steps, r.SamplesPerSec)
	w.Flush()
	if v := rep.Validation; r.Before != nil && v != nil {
		fmt.Fprintln(out)
		w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "\tteacher\tstudent before\tstudent after")
		pct := func(p *float64) string {
			if p == nil {
				return "-"
			}
			return fmt.Sprintf("%.2f%%", *p)
		}
		if v.CandidateAccuracy != nil {
			fmt.Fprintf(w, "top-1 accuracy\t%s\t%s\t%s\n", pct(v.ReferenceAccuracy), pct(r.Before.Accuracy), pct(v.CandidateAccuracy))
		}
		if v.Agreement != nil {
			fmt.Fprintf(w, "agreement with the teacher\t\t%s\t%s\n", pct(r.Before.Agreement), pct(v.Agreement))
		}
		if v.Agreement == nil && v.SQNR != nil && r.Before.SQNR != nil {
			fmt.Fprintf(w, "output SQNR\t\t%.1f dB\t%.1f dB\n", *r.Before.SQNR, *v.SQNR)
		}
		if l := rep.Latency; l != nil {
			fmt.Fprintf(w, "latency p50, one sample\t%.3f ms\t\t%.3f ms (%s the teacher's speed, %s)\n", l.RefP50MS, l.CandP50MS, l.Speed, l.Verdict())
		}
		fmt.Fprintf(w, "parameters\t%d\t%d\t%d\n", teacher.FloatParams(), student.FloatParams(), student.FloatParams())
		fmt.Fprintf(w, "evaluation samples\t%d\t\t\n", v.Samples)
		w.Flush()
	}
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	report.PrintGates(w, &rep.Report)
	w.Flush()
}
