package quantize

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
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
// error).
func Quantize(m *onnxpb.ModelProto, opts Options) (*Result, error) {
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
	// Static quantization works on the int8 form of the pre-processed
	// model; plain is the model before that rewrite.
	plain := float
	if n := subgraphNodes(float.GetGraph()); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d nodes inside If/Loop/Scan subgraphs stay float (only the main graph is quantized)", n))
	}
	var plan *Plan
	var ranges map[string][2]float64
	// why says why the searches keep a node float (absent: the accuracy
	// search).
	why := map[string]string{}
	var buildWith func(exclude []string) (*onnxpb.ModelProto, error)
	build := func(exclude []string) (*onnxpb.ModelProto, error) {
		q, err := buildWith(exclude)
		if err == nil {
			// What the shape runs recorded fixes sizes the source leaves
			// dynamic: the artifact keeps only what its source declared.
			prep.DropRecordedShapes(q.GetGraph(), pr.RecordedShapes)
		}
		return q, err
	}
	buildWith = func(exclude []string) (*onnxpb.ModelProto, error) {
		q := proto.Clone(float).(*onnxpb.ModelProto)
		switch opts.Mode {
		case FP16, BF16, Int4:
			ds, st, notes, err := applyPrecision(float, q, opts, exclude)
			if err != nil {
				return nil, err
			}
			res.Nodes, res.Apply, res.halfNotes = ds, st, notes
			return q, nil
		}
		if opts.Mode == Dynamic {
			po := opts.Plan
			po.KeepFloat = keepFloat(exclude, why)
			dec, st, err := ApplyDynamic(q, po)
			if err != nil {
				return nil, err
			}
			res.Nodes, res.Apply = dec, st
			return q, nil
		}
		po := opts.Plan
		po.KeepFloat = keepFloat(exclude, why)
		p, err := BuildPlan(q, po)
		if err != nil {
			return nil, err
		}
		if err := calibrateMore(float, p.Calibrate(), res.Stats, ranges, opts); err != nil {
			return nil, err
		}
		st, err := Apply(q, p, ranges)
		if err != nil {
			return nil, err
		}
		plan = p
		res.Nodes, res.Apply = p.Nodes, st
		return q, nil
	}
	if opts.Mode == Static {
		f, p, notes, err := staticForm(float, opts.Plan)
		if err != nil {
			return nil, err
		}
		float, res.Float = f, f
		res.PrepNotes = append(res.PrepNotes, notes...)
		if p.QuantizedNodes() == 0 || !hasWeights(p) {
			return nil, fmt.Errorf("%w: no node with float weights can be quantized (%s)", ErrNothingToQuantize, firstReasons(p.Nodes))
		}
		tensors := p.Calibrate()
		if !opts.NoLatencySearch && opts.Calibration != nil {
			// The latency search builds placements with classes of nodes
			// float, which need ranges the first plan did not (a Conv's
			// output before the Relu it folded): measure them all in this
			// one pass rather than a pass per candidate.
			tensors = searchTensors(float, tensors)
		}
		if res.Stats, err = calibrate(float, tensors, opts); err != nil {
			return nil, err
		}
		cr, err := res.Stats.Ranges(opts.Calib)
		if err != nil {
			return nil, err
		}
		ranges = map[string][2]float64{}
		for k, v := range cr {
			ranges[k] = [2]float64{float64(v.Min), float64(v.Max)}
		}
	}
	q, err := build(nil)
	if err != nil {
		return nil, err
	}
	if res.Apply.Weights == 0 {
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
		return nil, fmt.Errorf("%w: %s (%s)", ErrNothingToQuantize, what, firstReasons(res.Nodes))
	}
	if err := graph.Validate(q); err != nil {
		return nil, fmt.Errorf("internal error: the quantized model is invalid: %w", err)
	}
	ref, err := validate.OpenReference(m, opts.Session, func() (*onnxpb.ModelProto, error) { return float, nil })
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	if ref.Upgraded {
		res.Upgraded = true
		res.Notes = append(res.Notes, ref.Note)
	}
	evaluate := func(q *onnxpb.ModelProto) (*eval.Result, error) {
		return ref.Compare(q, opts.Session, opts.Eval, "the quantized model")
	}
	gate := func(ev *eval.Result) (float64, bool, string) {
		vs := opts.Gate.Check(ev)
		return opts.Gate.Score(ev), validate.Met(vs), validate.Summary(vs)
	}
	ev, err := evaluate(q)
	if err != nil {
		return nil, err
	}
	switch opts.Mode {
	case Static:
		if res.Layers, err = LayerErrors(float, q, plan.quantizedTensors(float), opts.Eval, opts.Session, layerSamples); err != nil {
			return nil, err
		}
	case FP16, BF16, Int4:
		if res.Layers, err = LayerErrors(float, q, convertedOutputs(float, res.Nodes), opts.Eval, opts.Session, layerSamples); err != nil {
			return nil, err
		}
	}
	res.Notes = append(res.Notes, res.halfNotes...)
	gated := opts.Gate.Quality()
	if err := opts.Gate.Measurable(ev); err != nil {
		return nil, err
	}
	metric, ok, summary := gate(ev)
	res.GateMet, res.GateSummary = ok, summary
	var accExcl []string // the nodes the accuracy search keeps float
	if gated && !ok && opts.Mode != Dynamic {
		// Keep the most damaging nodes float, worst layer first: one at a
		// time for the first few (the usual case), then by bisection over
		// how many of the ranked nodes stay float.
		var order []LayerError
		for _, le := range res.Layers {
			if le.Node != "" && quantizedNode(res.Nodes, le.Node) && !containsLayer(order, le.Node) {
				order = append(order, le)
			}
		}
		// Quantized nodes whose output the table cannot show (a MatMul
		// read only by a rescaled Mul writes no float value of its own)
		// come last, so that the search can reach an all-float model.
		for _, d := range res.Nodes {
			if d.Quantized && d.Name != "" && !containsLayer(order, d.Name) {
				order = append(order, LayerError{Node: d.Name, OpType: d.OpType, SQNR: Finite(math.NaN())})
			}
		}
		names := func(k int) []string {
			out := make([]string, k)
			for i := range out {
				out[i] = order[i].Node
			}
			return out
		}
		type trial struct {
			q      *onnxpb.ModelProto
			ev     *eval.Result
			metric float64
			ok     bool
			sum    string
		}
		try := func(k int) (trial, error) {
			cand, err := build(names(k))
			if err != nil {
				return trial{}, err
			}
			cev, err := evaluate(cand)
			if err != nil {
				return trial{}, err
			}
			m, ok, sum := gate(cev)
			return trial{cand, cev, m, ok, sum}, nil
		}
		best, bestK := trial{q, ev, metric, false, summary}, 0
		found := -1
		const linear = 4
		for k := 1; k <= min(linear, len(order)); k++ {
			tr, err := try(k)
			if err != nil {
				return nil, err
			}
			res.KeptFloat = append(res.KeptFloat, KeptFloat{Node: order[k-1].Node, OpType: order[k-1].OpType, SQNR: order[k-1].SQNR, Metric: Finite(tr.metric)})
			if opts.Gate.Better(tr.metric, best.metric) || tr.ok {
				best, bestK = tr, k
			}
			if tr.ok {
				found = k
				break
			}
		}
		if found < 0 && len(order) > linear {
			lo, hi := linear+1, len(order)
			for lo < hi {
				mid := (lo + hi) / 2
				tr, err := try(mid)
				if err != nil {
					return nil, err
				}
				res.Notes = append(res.Notes, fmt.Sprintf("bisection: %d nodes float → %s", mid, tr.sum))
				if tr.ok {
					hi = mid
				} else {
					lo = mid + 1
				}
			}
			tr, err := try(lo)
			if err != nil {
				return nil, err
			}
			if tr.ok || opts.Gate.Better(tr.metric, best.metric) {
				best, bestK = tr, lo
				if tr.ok {
					found = lo
				}
			}
			for k := linear + 1; k <= bestK; k++ {
				kf := KeptFloat{Node: order[k-1].Node, OpType: order[k-1].OpType, SQNR: order[k-1].SQNR, Metric: Finite(math.NaN())}
				if k == bestK {
					kf.Metric = Finite(tr.metric)
				}
				res.KeptFloat = append(res.KeptFloat, kf)
			}
		}
		res.KeptFloat = res.KeptFloat[:min(len(res.KeptFloat), bestK)]
		q, ev = best.q, best.ev
		accExcl = names(bestK)
		res.GateMet, res.GateSummary = found >= 0, best.sum
		// Report the decisions of the model that was kept.
		if _, err := build(names(bestK)); err != nil {
			return nil, err
		}
	}
	if res.Speed, err = ref.Speed(q, opts.Session, opts.Eval, opts.LatencyRuns); err != nil {
		return nil, err
	}
	if (opts.Mode == Static || opts.Mode == Dynamic) && !opts.NoLatencySearch {
		// Latency-aware search: keep float the classes of nodes whose
		// int8 form does not pay here (even in a model that is faster
		// overall), then fall back to float when no placement beats it.
		inputs, err := eval.FirstBatch(opts.Eval)
		if err != nil {
			return nil, err
		}
		decided := append([]NodeDecision{}, res.Nodes...)
		keptApply, keptPlan := res.Apply, plan
		firstSpeed := res.Speed
		best, excl, rs, err := searchLatency(float, q, decided, accExcl, opts.Session, inputs, res.Provider, why, trialRuns(res.Speed), res.Speed.Faster(), build)
		if err != nil {
			return nil, err
		}
		res.Regions = rs
		if best == q {
			// The trials' builds overwrote the decisions of the model kept.
			res.Nodes, res.Apply, plan = decided, keptApply, keptPlan
		}
		if best != q {
			cand, err := build(excl)
			if err != nil {
				return nil, err
			}
			cev, err := evaluate(cand)
			if err != nil {
				return nil, err
			}
			if _, ok, sum := gate(cev); ok || !res.GateMet {
				q, ev = cand, cev
				res.GateSummary = sum
				if opts.Mode == Static && plan != nil {
					if res.Layers, err = LayerErrors(float, q, plan.quantizedTensors(float), opts.Eval, opts.Session, layerSamples); err != nil {
						return nil, err
					}
				}
				if res.Speed, err = ref.Speed(q, opts.Session, opts.Eval, opts.LatencyRuns); err != nil {
					return nil, err
				}
			} else {
				// Keeping nodes float broke the gate (rare): the model the
				// accuracy search chose stays, with its decisions.
				if _, err := build(accExcl); err != nil {
					return nil, err
				}
				res.Notes = append(res.Notes, "the latency search's faster placement failed the gate ("+sum+"); the placement the gate chose was kept")
				for i := range res.Regions {
					res.Regions[i].Decision, res.Regions[i].Why = "int8", "accuracy: kept int8 as the gate's placement"
				}
			}
		}
		noneLeft := true
		for _, d := range res.Nodes {
			noneLeft = noneLeft && !d.Quantized
		}
		if res.Speed.Slower() || noneLeft {
			// The fallback is the source itself (same speed by
			// construction), or its pre-processed form where the source
			// does not run in ONNX Runtime.
			fq := graph.CloneSharingInitializers(m)
			what := "the written model is the original float model"
			if ref.Upgraded {
				fq = graph.CloneSharingInitializers(plain)
				prep.DropRecordedShapes(fq.GetGraph(), pr.RecordedShapes)
				what = "the written model is the pre-processed float model (the original does not run in ONNX Runtime)"
			}
			fev, err := evaluate(fq)
			if err != nil {
				return nil, err
			}
			reason := fmt.Sprintf("no int8 placement was faster than float on %s (the fastest ran %s)", res.Provider, res.Speed)
			best := res.Speed
			if noneLeft {
				best = firstSpeed
				reason = fmt.Sprintf("every class of nodes ran faster in float on %s (all int8: %s)", res.Provider, firstSpeed)
			}
			if res.Speed, err = ref.Speed(fq, opts.Session, opts.Eval, opts.LatencyRuns); err != nil {
				return nil, err
			}
			res.Fallback = &Fallback{Best: best, Reason: reason + ": " + what}
			q, ev = fq, fev
			res.Layers, res.KeptFloat, res.Apply = nil, nil, &ApplyStats{}
			for i := range res.Nodes {
				if res.Nodes[i].Quantized {
					res.Nodes[i].Quantized, res.Nodes[i].Reason = false, "float fallback: int8 was slower than float"
				}
			}
			for i := range res.Regions {
				res.Regions[i].Decision, res.Regions[i].Why = "float", "fallback"
			}
			_, res.GateMet, res.GateSummary = gate(ev)
			res.Notes = append(res.Notes, res.Fallback.Reason)
		}
	}
	res.Model, res.Validation = q, ev
	res.SetGates(opts.Gate)
	if note := qualityNote(ev, gated); note != "" {
		res.Notes = append(res.Notes, note)
	}
	if res.SecondShape, err = ref.SecondShape(q, opts.Session, opts.Shapes, opts.Probe, "the quantized model"); err != nil {
		return nil, err
	}
	if (opts.Mode == Static || opts.Mode == Dynamic) && res.Fallback == nil {
		quantized := map[string]bool{}
		for _, d := range res.Nodes {
			quantized[d.Name] = d.Quantized && d.Name != ""
		}
		if res.Kernels, err = ORTKernels(q, opts.Session, quantized); err != nil {
			return nil, fmt.Errorf("read ONNX Runtime's optimized graph: %w", err)
		}
		if n := len(res.Kernels.Unfused); n > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("ONNX Runtime runs %d %s in float on dequantized inputs (no int8 kernel for that placement): %s",
				n, plural(n, "node", "nodes"), strings.Join(res.Kernels.Unfused[:min(n, 5)], ", ")))
		}
	}
	if note := speedNote(res.Speed, opts.Mode, res.Provider); note != "" && res.Fallback == nil {
		res.Notes = append(res.Notes, note)
	}
	return res, nil
}

