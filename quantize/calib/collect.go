package calib

import (
	"errors"
	"fmt"
	"io"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// CollectOptions configure Collect.
type CollectOptions struct {
	// Config is the method the statistics are for; percentile and entropy
	// collect histograms with Config.Bins bins.
	Config
	// Samples stops collection after that many samples; 0 reads the
	// source to its end.
	Samples int
	// Session configures the ONNX Runtime session (providers, threads).
	// Collect sets its ExtraOutputs to the tensors to calibrate and its
	// OptLevel to ort.OptDisable, so that every tensor exists and holds
	// the value the unoptimized graph defines.
	Session ort.Options
	// Progress receives one unit per sample; nil means progress.Nop.
	Progress progress.Reporter
}

// Collect runs m on the batches of src, from its current position, and
// returns the statistics of the named tensors (graph inputs or values
// computed in the main graph). It creates one session and keeps one batch
// of activations in memory at a time. A batch that would pass
// opts.Samples is cut to the rows needed, unless the model's batch size
// is fixed, when collection stops before it. src is neither reset nor
// closed.
//
// It returns an error when the options are invalid, when no tensor or a
// tensor twice is named, naming a tensor that is not in the main graph or
// is not of a float type, when the session cannot start or a batch cannot
// be read or run (with the position of the batch), and when no sample was
// seen.
func Collect(m *onnxpb.ModelProto, tensors []string, src dataset.Source, opts CollectOptions) (*Stats, error) {
	cfg, err := opts.Config.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	switch {
	case opts.Samples < 0:
		return nil, fmt.Errorf("calibrate: sample limit %d is negative", opts.Samples)
	case m.GetGraph() == nil:
		return nil, errors.New("calibrate: the model has no graph")
	case src == nil:
		return nil, errors.New("calibrate: no calibration data")
	case len(tensors) == 0:
		return nil, errors.New("calibrate: no tensors to calibrate")
	}
	g := m.GetGraph()
	types := declaredTypes(g)
	isInput := map[string]bool{}
	for _, s := range dataset.SpecsFromGraph(g) {
		isInput[s.Name] = true
	}
	var extras []string
	seen := map[string]bool{}
	for _, name := range tensors {
		if seen[name] {
			return nil, fmt.Errorf("calibrate: tensor %q is listed twice", name)
		}
		seen[name] = true
		if dt, ok := types[name]; ok && dt != tensor.Undefined && !dt.IsFloat() {
			return nil, notFloat(name, dt)
		}
		if !isInput[name] {
			extras = append(extras, name)
		}
	}
	if !cfg.Method.needsHistogram() {
		cfg.Bins = 0
	}
	st := &Stats{
		Version:     FormatVersion,
		Fingerprint: Fingerprint(m),
		Config:      cfg,
		Tensors:     make(map[string]*TensorStats, len(tensors)),
	}
	for _, name := range tensors {
		st.Tensors[name] = newTensorStats(cfg.Bins)
	}

	so := opts.Session
	so.ExtraOutputs = extras
	so.OptLevel = ort.OptDisable
	sess, err := ort.NewSessionFromModel(m, so)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	defer sess.Close()
	fixed := 0 // the model's fixed batch size, if any
	for _, in := range sess.Inputs() {
		if len(in.Shape) > 0 && in.Shape[0] > 0 {
			fixed = int(in.Shape[0])
		}
	}

	rep := opts.Progress
	if rep == nil {
		rep = progress.Nop
	}
	total := int64(src.Len())
	if opts.Samples > 0 && (total < 0 || int64(opts.Samples) < total) {
		total = int64(opts.Samples)
	}
	rep.Start("calibrating", total, progress.Samples)
	defer rep.Done()

	limit := int64(opts.Samples)
	for limit == 0 || st.Samples < limit {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		inputs, n := b.Inputs, b.N
		if limit > 0 && st.Samples+int64(n) > limit {
			if fixed > 0 {
				break
			}
			n = int(limit - st.Samples)
			if inputs, err = firstRows(inputs, n); err != nil {
				return nil, fmt.Errorf("calibrate: batch at sample %d: %w", b.Index, err)
			}
		}
		var outs map[string]*tensor.Tensor
		if len(extras) > 0 {
			if outs, err = sess.Run(inputs); err != nil {
				return nil, fmt.Errorf("calibrate: batch at sample %d: %w", b.Index, err)
			}
		}
		for _, name := range tensors {
			t := outs[name]
			if isInput[name] {
				t = inputs[name]
			}
			if t == nil {
				return nil, fmt.Errorf("calibrate: ONNX Runtime returned no tensor %q", name)
			}
			if err := observeTensor(st.Tensors[name], name, t); err != nil {
				return nil, fmt.Errorf("calibrate: %w", err)
			}
		}
		st.Samples += int64(n)
		rep.Add(int64(n))
	}
	if st.Samples == 0 {
		if limit > 0 && fixed > 0 {
			return nil, fmt.Errorf("calibrate: the sample limit %d is below the model's fixed batch size %d", limit, fixed)
		}
		return nil, errors.New("calibrate: the calibration data has no samples")
	}
	return st, nil
}

func notFloat(name string, dt tensor.DType) error {
	return fmt.Errorf("calibrate: tensor %q is %s; only float tensors can be calibrated", name, dt)
}

// observeTensor folds t into ts without copying float32 and float64 data.
func observeTensor(ts *TensorStats, name string, t *tensor.Tensor) error {
	switch dt := t.DType(); {
	case dt == tensor.Float32:
		observe(ts, tensor.Values[float32](t))
	case dt == tensor.Float64:
		observe(ts, tensor.Values[float64](t))
	case dt.IsFloat():
		vals, err := tensor.AsFloat64(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
		observe(ts, vals)
	default:
		return notFloat(name, dt)
	}
	return nil
}

// firstRows keeps the first n samples of each input.
func firstRows(inputs map[string]*tensor.Tensor, n int) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(inputs))
	for name, t := range inputs {
		r, err := t.Rows(0, n)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}

// declaredTypes returns the element types the main graph declares.
func declaredTypes(g *onnxpb.GraphProto) map[string]tensor.DType {
	types := map[string]tensor.DType{}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			if tt := v.GetType().GetTensorType(); tt != nil {
				types[v.GetName()] = tensor.DType(tt.GetElemType())
			}
		}
	}
	for _, t := range g.GetInitializer() {
		types[t.GetName()] = tensor.DType(t.GetDataType())
	}
	return types
}
