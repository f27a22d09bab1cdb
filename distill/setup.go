package distill

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// checkOptions checks the options Distill cannot start without and
// returns the hints: the teacher activations the hint loss reads.
func checkOptions(teacher *onnxpb.ModelProto, opts Options) ([]string, error) {
	if opts.Epochs < 1 {
		return nil, fmt.Errorf("epochs must be at least 1")
	}
	if err := opts.Optimizer.Validate(); err != nil {
		return nil, err
	}
	w := opts.Loss.HintWeight
	if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return nil, fmt.Errorf("hint weight %g: want a finite value ≥ 0", w)
	}
	if w == 0 {
		return nil, nil
	}
	if len(opts.Loss.Hints) == 0 {
		return nil, errors.New("a hint weight needs hints: activations the student shares with the teacher (a student built from the teacher has them)")
	}
	idx := graph.NewIndex(teacher.GetGraph())
	var hints []string
	for _, h := range opts.Loss.Hints {
		if n, _ := idx.Producer(h.Value); n == nil {
			return nil, fmt.Errorf("hint %q is not an activation of the teacher", h.Value)
		}
		hints = append(hints, h.Value)
	}
	return hints, nil
}

// trainer is the state Distill's stages share.
type trainer struct {
	teacher, student *onnxpb.ModelProto
	opts             Options
	res              *Result
	run              *teacherRunner
	tg               *TrainGraph
	// params are Go-owned weight buffers, read by ONNX Runtime in place
	// every step through feeds.
	params []Param
	feeds  map[string]*tensor.Tensor
	opt    *Optimizer
	// cp is the training state a checkpoint holds; ckpt its path (""
	// when no checkpoint is written).
	cp     *Checkpoint
	ckpt   string
	trainS *ort.Session
	// steps counts the optimizer steps of this call; lastEval is the
	// evaluation of the current weights, if any; samples and trainTime
	// sum the epochs of this call, for the training speed.
	steps     int
	lastEval  *Eval
	samples   int
	trainTime time.Duration
}

// newTrainer is the setup stage: it prepares the student, picks the
// outputs trained, builds the training graph and binds its weights to
// the optimizer.
func newTrainer(teacher, student *onnxpb.ModelProto, ts *ort.Session, hints []string, opts Options) (*trainer, error) {
	prepared, notes, err := PrepareStudent(student)
	if err != nil {
		return nil, fmt.Errorf("student: %w", err)
	}
	res := &Result{Notes: []string{}, PrepNotes: notes}
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
	t := &trainer{teacher: teacher, student: student, opts: opts, res: res, run: run, tg: tg}
	if err := t.bindParams(prepared); err != nil {
		return nil, err
	}
	if t.opt, err = NewOptimizer(opts.Optimizer, t.params); err != nil {
		return nil, err
	}
	return t, nil
}

// bindParams copies the trained weights of the prepared student into
// Go-owned buffers and feeds the training graph from them.
func (t *trainer) bindParams(prepared *onnxpb.ModelProto) error {
	inits := map[string]*onnxpb.TensorProto{}
	for _, p := range prepared.Graph.Initializer {
		inits[p.GetName()] = p
	}
	t.params = make([]Param, len(t.tg.Params))
	t.feeds = map[string]*tensor.Tensor{}
	for i, name := range t.tg.Params {
		w, err := tensor.FromProto(inits[name])
		if err != nil {
			return err
		}
		buf := slices.Clone(tensor.Values[float32](w))
		t.params[i] = Param{Name: name, Data: buf}
		t.feeds[name] = tensor.MustNew(t.tg.Shapes[i], buf)
		t.res.TrainableParams += int64(len(buf))
	}
	return nil
}

// restore starts the training state: fresh, or, with Resume, the
// checkpoint's weights, optimizer state and history after checking that
// it was written for the same teacher, student and options.
func (t *trainer) restore() error {
	t.cp = &Checkpoint{Version: 1, Best: math.NaN(), BestEpoch: -1}
	if t.opts.CheckpointDir != "" {
		// Only checkpoints use the fingerprint: it serialises both models.
		fp, err := fingerprint(t.teacher, t.student, t.opts)
		if err != nil {
			return err
		}
		t.cp.Fingerprint = fp
		if err := os.MkdirAll(t.opts.CheckpointDir, 0o755); err != nil {
			return fmt.Errorf("checkpoint directory: %w", err)
		}
		t.ckpt = CheckpointPath(t.opts.CheckpointDir)
	}
	if !t.opts.Resume {
		return nil
	}
	if t.ckpt == "" {
		return ErrNoCheckpointDir
	}
	c, err := LoadCheckpoint(t.ckpt)
	if err != nil {
		return err
	}
	if c.Fingerprint != t.cp.Fingerprint {
		return &CheckpointMismatchError{Path: t.ckpt}
	}
	if err := c.Validate(paramShapes(t.tg)); err != nil {
		return fmt.Errorf("checkpoint %s cannot be resumed: %w", t.ckpt, err)
	}
	for _, p := range t.params {
		copy(p.Data, c.Params[p.Name])
	}
	if err := t.opt.Restore(c.Optimizer); err != nil {
		return fmt.Errorf("checkpoint %s: %w", t.ckpt, err)
	}
	t.cp = c
	t.res.ResumedAt = c.Epoch
	return nil
}

// current maps each trained weight to its buffer (not a copy).
func (t *trainer) current() map[string][]float32 {
	w := map[string][]float32{}
	for _, p := range t.params {
		w[p.Name] = p.Data
	}
	return w
}

// studentModel is the original student with the given weights.
func (t *trainer) studentModel(weights map[string][]float32) (*onnxpb.ModelProto, error) {
	return withWeights(t.student, t.tg, weights)
}

// evaluate compares the student with the current weights with the
// teacher on the evaluation data (nil without evaluation data).
func (t *trainer) evaluate() (*Eval, error) {
	if t.opts.Eval == nil {
		return nil, nil
	}
	m, err := t.studentModel(t.current())
	if err != nil {
		return nil, err
	}
	return evalStudent(t.run, m, t.res.Output, t.opts)
}
