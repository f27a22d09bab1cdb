package quantize

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/validate"
	"github.com/infer-ml/infer/quantize/calib"
	"github.com/infer-ml/infer/quantize/half"
	"github.com/infer-ml/infer/quantize/int4"
)

// Mode is static (calibrated QDQ) or dynamic (run-time activation ranges).
type Mode string

// Modes. FP16, BF16 and Int4 are the --precision conversions; they share
// pre-processing, validation and the accuracy-aware search with int8.
const (
	Static  Mode = "static"
	Dynamic Mode = "dynamic"
	FP16    Mode = "fp16"
	BF16    Mode = "bf16"
	Int4    Mode = "int4"
)

// Options configure Quantize. Data sources are opened by the caller.
type Options struct {
	Mode Mode
	Plan PlanOptions
	// Calib is the calibration method; CalibrationSamples bounds the
	// samples read from Calibration.
	Calib              calib.Config
	CalibrationSamples int
	// Calibration is the calibration data (static; may be nil when
	// CalibrationStats is given).
	Calibration dataset.Source
	// CalibrationStats are statistics loaded from files, merged with what
	// Calibration yields.
	CalibrationStats *calib.Stats
	// Eval is the evaluation data, disjoint from the calibration data.
	Eval dataset.Source
	// Gate holds the output gates (its MinSpeedup is the caller's to
	// check). With one set, the most damaging nodes are kept float until
	// it holds.
	Gate validate.Gate
	// Session configures every ONNX Runtime session (providers, threads).
	Session ort.Options
	// LatencyRuns is the number of timed runs per model for the latency
	// comparison (0: 50).
	LatencyRuns int
	// NoLatencySearch skips the latency-aware search: the placement is
	// written even when it is slower than float.
	NoLatencySearch bool
	// Shapes are realistic input shapes the model runs at (probe.Find; nil
	// when none was found): pre-processing records intermediate shapes at
	// them, and the result is compared with the original at the second.
	// Probe gives the constant input values and seed those runs use.
	Shapes *probe.Shapes
	Probe  probe.Options
	// Half configures FP16/BF16 (its Type is set from Mode); Int4 the
	// weight-only 4-bit mode.
	Half     half.Options
	Int4     int4.Options
	Progress progress.Reporter
}

// layerSamples bounds the evaluation samples the layer-wise error table
// uses: it ranks layers, it does not need the whole set.
const layerSamples = 256

// KeptFloat is a node the accuracy-aware search kept in float.
type KeptFloat struct {
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	SQNR   Finite `json:"layer_sqnr_db"`
	// Metric is the gate metric (accuracy drop in points, or output SQNR in
	// dB) after this node was kept float.
	Metric Finite `json:"metric_after"`
}

// Result is what Quantize produced and measured.
type Result struct {
	Model     *onnxpb.ModelProto `json:"-"`
	Float     *onnxpb.ModelProto `json:"-"` // the pre-processed float model
	Stats     *calib.Stats       `json:"-"`
	PrepNotes []string           `json:"preprocessing"`
	Nodes     []NodeDecision     `json:"nodes"`
	Apply     *ApplyStats        `json:"applied"`
	Layers    []LayerError       `json:"layers"`
	KeptFloat []KeptFloat        `json:"kept_float"`
	// Outcome is the validation of the model returned (opts.Gate's
	// verdicts; its Upgraded when the input does not run in ONNX Runtime
	// as it is and the pre-processed form was the reference).
	validate.Outcome `json:"-"`
	// Regions are the latency-aware search's decisions (nil when it did
	// not run); Fallback is set when no int8 placement beat float and the
	// float model was written; Kernels is what ONNX Runtime runs for the
	// written int8 model.
	Regions   []Region  `json:"regions,omitempty"`
	Kernels   *Kernels  `json:"ort_kernels,omitempty"`
	Fallback  *Fallback `json:"fallback,omitempty"`
	Notes     []string  `json:"notes"`
	halfNotes []string
}

