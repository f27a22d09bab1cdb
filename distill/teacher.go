package distill

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// teacherRunner runs the teacher on the student's batches. A teacher
// exported with a fixed batch size (the MNIST zoo model takes exactly one
// image) runs on slices of the batch, and its outputs are stacked.
type teacherRunner struct {
	s      *ort.Session
	output string
	// hints are the teacher activations the hint terms read (the session
	// exposes them as extra outputs).
	hints  []string
	inputs []string
	batch  int64 // the teacher's fixed batch size, 0 when it varies
}

func newTeacherRunner(s *ort.Session, output string, student *onnxpb.ModelProto) (*teacherRunner, error) {
	r := &teacherRunner{s: s, output: output}
	studentInputs := map[string][]int64{}
	for _, in := range student.GetGraph().GetInput() {
		d, _ := valueShape(student.GetGraph(), in.GetName())
		studentInputs[in.GetName()] = d
	}
	for _, in := range s.Inputs() {
		if _, ok := studentInputs[in.Name]; !ok {
			return nil, fmt.Errorf("the teacher's input %q is not an input of the student, so the data cannot feed both (inputs must share names)", in.Name)
		}
		ss := studentInputs[in.Name]
		same := len(ss) == len(in.Shape)
		for i := 1; same && i < len(ss); i++ {
			same = ss[i] < 0 || in.Shape[i] < 0 || ss[i] == in.Shape[i]
		}
		if ss != nil && !same {
			return nil, fmt.Errorf("the teacher's input %q is %s but the student's is %s, so the data cannot feed both", in.Name, dims(in.Shape), dims(ss))
		}
		r.inputs = append(r.inputs, in.Name)
		if len(in.Shape) > 0 && in.Shape[0] > 0 {
			r.batch = in.Shape[0]
		}
	}
	return r, nil
}

