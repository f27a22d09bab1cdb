package quantize

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
)

// job is the state Quantize's stages share.
type job struct {
	m    *onnxpb.ModelProto // the caller's model
	opts Options
	res  *Result
	// float is the pre-processed float model (static: its int8 form, see
	// staticForm) that every candidate is built from; plain is the
	// pre-processed model before that rewrite; pr what pre-processing
	// recorded.
	float, plain *onnxpb.ModelProto
	pr           *prep.Result
	// plan is the static plan of the last build; ranges the calibrated
	// ranges (static).
	plan   *Plan
	ranges map[string][2]float64
	// why says why the searches keep a node float (absent: the accuracy
	// search).
	why map[string]string
	ref *validate.Reference
	// q is the model kept so far and ev its evaluation; gated whether a
	// quality gate is set; accExcl the nodes the accuracy search keeps
	// float.
	q       *onnxpb.ModelProto
	ev      *eval.Result
	gated   bool
	accExcl []string
}

// newJob is the prepare stage: it fills opts' defaults and pre-processes
// a copy of m.
func newJob(m *onnxpb.ModelProto, opts Options) (*job, error) {
	if opts.Progress == nil {
		opts.Progress = progress.Nop
	}
	if opts.Plan.ActivationType == tensor.Undefined {
		opts.Plan.ActivationType = DefaultActivationType(opts.Session)
	}
	float, pr, err := prepare(m, opts)
	if err != nil {
		return nil, err
	}
	opts.Plan.Observed = pr.ObservedShapes
	res := &Result{Float: float, PrepNotes: pr.Notes}
	res.Provider = validate.ProviderOf(opts.Session)
	if n := subgraphNodes(float.GetGraph()); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d nodes inside If/Loop/Scan subgraphs stay float (only the main graph is quantized)", n))
	}
	return &job{m: m, opts: opts, res: res, float: float, plain: float, pr: pr, why: map[string]string{}}, nil
}

// calibrateStatic is the static plan and calibration stage: it rewrites
// the float model to its int8 form, checks that a node with float weights
// can be quantized, and measures the ranges the plan needs in one pass
// over the calibration data.
func (j *job) calibrateStatic() error {
	f, p, notes, err := staticForm(j.float, j.opts.Plan)
	if err != nil {
		return err
	}
	j.float, j.res.Float = f, f
	j.res.PrepNotes = append(j.res.PrepNotes, notes...)
	if p.QuantizedNodes() == 0 || !hasWeights(p) {
		return fmt.Errorf("%w: no node with float weights can be quantized (%s)", ErrNothingToQuantize, firstReasons(p.Nodes))
	}
	tensors := p.Calibrate()
	if !j.opts.NoLatencySearch && j.opts.Calibration != nil {
		// The latency search builds placements with classes of nodes
		// float, which need ranges the first plan did not (a Conv's
		// output before the Relu it folded): measure them all in this
		// one pass rather than a pass per candidate.
		tensors = searchTensors(j.float, tensors)
	}
	if j.res.Stats, err = calibrate(j.float, tensors, j.opts); err != nil {
		return err
	}
	cr, err := j.res.Stats.Ranges(j.opts.Calib)
	if err != nil {
		return err
	}
	j.ranges = map[string][2]float64{}
	for k, v := range cr {
		j.ranges[k] = [2]float64{float64(v.Min), float64(v.Max)}
	}
	return nil
}

// build returns a copy of the float model quantized (or converted) with
// exclude kept float, and records its decisions in the result. What the
// shape runs recorded fixes sizes the source leaves dynamic: the artifact
// keeps only what its source declared.
func (j *job) build(exclude []string) (*onnxpb.ModelProto, error) {
	q := proto.Clone(j.float).(*onnxpb.ModelProto)
	if err := j.apply(q, exclude); err != nil {
		return nil, err
	}
	prep.DropRecordedShapes(q.GetGraph(), j.pr.RecordedShapes)
	return q, nil
}

