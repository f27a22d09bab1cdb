package distill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
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
func Distill(teacher, student *onnxpb.ModelProto, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = progress.Nop
	}
	if opts.Epochs < 1 {
		return nil, fmt.Errorf("epochs must be at least 1")
	}
	if err := opts.Optimizer.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Notes: []string{}}
	teacherOpts := opts.Session
	var hints []string
	if w := opts.Loss.HintWeight; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return nil, fmt.Errorf("hint weight %g: want a finite value ≥ 0", w)
	} else if w > 0 {
		if len(opts.Loss.Hints) == 0 {
			return nil, errors.New("a hint weight needs hints: activations the student shares with the teacher (a student built from the teacher has them)")
		}
		idx := graph.NewIndex(teacher.GetGraph())
		for _, h := range opts.Loss.Hints {
			if n, _ := idx.Producer(h.Value); n == nil {
				return nil, fmt.Errorf("hint %q is not an activation of the teacher", h.Value)
			}
			hints = append(hints, h.Value)
		}
		teacherOpts.ExtraOutputs = append(slices.Clone(teacherOpts.ExtraOutputs), hints...)
	}
	ts, err := ort.NewSessionFromModel(teacher, teacherOpts)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	defer ts.Close()
	prepared, notes, err := PrepareStudent(student)
	if err != nil {
		return nil, fmt.Errorf("student: %w", err)
	}
	res.PrepNotes = notes
	if res.Output, res.TeacherOutput, err = pickOutputs(ts, prepared, opts); err != nil {
		return nil, err
	}
	run, err := newTeacherRunner(ts, res.TeacherOutput, prepared)
	if err != nil {
		return nil, err
	}
	run.hints = hints
	tg, err := BuildTrainGraph(prepared, res.Output, opts.Loss, opts.Freeze)
	if err != nil {
		return nil, fmt.Errorf("student: %w", err)
	}
	res.Params, res.Frozen = tg.Params, tg.Frozen
	// Go-owned weight buffers, read by ONNX Runtime in place every step.
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range prepared.Graph.Initializer {
		inits[t.GetName()] = t
	}
	params := make([]Param, len(tg.Params))
	feeds := map[string]*tensor.Tensor{}
	for i, name := range tg.Params {
		t, err := tensor.FromProto(inits[name])
		if err != nil {
			return nil, err
		}
		buf := slices.Clone(tensor.Values[float32](t))
		params[i] = Param{Name: name, Data: buf}
		feeds[name] = tensor.MustNew(tg.Shapes[i], buf)
		res.TrainableParams += int64(len(buf))
	}
	opt, err := NewOptimizer(opts.Optimizer, params)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(teacher, student, opts)
	if err != nil {
		return nil, err
	}
	cp := &Checkpoint{Version: 1, Fingerprint: fp, Best: math.NaN(), BestEpoch: -1}
	ckpt := ""
	if opts.CheckpointDir != "" {
		if err := os.MkdirAll(opts.CheckpointDir, 0o755); err != nil {
			return nil, fmt.Errorf("checkpoint directory: %w", err)
		}
		ckpt = CheckpointPath(opts.CheckpointDir)
	}
	if opts.Resume {
		if ckpt == "" {
			return nil, ErrNoCheckpointDir
		}
		c, err := LoadCheckpoint(ckpt)
		if err != nil {
			return nil, err
		}
		if c.Fingerprint != fp {
			return nil, &CheckpointMismatchError{Path: ckpt}
		}
		if err := c.Validate(paramShapes(tg)); err != nil {
			return nil, fmt.Errorf("checkpoint %s cannot be resumed: %w", ckpt, err)
		}
		for _, p := range params {
			copy(p.Data, c.Params[p.Name])
		}
		if err := opt.Restore(c.Optimizer); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", ckpt, err)
		}
		cp = c
		res.ResumedAt = c.Epoch
	}
	trainS, err := ort.NewSessionFromModel(tg.Model, trainingSession(opts.Session))
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load the training graph: %w", err)
	}
	defer trainS.Close()

	// studentModel is the original student with the current weights.
	studentModel := func(weights map[string][]float32) (*onnxpb.ModelProto, error) {
		return withWeights(student, tg, weights)
	}
	current := func() map[string][]float32 {
		w := map[string][]float32{}
		for _, p := range params {
			w[p.Name] = p.Data
		}
		return w
	}
	evaluate := func() (*Eval, error) {
		if opts.Eval == nil {
			return nil, nil
		}
		m, err := studentModel(current())
		if err != nil {
			return nil, err
		}
		return evalStudent(run, m, res.Output, opts)
	}
	if opts.Eval != nil && cp.Epoch == 0 {
		if res.Before, err = evaluate(); err != nil {
			return nil, err
		}
	}
	steps := 0
	var lastEval *Eval // the evaluation of the current weights, if any
	var samples int
	var trainTime time.Duration
	for epoch := cp.Epoch; epoch < opts.Epochs; epoch++ {
		t0 := time.Now()
		src, err := opts.Train(opts.Seed*1_000_003 + int64(epoch))
		if err != nil {
			return nil, err
		}
		opts.Progress.Start(fmt.Sprintf("epoch %d/%d", epoch+1, opts.Epochs), int64(src.Len()), progress.Samples)
		var lossSum float64
		var n int
		var lr float64
		for {
			b, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				opts.Progress.Done()
				return nil, err
			}
			if err := stepFeeds(feeds, b, run, tg, opts.Loss); err != nil {
				src.Close()
				opts.Progress.Done()
				return nil, err
			}
			out, err := trainS.Run(feeds)
			if err != nil {
				src.Close()
				opts.Progress.Done()
				return nil, fmt.Errorf("training step %d: %w", cp.Step+1, err)
			}
			grads := make([][]float32, len(tg.Grads))
			for i, gname := range tg.Grads {
				grads[i] = tensor.Values[float32](out[gname])
			}
			l, _ := tensor.AsFloat64(out[lossName])
			if math.IsNaN(l[0]) || math.IsInf(l[0], 0) {
				src.Close()
				opts.Progress.Done()
				return nil, &DivergedError{Loss: l[0], Step: cp.Step + 1}
			}
			if _, lr, err = opt.Step(grads); err != nil {
				src.Close()
				opts.Progress.Done()
				return nil, err
			}
			lossSum += l[0] * float64(b.N)
			n += b.N
			cp.Step++
			steps++
			opts.Progress.Add(int64(b.N))
			if opts.StopAfterSteps > 0 && steps >= opts.StopAfterSteps {
				src.Close()
				opts.Progress.Done()
				return nil, ErrInterrupted
			}
		}
		src.Close()
		opts.Progress.Done()
		trainTime += time.Since(t0)
		samples += n
		rec := EpochRecord{Epoch: epoch + 1, TrainLoss: lossSum / float64(max(n, 1)), LR: lr}
		ev, err := evaluate()
		if err != nil {
			return nil, err
		}
		lastEval = ev
		metric := math.NaN()
		if ev != nil {
			rec.EvalAgreement = ev.Agreement
			rec.EvalAccuracy = ev.Accuracy
			metric = score(ev)
		}
		rec.Seconds = time.Since(t0).Seconds()
		cp.History = append(cp.History, rec)
		cp.Epoch = epoch + 1
		if !math.IsNaN(metric) && (math.IsNaN(cp.Best) || metric > cp.Best) {
			cp.Best, cp.BestEpoch, cp.BadEpochs = metric, epoch+1, 0
			cp.BestParams = cloneWeights(current())
		} else if !math.IsNaN(metric) {
			cp.BadEpochs++
		}
		if opts.Log != nil {
			fmt.Fprintln(opts.Log, epochLine(rec, opts.Epochs, n, time.Since(t0)))
		}
		if ckpt != "" {
			cp.Params = cloneWeights(current())
			cp.Shapes = paramShapes(tg)
			cp.Optimizer = opt.State()
			if err := SaveCheckpoint(ckpt, cp); err != nil {
				return nil, err
			}
		}
		if opts.Patience > 0 && cp.BadEpochs >= opts.Patience {
			res.StoppedEarly = true
			res.Notes = append(res.Notes, fmt.Sprintf("stopped after epoch %d: no better evaluation for %d epochs; the weights of epoch %d are kept", epoch+1, opts.Patience, cp.BestEpoch))
			break
		}
	}
	res.History, res.Steps, res.BestEpoch = cp.History, cp.Step, cp.BestEpoch
	if trainTime > 0 {
		res.SamplesPerSec = float64(samples) / trainTime.Seconds()
	}
	final := current()
	if opts.Patience > 0 && cp.BestParams != nil && cp.BestEpoch != cp.Epoch {
		final, lastEval = cp.BestParams, nil
	}
	if res.Model, err = studentModel(final); err != nil {
		return nil, err
	}
	if opts.Eval != nil {
		// The last epoch's evaluation describes these weights already.
		if res.After = lastEval; res.After == nil {
			if res.After, err = evalStudent(run, res.Model, res.Output, opts); err != nil {
				return nil, err
			}
		}
		// Per-sample latency: one sample, which every batch size takes.
		if one, err := firstSample(opts.Eval); err == nil {
			if res.Speed, err = eval.CompareSpeedOn(teacher, res.Model, opts.Session, one, opts.LatencyRuns); err != nil {
				res.Notes = append(res.Notes, "latency not measured: "+err.Error())
			}
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
	shapes := map[string][]int64{}
	for i, p := range tg.Params {
		shapes[p] = tg.Shapes[i]
	}
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