// ErrNothingToQuantize is returned when the model has no float weights in
// nodes that can be quantized.
var ErrNothingToQuantize = errors.New("nothing to quantize")

// ErrNoCalibration is returned for static quantization with neither
// calibration data nor calibration statistics.
var ErrNoCalibration = errors.New("static quantization needs calibration data or calibration statistics")

// IsQuantized reports whether a model already holds quantization nodes.
func IsQuantized(m *onnxpb.ModelProto) string {
	for _, n := range m.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger",
			"ConvInteger", "DynamicQuantizeLinear", "MatMulNBits", "QGemm", "DynamicQuantizeMatMul":
			return n.GetOpType()
		}
	}
	return ""
}

// Prepare pre-processes a copy of m for quantization in the given mode.
// The copy shares m's initializer tensors (pre-processing and quantization
// replace initializers, they never modify one in place), so a large model
// is not held twice. Dynamic quantization needs no shape completion: a
// MatMul or Gemm input has the type of its constant weight.
func Prepare(m *onnxpb.ModelProto, mode Mode) (*onnxpb.ModelProto, []string, error) {
	f, r, err := prepare(m, Options{Mode: mode})
	if err != nil {
		return nil, nil, err
	}
	return f, r.Notes, nil
}

// PrepareAt is Prepare with the shape runs at opts.Shapes (found by
// probing when nil); it also returns what pre-processing recorded, whose
// ObservedShapes go to PlanOptions.Observed.
func PrepareAt(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *prep.Result, error) {
	return prepare(m, opts)
}

// prepare is Prepare with the shape runs at opts.Shapes.
func prepare(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *prep.Result, error) {
	if op := IsQuantized(m); op != "" {
		return nil, nil, fmt.Errorf("the model is already quantized (it has %s nodes)", op)
	}
	if t := halfType(m); t != "" {
		return nil, nil, fmt.Errorf("the model is already %s (it holds %s weights or inputs); convert from the float32 original", t, t)
	}
	f := graph.CloneSharingInitializers(m)
	o := prep.DefaultOptions()
	o.Shapes, o.Probe = opts.Shapes, opts.Probe
	switch opts.Mode {
	case Dynamic:
		o.InferShapes = false
	case Int4, FP16, BF16:
		// MatMulNBits replaces MatMul only; a Gemm gains nothing in half.
		o.FuseMatMulAdd = false
	}
	r, err := prep.Run(f, o)
	if err != nil {
		return nil, nil, err
	}
	return f, r, nil
}

// Quantize quantizes a copy of m and validates it. When a gate is set and
// cannot be met, it returns the best model found with GateMet false (not an
// error). Its stages, on a job: prepare, plan and calibrate (static),
// apply, validate, the accuracy-aware search (when a quality gate fails),
// latency, the latency-aware search (int8) and finish.
func Quantize(m *onnxpb.ModelProto, opts Options) (*Result, error) {
	j, err := newJob(m, opts)
	if err != nil {
		return nil, err
	}
	if j.opts.Mode == Static {
		if err := j.calibrateStatic(); err != nil {
			return nil, err
		}
	}
	if err := j.applyFirst(); err != nil {
		return nil, err
	}
	ref, err := validate.OpenReference(m, j.opts.Session, func() (*onnxpb.ModelProto, error) { return j.float, nil })
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	j.setReference(ref)
	first, err := j.validateFirst()
	if err != nil {
		return nil, err
	}
	if j.gated && !first.ok && j.opts.Mode != Dynamic {
		if err := j.searchAccuracy(first); err != nil {
			return nil, err
		}
	}
	if err := j.measureSpeed(); err != nil {
		return nil, err
	}
	if j.isInt8() && !j.opts.NoLatencySearch {
		if err := j.searchPlacement(); err != nil {
			return nil, err
		}
	}
	return j.finish()
}