// apply quantizes or converts q in place in the job's mode, keeping
// exclude float, and records the per-node decisions (static: the plan).
func (j *job) apply(q *onnxpb.ModelProto, exclude []string) error {
	switch j.opts.Mode {
	case FP16, BF16, Int4:
		ds, st, notes, err := applyPrecision(j.float, q, j.opts, exclude)
		if err != nil {
			return err
		}
		j.res.Nodes, j.res.Apply, j.res.halfNotes = ds, st, notes
		return nil
	case Dynamic:
		po := j.opts.Plan
		po.KeepFloat = keepFloat(exclude, j.why)
		dec, st, err := ApplyDynamic(q, po)
		if err != nil {
			return err
		}
		j.res.Nodes, j.res.Apply = dec, st
		return nil
	}
	return j.applyStatic(q, exclude)
}

// applyStatic plans q with exclude kept float, calibrates the ranges that
// plan needs and the first pass did not measure, and inserts the QDQ
// pairs.
func (j *job) applyStatic(q *onnxpb.ModelProto, exclude []string) error {
	po := j.opts.Plan
	po.KeepFloat = keepFloat(exclude, j.why)
	p, err := BuildPlan(q, po)
	if err != nil {
		return err
	}
	if err := calibrateMore(j.float, p.Calibrate(), j.res.Stats, j.ranges, j.opts); err != nil {
		return err
	}
	st, err := Apply(q, p, j.ranges)
	if err != nil {
		return err
	}
	j.plan = p
	j.res.Nodes, j.res.Apply = p.Nodes, st
	return nil
}

// applyFirst builds the model with nothing kept float and checks that it
// changed a weight and is a valid ONNX model.
func (j *job) applyFirst() error {
	q, err := j.build(nil)
	if err != nil {
		return err
	}
	if j.res.Apply.Weights == 0 {
		return nothingApplied(j.opts, j.res.Nodes)
	}
	if err := graph.Validate(q); err != nil {
		return fmt.Errorf("internal error: the quantized model is invalid: %w", err)
	}
	j.q = q
	return nil
}

// nothingApplied is the error for a build that changed no weight, saying
// what the mode looked for.
func nothingApplied(opts Options, ds []NodeDecision) error {
	what := "no MatMul or Gemm with constant float weights"
	switch opts.Mode {
	case FP16, BF16:
		what = "no float32 weights to convert"
		if opts.Mode == BF16 && onCPU(opts.Session) {
			what = "ONNX Runtime's CPU provider has no bf16 kernels for this model's arithmetic, so every weight stays float32 (use --ep cuda for bf16, or fp16)"
		}
	case Int4:
		what = "no MatMul or Gemm with a constant float weight large enough for 4-bit blocks"
	}
	return fmt.Errorf("%w: %s (%s)", ErrNothingToQuantize, what, firstReasons(ds))
}

// setReference makes ref the model candidates are compared with, noting
// when it is the pre-processed form of the input.
func (j *job) setReference(ref *validate.Reference) {
	j.ref = ref
	j.res.Provider = ref.Provider() // the one that started, not the first asked for
	j.res.Notes = append(j.res.Notes, ref.ProviderNotes()...)
	if ref.Upgraded {
		j.res.Upgraded = true
		j.res.Notes = append(j.res.Notes, ref.Note)
	}
}

// evaluate compares q with the reference on the evaluation data.
func (j *job) evaluate(q *onnxpb.ModelProto) (*eval.Result, error) {
	return j.ref.Compare(q, j.opts.Session, j.opts.Eval, "the quantized model")
}

// gate is the gates' metric on ev, whether they all hold, and their
// verdicts in words.
func (j *job) gate(ev *eval.Result) (float64, bool, string) {
	vs := j.opts.Gate.Check(ev)
	return j.opts.Gate.Score(ev), validate.Met(vs), validate.Summary(vs)
}

