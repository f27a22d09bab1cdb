// Package distillcmd implements `infer distill`.
package distillcmd

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/distill"
	"github.com/infer-ml/infer/internal/buildinfo"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
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
	JSON, Force, NoProgress  bool
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
	fl.StringVar(&opts.Data, "data", "", "training inputs (.npz, folder, ONNX test data); labels optional (required)")
	fl.StringVar(&opts.EvalData, "eval-data", "", "evaluation data (default: the last --eval-fraction of --data)")
	fl.Float64Var(&opts.EvalFraction, "eval-fraction", 0.1, "share of --data held out for evaluation when there is no --eval-data (taken from the end, in file order)")
	fl.IntVar(&opts.Epochs, "epochs", 10, "passes over the training data")
	fl.IntVar(&opts.BatchSize, "batch-size", 64, "samples per step (a student with a fixed batch size uses its own)")
	fl.Float64Var(&opts.LR, "lr", 1e-3, "learning rate")
	fl.StringVar(&opts.Optimizer, "optimizer", "adam", "adam, adamw or sgd")
	fl.Float64Var(&opts.Momentum, "momentum", 0.9, "sgd momentum")
	fl.Float64Var(&opts.WeightDecay, "weight-decay", 0, "weight decay (decoupled for adamw, L2 otherwise)")
	fl.StringVar(&opts.Schedule, "schedule", "constant", "learning-rate schedule: constant or cosine")
	fl.IntVar(&opts.WarmupSteps, "warmup-steps", 0, "linear warm-up steps")
	fl.Float64Var(&opts.ClipNorm, "clip-norm", 0, "clip the global gradient norm to this value (0: off)")
	fl.Float64Var(&opts.Temperature, "temperature", 4, "softmax temperature of the kl loss")
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
	fl.BoolVar(&opts.JSON, "json", false, "print the JSON report on stdout instead of tables")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing output or report")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Report is the JSON report.
type Report struct {
	Infer      string         `json:"infer"`
	ORTVersion string         `json:"onnxruntime_version"`
	Date       string         `json:"date"`
	Teacher    FileInfo       `json:"teacher"`
	Student    FileInfo       `json:"student"`
	Output     *FileInfo      `json:"output,omitempty"`
	Options    map[string]any `json:"options"`
	*distill.Result
}

// FileInfo describes a model.
type FileInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes"`
	Params int64  `json:"params"`
}

func plan(o *Options) (distill.Options, error) {
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
	do, err := plan(opts)
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
	if err := cmdutil.CheckOutputs(opts.Force, inputs, out, opts.Report, ckptOut); err != nil {
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
	studentInfo := FileInfo{Path: opts.Student}
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
		studentInfo.Path = fmt.Sprintf("(%s, %.0f%% of its channels)", opts.Teacher, 100*opts.Width)
	} else {
		sm, err := cmdutil.LoadModel(opts.Student)
		if err != nil {
			return err
		}
		student = sm.Proto
		studentInfo.SHA256, studentInfo.Bytes = sm.SHA256, sm.FileBytes+sm.ExternalBytes
	}
	studentInfo.Params = floatParams(student)
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
		return err
	}
	res.Notes = append(notes, res.Notes...)
	rep := &Report{
		Infer: buildinfo.String(), ORTVersion: info.Version, Date: time.Now().UTC().Format(time.RFC3339),
		Teacher: FileInfo{Path: opts.Teacher, SHA256: teacher.SHA256, Bytes: teacher.FileBytes + teacher.ExternalBytes, Params: floatParams(teacher.Proto)},
		Student: studentInfo, Options: optionsEcho(opts, do), Result: res,
	}
	written, size, err := cmdutil.SaveModel(res.Model, out, opts.Force, inputs)
	if err != nil {
		return err
	}
	rep.Output = &FileInfo{Path: out, SHA256: written.SHA256, Bytes: size, Params: floatParams(written.Proto)}
	if err := cmdutil.WriteReport(opts.Report, opts.Force, out, rep); err != nil {
		return err
	}
	if err := checkFinite(res, out, opts.Report); err != nil {
		return err
	}
	return cmdutil.Finish(opts.IO, "distill", res.Notes, opts.JSON, rep, func(w io.Writer) { printReport(w, rep) })
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

func floatParams(m *onnxpb.ModelProto) int64 {
	var n int64
	onnx.Tensors(m, func(t *onnxpb.TensorProto, _ string) error {
		if d := t.GetDataType(); d == 1 || d == 10 || d == 11 || d == 16 {
			k := int64(1)
			for _, x := range t.GetDims() {
				k *= x
			}
			n += k
		}
		return nil
	})
	return n
}

func optionsEcho(o *Options, do distill.Options) map[string]any {
	e := map[string]any{
		"epochs": o.Epochs, "batch_size": o.BatchSize, "lr": o.LR, "optimizer": o.Optimizer, "schedule": o.Schedule,
		"warmup_steps": o.WarmupSteps, "loss": o.Loss, "seed": o.Seed, "ep": o.Runtime.EP, "go": runtime.Version(),
		"data": o.Data, "labels_used": do.Loss.Labels,
	}
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

func printReport(out io.Writer, r *Report) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "teacher\t%s (%s, %d parameters)\n", r.Teacher.Path, onnx.HumanBytes(r.Teacher.Bytes), r.Teacher.Params)
	fmt.Fprintf(w, "student\t%s (%d parameters, %d trained)\n", r.Student.Path, r.Student.Params, r.TrainableParams)
	if r.Output != nil {
		fmt.Fprintf(w, "output\t%s (%s)\n", r.Output.Path, onnx.HumanBytes(r.Output.Bytes))
	}
	fmt.Fprintf(w, "training\t%d epochs, %d steps, %.0f samples/s\n", len(r.History), r.Steps, r.SamplesPerSec)
	w.Flush()
	if r.Before != nil && r.After != nil {
		fmt.Fprintln(out)
		w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "\tteacher\tstudent before\tstudent after")
		pct := func(p *float64) string {
			if p == nil {
				return "-"
			}
			return fmt.Sprintf("%.2f%%", *p)
		}
		if r.After.Accuracy != nil {
			fmt.Fprintf(w, "top-1 accuracy\t%s\t%s\t%s\n", pct(r.After.TeacherAccuracy), pct(r.Before.Accuracy), pct(r.After.Accuracy))
		}
		if r.After.Agreement != nil {
			fmt.Fprintf(w, "agreement with the teacher\t\t%s\t%s\n", pct(r.Before.Agreement), pct(r.After.Agreement))
		}
		if r.After.Agreement == nil && r.After.SQNR != nil && r.Before.SQNR != nil {
			fmt.Fprintf(w, "output SQNR\t\t%.1f dB\t%.1f dB\n", *r.Before.SQNR, *r.After.SQNR)
		}
		if r.TeacherP50MS > 0 && r.StudentP50MS > 0 {
			fmt.Fprintf(w, "latency p50, one sample\t%.3f ms\t\t%.3f ms (%.2f× the teacher's speed)\n", r.TeacherP50MS, r.StudentP50MS, r.TeacherP50MS/r.StudentP50MS)
		}
		fmt.Fprintf(w, "parameters\t%d\t%d\t%d\n", r.Teacher.Params, r.Student.Params, r.Student.Params)
		fmt.Fprintf(w, "evaluation samples\t%d\t\t\n", r.After.Samples)
		w.Flush()
	}
	_ = math.NaN
}