// keepFloat maps the nodes the searches keep float to their reason.
func keepFloat(exclude []string, why map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range exclude {
		if r := why[n]; r != "" {
			out[n] = r
		} else {
			out[n] = "kept float by the accuracy search (its layer error was among the worst)"
		}
	}
	return out
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

func containsLayer(s []LayerError, node string) bool {
	for _, x := range s {
		if x.Node == node {
			return true
		}
	}
	return false
}

func quantizedNode(ds []NodeDecision, name string) bool {
	for _, d := range ds {
		if d.Name == name {
			return d.Quantized
		}
	}
	return false
}

func hasWeights(p *Plan) bool {
	for _, m := range p.marks {
		if m.kind == markWeight {
			return true
		}
	}
	return false
}

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

// convertedOutputs lists the float outputs of the converted nodes, for the
// layer-wise error table of the fp16/bf16/int4 modes (names are kept).
func convertedOutputs(float *onnxpb.ModelProto, ds []NodeDecision) []string {
	done := map[string]bool{}
	for _, d := range ds {
		if d.Quantized {
			done[d.Name] = true
		}
	}
	types := valueTypes(float.GetGraph())
	var out []string
	for _, n := range float.GetGraph().GetNode() {
		if !done[n.GetName()] || n.GetName() == "" {
			continue
		}
		for _, o := range n.GetOutput() {
			if types[o] == tensor.Float32 {
				out = append(out, o)
			}
		}
	}
	return out
}

// halfType reports "fp16" or "bf16" when the main graph stores weights or
// declares inputs/outputs in a half type.
func halfType(m *onnxpb.ModelProto) string {
	name := func(d tensor.DType) string {
		switch d {
		case tensor.Float16:
			return "fp16"
		case tensor.BFloat16Type:
			return "bf16"
		}
		return ""
	}
	g := m.GetGraph()
	for _, t := range g.GetInitializer() {
		if n := name(tensor.DType(t.GetDataType())); n != "" {
			return n
		}
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput()} {
		for _, v := range vs {
			if n := name(tensor.DType(v.GetType().GetTensorType().GetElemType())); n != "" {
				return n
			}
		}
	}
	return ""
}

// applyPrecision converts q (a copy of the pre-processed float model) to
// fp16/bf16 or int4 weights, keeping exclude float, and returns the
// per-node decisions.
func applyPrecision(float, q *onnxpb.ModelProto, opts Options, exclude []string) ([]NodeDecision, *ApplyStats, []string, error) {
	var ds []NodeDecision
	switch opts.Mode {
	case FP16, BF16:
		ho := opts.Half
		ho.Type = tensor.Float16
		if opts.Mode == BF16 {
			ho.Type = tensor.BFloat16Type
		}
		ho.BlockNodes = append(append([]string{}, ho.BlockNodes...), exclude...)
		crash := map[string]bool{}
		if onCPU(opts.Session) {
			// ONNX Runtime's CPU provider has bf16 kernels for data
			// movement only, and crashes on one float16 pattern; those
			// stay float32 or the model won't load.
			ho.BlockOps = append(append([]string{}, ho.BlockOps...), half.CPUBlockOps(q, ho.Type)...)
			for _, n := range half.CPUBlockNodes(q, ho.Type) {
				crash[n] = true
				ho.BlockNodes = append(ho.BlockNodes, n)
			}
		}
		r, err := half.Convert(q, ho)
		if err != nil {
			return nil, nil, nil, err
		}
		blocked := map[string]bool{}
		for _, b := range r.Blocked {
			blocked[b] = true
		}
		for _, n := range float.GetGraph().GetNode() {
			d := NodeDecision{Name: n.GetName(), OpType: n.GetOpType(), Quantized: !blocked[n.GetName()]}
			switch {
			case d.Quantized:
			case crash[d.Name]:
				d.Reason = "kept float32: ONNX Runtime 1.30's CPU provider crashes loading a float16 Transpose (last axis kept) into a MatMul with constant weights"
			default:
				d.Reason = "kept float32 (block list, --block-nodes or the accuracy search)"
			}
			ds = append(ds, d)
		}
		return ds, &ApplyStats{Weights: r.Converted}, r.Notes, nil
	case Int4:
		io := opts.Int4
		io.ExcludeNodes = append(append([]string{}, io.ExcludeNodes...), exclude...)
		r, err := int4.Quantize(q, io)
		if err != nil {
			return nil, nil, nil, err
		}
		skipped := map[string]string{}
		for _, sk := range r.Skipped {
			skipped[sk.Node] = sk.Reason
		}
		for _, n := range float.GetGraph().GetNode() {
			if n.GetOpType() != "MatMul" && n.GetOpType() != "Gemm" {
				continue
			}
			reason, skip := skipped[n.GetName()]
			ds = append(ds, NodeDecision{Name: n.GetName(), OpType: n.GetOpType(), Quantized: !skip, Reason: reason})
		}
		return ds, &ApplyStats{Weights: r.Quantized, WeightBytesIn: r.WeightBytesBefore, WeightBytes: r.WeightBytesAfter}, nil, nil
	}
	return nil, nil, nil, fmt.Errorf("mode %q is not a precision conversion", opts.Mode)
}

// PrecisionDecisions runs an fp16/bf16/int4 conversion on a copy of the
// pre-processed float model and returns what it would do to each node
// (for --dry-run).
func PrecisionDecisions(float *onnxpb.ModelProto, opts Options) ([]NodeDecision, error) {
	ds, _, _, err := applyPrecision(float, proto.Clone(float).(*onnxpb.ModelProto), opts, nil)
	return ds, err
}

func onCPU(so ort.Options) bool {
	return len(so.Providers) == 0 || so.Providers[0].Name == ort.CPU
}