// run returns the teacher's output for a batch of n samples.
func (r *teacherRunner) run(inputs map[string]*tensor.Tensor, n int) (*tensor.Tensor, error) {
	out, err := r.runValues(inputs, n, []string{r.output})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// runValues returns the teacher's values names (outputs, or the exposed
// hint activations) for a batch of n samples.
func (r *teacherRunner) runValues(inputs map[string]*tensor.Tensor, n int, names []string) ([]*tensor.Tensor, error) {
	feeds := map[string]*tensor.Tensor{}
	for _, name := range r.inputs {
		feeds[name] = inputs[name]
	}
	pick := func(out map[string]*tensor.Tensor) ([]*tensor.Tensor, error) {
		vals := make([]*tensor.Tensor, len(names))
		for i, name := range names {
			if vals[i] = out[name]; vals[i] == nil {
				return nil, fmt.Errorf("teacher: no value %q in its outputs", name)
			}
		}
		return vals, nil
	}
	if r.batch <= 0 || int(r.batch) == n {
		out, err := r.s.Run(feeds)
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		return pick(out)
	}
	if n%int(r.batch) != 0 {
		return nil, fmt.Errorf("the teacher takes batches of exactly %d; a batch of %d samples cannot be split into them (use a batch size that is a multiple of %d)", r.batch, n, r.batch)
	}
	parts := make([][]*tensor.Tensor, len(names))
	for lo := 0; lo < n; lo += int(r.batch) {
		part := map[string]*tensor.Tensor{}
		for name, t := range feeds {
			rows, err := t.Rows(lo, lo+int(r.batch))
			if err != nil {
				return nil, err
			}
			part[name] = rows
		}
		out, err := r.s.Run(part)
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		vals, err := pick(out)
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			parts[i] = append(parts[i], v)
		}
	}
	vals := make([]*tensor.Tensor, len(names))
	for i := range names {
		var err error
		if vals[i], err = tensor.Concat(parts[i]...); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// pickOutputs chooses the student output to train and the teacher output
// it learns from, and checks that their shapes agree.
func pickOutputs(ts *ort.Session, student *onnxpb.ModelProto, opts Options) (string, string, error) {
	g := student.GetGraph()
	so := opts.Output
	if so == "" {
		for _, o := range g.GetOutput() {
			if tensor.DType(o.GetType().GetTensorType().GetElemType()) == tensor.Float32 {
				so = o.GetName()
				break
			}
		}
		if so == "" {
			return "", "", errors.New("the student has no float32 output")
		}
	}
	sshape, ok := valueShape(g, so)
	if !ok {
		return "", "", fmt.Errorf("the student has no output %q", so)
	}
	to := opts.TeacherOutput
	var tshape []int64
	for _, o := range ts.Outputs() {
		if (to == "" && o.Name == so) || o.Name == to {
			to, tshape = o.Name, o.Shape
		}
	}
	if tshape == nil && opts.TeacherOutput != "" {
		return "", "", fmt.Errorf("the teacher has no output %q", opts.TeacherOutput)
	}
	if tshape == nil {
		for _, o := range ts.Outputs() {
			if o.DType == tensor.Float32 {
				to, tshape = o.Name, o.Shape
				break
			}
		}
	}
	if tshape == nil {
		return "", "", errors.New("the teacher has no float32 output")
	}
	// Dimensions after the batch must match (a varying one matches any).
	match := len(sshape) == len(tshape)
	for i := 1; match && i < len(sshape); i++ {
		if sshape[i] > 0 && tshape[i] > 0 && sshape[i] != tshape[i] {
			match = false
		}
	}
	if !match {
		return "", "", fmt.Errorf("the student's output %s %v does not match the teacher's %s %v", so, dims(sshape), to, dims(tshape))
	}
	return so, to, nil
}

func dims(s []int64) string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += ","
		}
		if d < 0 {
			out += "N"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out + "]"
}

// stepFeeds fills the training graph's data inputs for one batch: the
// student's inputs, the teacher's output, one-hot labels and the loss
// scales.
func stepFeeds(feeds map[string]*tensor.Tensor, b *dataset.Batch, run *teacherRunner, tg *TrainGraph, loss LossConfig) error {
	for _, in := range tg.Model.Graph.Input {
		if t, ok := b.Inputs[in.GetName()]; ok {
			feeds[in.GetName()] = t
		}
	}
	vals, err := run.runValues(b.Inputs, b.N, append([]string{run.output}, run.hints...))
	if err != nil {
		return err
	}
	t := vals[0]
	if loss.HintWeight > 0 {
		for k, h := range loss.Hints {
			ht, scale, err := hintFeed(vals[1+k], h.Keep, loss.HintWeight)
			if err != nil {
				return fmt.Errorf("hint %q: %w", h.Value, err)
			}
			feeds[hintInput(k)], feeds[hintScale(k)] = ht, scale
		}
	}
	if t.DType() != tensor.Float32 {
		return fmt.Errorf("the teacher's output %s is %s, not float32", run.output, t.DType())
	}
	feeds[teacherInput] = t
	// Positions: the number of class vectors (N, or N·T for sequences).
	positions := float64(t.Len()) / float64(max(tg.Classes, 1))
	switch loss.Kind {
	case LossKL:
		alpha := loss.Alpha
		if !loss.Labels {
			alpha = 1
		}
		feeds[softScale] = scalar(float32(alpha * loss.Temperature * loss.Temperature / positions))
		if loss.Labels {
			if b.Labels == nil {
				return errors.New("a batch has no labels although the loss uses them")
			}
			oh, err := oneHot(b.Labels, t.Shape())
			if err != nil {
				return err
			}
			feeds[labelsInput] = oh
			feeds[hardScale] = scalar(float32(-(1 - alpha) / positions))
		}
	case LossMSE:
		feeds[softScale] = scalar(float32(1 / float64(t.Len())))
	}
	return nil
}

// hintFeed restricts the teacher's activation a [N, C, …] to the channels
// keep and returns it with the hint term's scale, weight / Σ a² over the
// kept channels (0 when they are all zero), which makes the term a
// relative squared error.
func hintFeed(a *tensor.Tensor, keep []int, weight float64) (*tensor.Tensor, *tensor.Tensor, error) {
	if a.DType() != tensor.Float32 || len(a.Shape()) < 2 {
		return nil, nil, fmt.Errorf("the teacher's activation is %s %v, not float32 with channels on axis 1", a.DType(), a.Shape())
	}
	kept, err := a.Take(1, keep)
	if err != nil {
		return nil, nil, err
	}
	var ss float64
	for _, x := range tensor.Values[float32](kept) {
		ss += float64(x) * float64(x)
	}
	scale := 0.0
	if ss > 0 {
		scale = weight / ss
	}
	return kept, scalar(float32(scale)), nil
}

func scalar(v float32) *tensor.Tensor { return tensor.MustNew([]int64{}, []float32{v}) }

func oneHot(labels []int64, shape []int64) (*tensor.Tensor, error) {
	if len(shape) != 2 || int(shape[0]) != len(labels) {
		return nil, fmt.Errorf("labels need a [N, classes] output, not %v", shape)
	}
	k := shape[1]
	v := make([]float32, len(labels)*int(k))
	for i, l := range labels {
		if l < 0 || l >= k {
			return nil, fmt.Errorf("label %d is outside 0..%d", l, k-1)
		}
		v[i*int(k)+int(l)] = 1
	}
	return tensor.MustNew(slices.Clone(shape), v), nil
}

// evalStudent compares a student with the teacher on opts.Eval.
func evalStudent(run *teacherRunner, m *onnxpb.ModelProto, output string, opts Options) (*Eval, error) {
	s, err := ort.NewSessionFromModel(m, opts.Session)
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load the student: %w", err)
	}
	defer s.Close()
	if err := opts.Eval.Reset(); err != nil {
		return nil, err
	}
	st := &eval.OutputStats{Name: output}
	samples := 0
	for {
		b, err := opts.Eval.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ref, err := run.run(b.Inputs, b.N)
		if err != nil {
			return nil, err
		}
		out, err := s.Run(b.Inputs)
		if err != nil {
			return nil, fmt.Errorf("student: %w", err)
		}
		rv, err := tensor.AsFloat64(ref)
		if err != nil {
			return nil, err
		}
		cv, err := tensor.AsFloat64(out[output])
		if err != nil {
			return nil, err
		}
		if len(rv) != len(cv) {
			return nil, fmt.Errorf("the student's output %s has %d values for %d samples, the teacher's %d", output, len(cv), b.N, len(rv))
		}
		classes := 0
		if sh := ref.Shape(); len(sh) == 2 {
			classes = int(sh[1])
		}
		labels := b.Labels
		if classes == 0 {
			labels = nil
		}
		if err := st.Add(rv, cv, b.N, classes, labels); err != nil {
			return nil, err
		}
		samples += b.N
	}
	if samples == 0 {
		return nil, errors.New("the evaluation data has no samples")
	}
	sm := st.Summary()
	e := &Eval{Samples: samples, Agreement: sm.Agreement, SQNR: sm.SQNR, NonFinite: st.NonFinite,
		Result: &eval.Result{Samples: samples, Outputs: []*eval.OutputStats{st}}}
	if sm.RefAccuracy != nil {
		e.TeacherAccuracy, e.Accuracy = sm.RefAccuracy, sm.CandAccuracy
	}
	return e, nil
}