// farSQNR is the output SQNR below which, without a gate, a result is
// called out: at 10 dB the error is a third of the signal.
const farSQNR = 10

// qualityNote warns when, with no gate set, an output came out far from
// the original: a CI script that sets no gate would otherwise ship it.
func qualityNote(ev *eval.Result, gated bool) string {
	if gated {
		return ""
	}
	worst, name := math.Inf(1), ""
	for _, o := range ev.Outputs {
		if q := o.SQNR(); q < worst {
			worst, name = q, o.Name
		}
	}
	if worst >= farSQNR {
		return ""
	}
	return fmt.Sprintf("output %q is far from the original (SQNR %.1f dB): set a gate (--min-sqnr 20, or --max-accuracy-drop with labels) to keep the damaging nodes float, and see --debug-layers", name, worst)
}

// speedNote explains a result that is not faster than float: ONNX
// Runtime runs an int8 node fast only where it has a fused int8 kernel for
// the placement, and a small model is dominated by the Q/DQ around it.
func speedNote(sp *eval.Speed, mode Mode, provider string) string {
	what := "int8"
	switch mode {
	case FP16, BF16, Int4:
		what = string(mode)
	}
	switch {
	case sp.Slower():
		advice := "keep the slow parts float with --exclude-op-types or --exclude-nodes (the layer table, --debug-layers, names them), or try --mode dynamic for MatMul-heavy models"
		switch mode {
		case FP16, BF16:
			advice = fmt.Sprintf("ONNX Runtime's %s provider runs few operators in half precision and adds a Cast around the others; %s pays on GPUs (--ep cuda), on CPU it saves file size only", provider, what)
		case Int4:
			advice = "MatMulNBits pays on large MatMuls (language models); on small ones the unpacking costs more than it saves"
		}
		return fmt.Sprintf("the %s model is slower than the original: %s in every round on %s; %s", what, sp, provider, advice)
	case !sp.Faster():
		return fmt.Sprintf("the %s model runs at the original's speed within noise: %s on %s", what, sp, provider)
	}
	return ""
}

// hasWeights reports whether the plan quantizes a weight.
func hasWeights(p *Plan) bool {
	for _, m := range p.marks {
		if m.kind == markWeight {
			return true
		}
	}
	return false
}

// firstReasons lists up to three distinct reasons why nodes were not
// quantized, for the nothing-to-quantize error.
func firstReasons(ds []NodeDecision) string {
	seen := map[string]bool{}
	var out []string
	for _, d := range ds {
		if !d.Quantized && !seen[d.Reason] {
			seen[d.Reason] = true
			out = append(out, d.OpType+": "+d.Reason)
		}
		if len(out) == 3 {
			break
		}
	}
	if len(out) == 0 {
		return "the graph has no quantizable node"
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

// calibrate measures tensors on the calibration data and merges them
// with the statistics loaded from files (checked against float).
func calibrate(float *onnxpb.ModelProto, tensors []string, opts Options) (*calib.Stats, error) {
	stats := opts.CalibrationStats
	if stats != nil {
		if err := stats.CheckModel(float); err != nil {
			return nil, err
		}
	}
	if opts.Calibration != nil {
		s, err := calib.Collect(float, tensors, opts.Calibration, calib.CollectOptions{
			Config: opts.Calib, Samples: opts.CalibrationSamples, Session: opts.Session, Progress: opts.Progress,
		})
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		if stats == nil {
			stats = s
		} else if err := stats.Merge(s); err != nil {
			return nil, err
		}
	}
	if stats == nil {
		return nil, ErrNoCalibration
	}
	return stats, nil
}

// subgraphNodes counts nodes inside subgraph attributes, at any depth.
func subgraphNodes(g *onnxpb.GraphProto) int {
	n := 0
	for _, node := range g.GetNode() {
		for _, a := range node.GetAttribute() {
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sg != nil {
					n += len(sg.GetNode()) + subgraphNodes(sg)
				}
			}
		}
	}
	return n
}
