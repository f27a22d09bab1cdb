package distill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Options configure Distill.
type Options struct {
	Loss LossConfig
	// Output is the student output trained ("" = its first float output);
	// TeacherOutput the teacher's ("" = the output of the same name, else
	// the teacher's first float output).
	Output, TeacherOutput string
	Optimizer             OptimizerConfig
	Epochs                int
	// Seed drives the order of the training samples: epoch e visits them
	// in the order of Train(Seed, e).
	Seed   int64
	Freeze []string
	// Patience stops training after that many epochs without a better
	// evaluation metric (0: off); the best epoch's weights are kept.
	Patience int
	// CheckpointDir receives checkpoint.npz after every epoch; Resume
	// continues from it.
	CheckpointDir string
	Resume        bool
	Session       ort.Options
	// Train opens the training data for one epoch, shuffled by seed; Eval
	// is the evaluation data (nil: no evaluation between epochs).
	Train func(seed int64) (dataset.Source, error)
	Eval  dataset.Source
	// Progress shows each epoch's samples; Log receives one line per
	// epoch (nil: none).
	Progress progress.Reporter
	Log      io.Writer
	// StopAfterSteps makes Distill return ErrInterrupted after that many
	// optimizer steps in this call (a kill, for tests).
	StopAfterSteps int
	LatencyRuns    int
}

// ErrInterrupted is returned when StopAfterSteps stops a run.
var ErrInterrupted = errors.New("training interrupted")

// ErrNoCheckpointDir is returned for Resume without CheckpointDir.
var ErrNoCheckpointDir = errors.New("resuming needs a checkpoint directory")

// CheckpointMismatchError is returned when the checkpoint to resume from
// was written for another teacher, student or options.
type CheckpointMismatchError struct{ Path string }

func (e *CheckpointMismatchError) Error() string {
	return fmt.Sprintf("checkpoint %s was written for another teacher, student or options; start over without resuming", e.Path)
}

// DivergedError is returned when the training loss stops being finite.
type DivergedError struct {
	Loss float64
	Step int
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("the loss became %v at step %d: lower the learning rate or clip the gradient norm", e.Loss, e.Step)
}

// Eval is a student compared with the teacher on the evaluation data.
type Eval struct {
	Samples int `json:"samples"`
	// Agreement is the top-1 agreement with the teacher in percent;
	// TeacherAccuracy and Accuracy are top-1 with labels.
	Agreement       *float64 `json:"agreement,omitempty"`
	TeacherAccuracy *float64 `json:"teacher_accuracy,omitempty"`
	Accuracy        *float64 `json:"accuracy,omitempty"`
	SQNR            *float64 `json:"sqnr_db,omitempty"`
	// NonFinite counts the student's output values that are NaN or
	// infinite.
	NonFinite int64 `json:"non_finite_outputs,omitempty"`
	// Result is the comparison itself (one output), for the gates.
	Result *eval.Result `json:"-"`
}

// Result is what Distill produced and measured.
type Result struct {
	Model           *onnxpb.ModelProto `json:"-"`
	Params          []string           `json:"trainable"`
	TrainableParams int64              `json:"trainable_params"`
	Frozen          []string           `json:"frozen,omitempty"`
	PrepNotes       []string           `json:"-"`
	Output          string             `json:"student_output"`
	TeacherOutput   string             `json:"teacher_output"`
	History         []EpochRecord      `json:"history"`
	BestEpoch       int                `json:"best_epoch"`
	StoppedEarly    bool               `json:"stopped_early"`
	ResumedAt       int                `json:"resumed_after_epoch,omitempty"`
	Steps           int                `json:"steps"`
	SamplesPerSec   float64            `json:"train_samples_per_second"`
	// Before is the student before training; After after it (reported as
	// the validation), both against the teacher.
	Before *Eval `json:"before,omitempty"`
	After  *Eval `json:"-"`
	// Speed times the teacher and the student on one evaluation sample.
	Speed *eval.Speed `json:"-"`
	Notes []string    `json:"-"`
}