// validateFirst is the validation stage of the first build: its
// evaluation, layer-wise errors and gate verdicts. It returns that build
// as the accuracy search's starting point.
func (j *job) validateFirst() (trial, error) {
	ev, err := j.evaluate(j.q)
	if err != nil {
		return trial{}, err
	}
	j.ev = ev
	if err := j.layerErrors(); err != nil {
		return trial{}, err
	}
	j.res.Notes = append(j.res.Notes, j.res.halfNotes...)
	j.gated = j.opts.Gate.Quality()
	if err := j.opts.Gate.Measurable(ev); err != nil {
		return trial{}, err
	}
	metric, ok, summary := j.gate(ev)
	j.res.GateMet, j.res.GateSummary = ok, summary
	return trial{q: j.q, ev: ev, metric: metric, ok: ok, sum: summary}, nil
}

// layerErrors measures the layer-wise error table of the model kept:
// static at the quantized tensors, fp16/bf16/int4 at the converted nodes'
// outputs; dynamic has none.
func (j *job) layerErrors() error {
	var tensors []string
	switch j.opts.Mode {
	case Static:
		tensors = j.plan.quantizedTensors(j.float)
	case FP16, BF16, Int4:
		tensors = convertedOutputs(j.float, j.res.Nodes)
	default:
		return nil
	}
	layers, err := LayerErrors(j.float, j.q, tensors, j.opts.Eval, j.opts.Session, layerSamples)
	if err != nil {
		return err
	}
	j.res.Layers = layers
	return nil
}

// measureSpeed times the model kept against the reference.
func (j *job) measureSpeed() error {
	sp, err := j.ref.Speed(j.q, j.opts.Session, j.opts.Eval, j.opts.LatencyRuns)
	if err != nil {
		return err
	}
	j.res.Speed = sp
	return nil
}

// finish is the last stage: it records the model kept with its
// validation and gate verdicts, checks it at the second input shape,
// reads the kernels ONNX Runtime runs for an int8 model, and adds the
// notes on quality and speed.
func (j *job) finish() (*Result, error) {
	res := j.res
	res.Model, res.Validation = j.q, j.ev
	res.SetGates(j.opts.Gate)
	if note := qualityNote(j.ev, j.gated); note != "" {
		res.Notes = append(res.Notes, note)
	}
	var err error
	if res.SecondShape, err = j.ref.SecondShape(j.q, j.opts.Session, j.opts.Shapes, j.opts.Probe, "the quantized model"); err != nil {
		return nil, err
	}
	if j.isInt8() && res.Fallback == nil {
		if err := j.readKernels(); err != nil {
			return nil, err
		}
	}
	if note := speedNote(res.Speed, j.opts.Mode, res.Provider); note != "" && res.Fallback == nil {
		res.Notes = append(res.Notes, note)
	}
	return res, nil
}

// isInt8 reports whether the job quantizes to int8 (static or dynamic).
func (j *job) isInt8() bool {
	return j.opts.Mode == Static || j.opts.Mode == Dynamic
}

// readKernels records what ONNX Runtime runs for the int8 model kept and
// notes the quantized nodes it runs in float.
func (j *job) readKernels() error {
	quantized := map[string]bool{}
	for _, d := range j.res.Nodes {
		quantized[d.Name] = d.Quantized && d.Name != ""
	}
	k, err := ORTKernels(j.q, j.opts.Session, quantized)
	if err != nil {
		return fmt.Errorf("read ONNX Runtime's optimized graph: %w", err)
	}
	j.res.Kernels = k
	if n := len(k.Unfused); n > 0 {
		j.res.Notes = append(j.res.Notes, fmt.Sprintf("ONNX Runtime runs %d %s in float on dequantized inputs (no int8 kernel for that placement): %s",
			n, plural(n, "node", "nodes"), strings.Join(k.Unfused[:min(n, 5)], ", ")))
	}
	return nil
}