// checkpointFile is the name of the checkpoint inside CheckpointDir.
const checkpointFile = "checkpoint.npz"

// Distill trains the student to answer like the teacher and returns the
// student with its trained weights (the graph is otherwise unchanged).
// Its stages, on a trainer: check the options, open the teacher, set up
// the student's training graph and weights, restore the checkpoint, the
// epoch loop (train, evaluate, checkpoint, early stop) and finish.
func Distill(teacher, student *onnxpb.ModelProto, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = progress.Nop
	}
	hints, err := checkOptions(teacher, opts)
	if err != nil {
		return nil, err
	}
	teacherOpts := opts.Session
	if len(hints) > 0 {
		teacherOpts.ExtraOutputs = append(slices.Clone(teacherOpts.ExtraOutputs), hints...)
	}
	ts, err := ort.NewSessionFromModel(teacher, teacherOpts)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	defer ts.Close()
	t, err := newTrainer(teacher, student, ts, hints, opts)
	if err != nil {
		return nil, err
	}
	if err := t.restore(); err != nil {
		return nil, err
	}
	trainS, err := ort.NewSessionFromModel(t.tg.Model, trainingSession(opts.Session))
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load the training graph: %w", err)
	}
	defer trainS.Close()
	t.trainS = trainS
	if err := t.train(); err != nil {
		return nil, err
	}
	return t.finish()
}

// finish is the last stage: it records the history, keeps the best
// epoch's weights when early stopping chose them, and validates the
// student against the teacher (agreement, accuracy, latency).
func (t *trainer) finish() (*Result, error) {
	res, cp := t.res, t.cp
	res.History, res.Steps, res.BestEpoch = cp.History, cp.Step, cp.BestEpoch
	if t.trainTime > 0 {
		res.SamplesPerSec = float64(t.samples) / t.trainTime.Seconds()
	}
	final, lastEval := t.current(), t.lastEval
	if t.opts.Patience > 0 && cp.BestParams != nil && cp.BestEpoch != cp.Epoch {
		final, lastEval = cp.BestParams, nil
	}
	var err error
	if res.Model, err = t.studentModel(final); err != nil {
		return nil, err
	}
	if t.opts.Eval == nil {
		return res, nil
	}
	// The last epoch's evaluation describes these weights already.
	if res.After = lastEval; res.After == nil {
		if res.After, err = evalStudent(t.run, res.Model, res.Output, t.opts); err != nil {
			return nil, err
		}
	}
	// Per-sample latency: one sample, which every batch size takes.
	if one, err := firstSample(t.opts.Eval); err == nil {
		if res.Speed, err = eval.CompareSpeedOn(t.teacher, res.Model, t.opts.Session, one, t.opts.LatencyRuns); err != nil {
			res.Notes = append(res.Notes, "latency not measured: "+err.Error())
		}
	}
	return res, nil
}

// firstSample returns the first evaluation sample as a batch of one.
func firstSample(src dataset.Source) (map[string]*tensor.Tensor, error) {
	if err := src.Reset(); err != nil {
		return nil, err
	}
	b, err := src.Next()
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor.Tensor{}
	for k, t := range b.Inputs {
		r, err := t.Rows(0, 1)
		if err != nil {
			return nil, err
		}
		out[k] = r
	}
	return out, nil
}

// score is the early-stopping metric: accuracy with labels, else
// agreement with the teacher.
func score(e *Eval) float64 {
	switch {
	case e.Accuracy != nil:
		return *e.Accuracy
	case e.Agreement != nil:
		return *e.Agreement
	case e.SQNR != nil:
		return *e.SQNR
	}
	return math.NaN()
}

// epochLine is the log line of an epoch of n samples that took d.
func epochLine(r EpochRecord, epochs, n int, d time.Duration) string {
	s := fmt.Sprintf("epoch %d/%d: loss %.4f, lr %.3g, %.0f samples/s", r.Epoch, epochs, r.TrainLoss, r.LR, float64(n)/d.Seconds())
	if r.EvalAgreement != nil {
		s += fmt.Sprintf(", agreement %.2f%%", *r.EvalAgreement)
	}
	if r.EvalAccuracy != nil {
		s += fmt.Sprintf(", accuracy %.2f%%", *r.EvalAccuracy)
	}
	return s
}

// paramShapes maps each trained weight of tg to its shape.
func paramShapes(tg *TrainGraph) map[string][]int64 {
	shapes := make(map[string][]int64, len(tg.Params))
	for i, p := range tg.Params {
		shapes[p] = tg.Shapes[i]
	}
	return shapes
}

// cloneWeights copies w deeply.
func cloneWeights(w map[string][]float32) map[string][]float32 {
	out := make(map[string][]float32, len(w))
	for k, v := range w {
		out[k] = slices.Clone(v)
	}
	return out
}

// fingerprint identifies what a checkpoint may be resumed with: the two
// models and every option that changes the trajectory (not Epochs or
// Patience, which may grow on resume).
func fingerprint(teacher, student *onnxpb.ModelProto, opts Options) (string, error) {
	h := sha256.New()
	for _, m := range []*onnxpb.ModelProto{teacher, student} {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	o, err := json.Marshal(struct {
		Loss                  LossConfig
		Output, TeacherOutput string
		Optimizer             OptimizerConfig
		Seed                  int64
		Freeze                []string
	}{opts.Loss, opts.Output, opts.TeacherOutput, opts.Optimizer, opts.Seed, opts.Freeze})
	if err != nil {
		return "", err
	}
	h.Write(o)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// withWeights returns a copy of the original student with the trained
// weights: initializers replaced by name, or the value of the Constant
// node that held the weight.
func withWeights(student *onnxpb.ModelProto, tg *TrainGraph, weights map[string][]float32) (*onnxpb.ModelProto, error) {
	m := graph.CloneSharingInitializers(student)
	shapes := paramShapes(tg)
	done := map[string]bool{}
	mk := func(name string) (*onnxpb.TensorProto, error) {
		return tensor.ToProto(tensor.MustNew(shapes[name], slices.Clone(weights[name])), name)
	}
	for i, t := range m.Graph.Initializer {
		if _, ok := weights[t.GetName()]; ok {
			p, err := mk(t.GetName())
			if err != nil {
				return nil, err
			}
			m.Graph.Initializer[i] = p
			done[t.GetName()] = true
		}
	}
	for _, n := range m.Graph.Node {
		if n.GetOpType() != "Constant" || len(n.GetOutput()) != 1 {
			continue
		}
		name := n.GetOutput()[0]
		if _, ok := weights[name]; !ok || done[name] {
			continue
		}
		for _, a := range n.GetAttribute() {
			if a.GetName() == "value" {
				p, err := mk(name)
				if err != nil {
					return nil, err
				}
				p.Name = ""
				a.T = p
				done[name] = true
			}
		}
	}
	for name := range weights {
		if !done[name] {
			return nil, fmt.Errorf("internal error: trained weight %s has no place in the student", name)
		}
	}
	return m, nil
}

// trainingSession is the ONNX Runtime configuration of the training
// graph: the caller's, with the optimization level at most "extended".
// Level "all" adds the blocked (NCHWc) layout, which pays off only for
// convolutions with constant weights; here every weight is an input, so
// it would only wrap pooling and resizing nodes in layout conversions
// (measured: the training step of the testdata CNN ~7% slower).
func trainingSession(o ort.Options) ort.Options {
	if o.OptLevel == "" || o.OptLevel == ort.OptAll {
		o.OptLevel = ort.OptExtended
	}
	return o
}
