package prune

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/inspect"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
)

// Options configure Prune. Data sources are opened by the caller.
type Options struct {
	Pattern Pattern
	// Sparsity is the share of weights (unstructured) or output channels
	// (channel) to remove, in (0,1). N:M patterns imply theirs.
	Sparsity float64
	// Global ranks all selected weights (or channels) together instead of
	// each layer on its own.
	Global    bool
	Norm      Norm
	Selection Selection
	// PerLayer overrides Sparsity by weight name (unstructured) or channel
	// group name (channel); Auto fills it from the sensitivity analysis.
	PerLayer map[string]float64
	// Analyze measures each layer's sensitivity at Levels on AnalysisData;
	// Auto also uses it to choose per-layer sparsities that meet Sparsity
	// overall with the least measured loss.
	Analyze, Auto bool
	Levels        []float64
	AnalysisData  dataset.Source
	// Eval is the validation data.
	Eval dataset.Source
	// Gate holds the output gates checked on Eval.
	Gate        validate.Gate
	Session     ort.Options
	LatencyRuns int
	// Shapes are realistic input shapes the model runs at (probe.Find; nil
	// when none was found): channel pruning records intermediate shapes at
	// them, and the result is compared with the original at the second.
	// Probe gives the constant input values and seed those runs use.
	Shapes *probe.Shapes
	Probe  probe.Options
	// SkipValidation stops after the analysis (--analyze alone).
	AnalysisOnly bool
	Progress     progress.Reporter
}

// DefaultLevels are the sparsities the sensitivity analysis measures.
var DefaultLevels = []float64{0.25, 0.5, 0.75, 0.9}

// Size describes a model for the before/after comparison.
type Size struct {
	// Params counts float weight elements; Nonzero those not exactly zero.
	Params  int64 `json:"params"`
	Nonzero int64 `json:"nonzero_params"`
	// Bytes is the serialized size; GzipBytes the same compressed with
	// gzip (what unstructured sparsity saves in storage and transfer).
	Bytes     int64 `json:"bytes"`
	GzipBytes int64 `json:"gzip_bytes"`
	// FLOPs per sample, estimated from shapes observed in an ORT run
	// (0 when unknown).
	FLOPs int64 `json:"flops"`
}

// Result is what Prune produced and measured.
type Result struct {
	Model       *onnxpb.ModelProto `json:"-"`
	Pattern     string             `json:"pattern"`
	PrepNotes   []string           `json:"-"`
	Layers      []LayerSparsity    `json:"layers,omitempty"`
	Groups      []ChannelGroup     `json:"channel_groups,omitempty"`
	Skipped     []Skipped          `json:"skipped,omitempty"`
	Sensitivity *Sensitivity       `json:"sensitivity,omitempty"`
	// Chosen are the per-layer sparsities --auto picked.
	Chosen map[string]float64 `json:"auto_sparsities,omitempty"`
	// Sparsity is the share of zeros over the pruned weights (unstructured,
	// N:M) or of removed channels over the pruned groups (channel).
	Sparsity    float64 `json:"sparsity"`
	NMSatisfied *bool   `json:"nm_satisfied,omitempty"`
	Before      Size    `json:"before"`
	After       Size    `json:"after"`
	// Outcome is the validation (reported in the shared report
	// sections); Upgraded when the reference is the upgraded original.
	validate.Outcome `json:"-"`
	Notes            []string `json:"-"`
	// channelFLOPs is what findUnits measured for the analysis.
	channelFLOPs *ChannelFLOPs
}

// CheckSparsity validates a requested sparsity.
func CheckSparsity(s float64) error {
	if !(s > 0 && s < 1) {
		return fmt.Errorf("sparsity %v is outside (0, 1): it is the share of weights to remove, such as 0.5", s)
	}
	return nil
}

// Prepare pre-processes a copy of m for pruning: Constant weights become
// initializers and weights an exporter stores reshaped or transposed are
// folded, so every weight is an initializer in the layout its node reads;
// convolution bias Adds move into the convolution; channel pruning also
// records every intermediate shape. The opset is left as it is unless
// upgrade is set (for old models ONNX Runtime has no kernels for): then it
// is raised to prep.DefaultMinOpset.
func Prepare(m *onnxpb.ModelProto, p Pattern, upgrade bool) (*onnxpb.ModelProto, []string, error) {
	f, r, err := PrepareWith(m, p, upgrade, Options{})
	if err != nil {
		return nil, nil, err
	}
	return f, r.Notes, nil
}

// PrepareWith is Prepare with the shape runs at opts.Shapes. The result's
// RecordedShapes must leave a model before it is written
// (prep.DropRecordedShapes).
func PrepareWith(m *onnxpb.ModelProto, p Pattern, upgrade bool, opts Options) (*onnxpb.ModelProto, *prep.Result, error) {
	f := graph.CloneSharingInitializers(m)
	// Shapes (an ORT run) only matter to channel pruning, and only when
	// there is a producer to prune.
	o := prep.Options{MinOpset: 1, FoldConstants: true, FoldConvAdd: true, InferShapes: p.Kind == "channel" && hasProducer(m),
		Shapes: opts.Shapes, Probe: opts.Probe}
	if upgrade {
		o.MinOpset = prep.DefaultMinOpset
	}
	r, err := prep.Run(f, o)
	if err != nil {
		return nil, nil, err
	}
	return f, r, nil
}

// hasProducer reports a main-graph node channel pruning starts from.
func hasProducer(m *onnxpb.ModelProto) bool {
	for _, n := range m.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "Conv", "Gemm", "MatMul":
			return true
		}
	}
	return false
}

// prepareRunnable is Prepare without an upgrade, or with one when that
// fails (channel pruning runs the model for shapes, which an old opset
// may not allow).
func prepareRunnable(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *prep.Result, bool, error) {
	f, r, err := PrepareWith(m, opts.Pattern, false, opts)
	if err == nil {
		return f, r, false, nil
	}
	if f, r, uerr := PrepareWith(m, opts.Pattern, true, opts); uerr == nil {
		return f, r, true, nil
	}
	return nil, nil, false, err
}

// Prune prunes a copy of m and validates it against m. When the gate
// cannot be met it returns the pruned model with GateMet false (not an
// error).
func Prune(m *onnxpb.ModelProto, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = progress.Nop
	}
	if len(opts.Levels) == 0 {
		opts.Levels = DefaultLevels
	}
	if opts.Pattern.Kind == "nm" {
		opts.Sparsity = opts.Pattern.Sparsity()
	} else if err := CheckSparsity(opts.Sparsity); err != nil && !opts.AnalysisOnly {
		return nil, err
	}
	res := &Result{Pattern: opts.Pattern.String(), Notes: []string{}}
	res.Provider = validate.ProviderOf(opts.Session)
	// Old exports (opset ≤ 6) may have no ONNX Runtime kernels: they are
	// upgraded, and the upgraded form (which means the same, see the graph
	// conformance tests) is the reference.
	float, pr, upgraded, err := prepareRunnable(m, opts)
	if err != nil {
		return nil, err
	}
	units, err := findUnits(float, res, opts)
	if err != nil {
		return nil, err
	}
	var unitsErr error
	ref, err := validate.OpenReference(m, opts.Session, func() (*onnxpb.ModelProto, error) {
		if !upgraded {
			f, r, err := PrepareWith(m, opts.Pattern, true, opts)
			if err != nil {
				return nil, err
			}
			float, pr = f, r
			units, unitsErr = findUnits(float, res, opts)
		}
		return float, nil
	})
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	if unitsErr != nil {
		return nil, unitsErr
	}
	res.Provider = ref.Provider() // the one that started, not the first asked for
	res.Notes = append(res.Notes, ref.ProviderNotes()...)
	if ref.Upgraded {
		res.Upgraded = true
		res.Notes = append(res.Notes, ref.Note)
	}
	res.PrepNotes = pr.Notes

	if opts.Analyze || opts.Auto {
		if opts.AnalysisData == nil {
			return nil, errors.New("the sensitivity analysis needs data")
		}
		if res.Sensitivity, err = analyze(float, ref.Session, units, opts); err != nil {
			return nil, err
		}
		res.Sensitivity.FLOPs = res.channelFLOPs
		if opts.AnalysisOnly {
			return res, nil
		}
		if opts.Auto {
			var note string
			res.Chosen, note = chooseSparsities(res.Sensitivity, opts.Sparsity)
			if note != "" {
				res.Notes = append(res.Notes, note)
			}
			opts.PerLayer = res.Chosen
		}
	}

	q := graph.CloneSharingInitializers(float)
	if err := apply(q, res, opts, opts.PerLayer); err != nil {
		return nil, err
	}
	// Shapes recorded for the channel trace may fix sizes the source
	// leaves dynamic: the artifact keeps only what its source declared.
	prep.DropRecordedShapes(q.GetGraph(), pr.RecordedShapes)
	if err := graph.Validate(q); err != nil {
		return nil, fmt.Errorf("internal error: the pruned model is invalid: %w", err)
	}
	res.Model = q
	if err := check(ref, m, q, res, opts); err != nil {
		return nil, err
	}
	if opts.Pattern.Kind != "channel" {
		res.Notes = append(res.Notes, "zeroed weights keep the file and the run time the same in ONNX Runtime on CPU; the gzip size shows the storage saved; --pattern channel removes channels and runs faster")
	}
	return res, nil
}

// Revalidate compares a changed pruned model (fine-tuned weights) with the
// original again, replacing res's model, validation, gate, latency and
// sizes.
func Revalidate(m, q *onnxpb.ModelProto, res *Result, opts Options) error {
	ref, err := validate.OpenReference(m, opts.Session, nil)
	if err != nil {
		return err
	}
	defer ref.Close()
	res.Model = q
	return check(ref, m, q, res, opts)
}

// check compares q with the reference on opts.Eval, applies the gates,
// and measures latency and sizes (m is the input model the sizes start
// from).
func check(ref *validate.Reference, m, q *onnxpb.ModelProto, res *Result, opts Options) error {
	c, err := ref.Open(q, opts.Session, "the pruned model")
	if err != nil {
		return err
	}
	defer c.Close()
	if res.Validation, err = c.Compare(opts.Eval); err != nil {
		return err
	}
	if err := opts.Gate.Measurable(res.Validation); err != nil {
		return err
	}
	res.SetGates(opts.Gate)
	if res.SecondShape, err = c.SecondShape(opts.Shapes, opts.Probe); err != nil {
		return err
	}
	if res.Speed, err = c.Speed(opts.Eval, opts.LatencyRuns); err != nil {
		return err
	}
	if res.Before, err = measure(m); err != nil {
		return err
	}
	res.After, err = measure(q)
	return err
}

// unit is what the sensitivity analysis prunes on its own: a weight
// (unstructured, N:M) or a channel group.
type unit struct {
	Name, Node, OpType string
	Params             int64
	// FLOPs is a channel group's work (ChannelGroup.FLOPs).
	FLOPs int64
}

func findUnits(float *onnxpb.ModelProto, res *Result, opts Options) ([]unit, error) {
	var units []unit
	if opts.Pattern.Kind == "channel" {
		p, err := planChannels(float, channelOptions(opts, nil), true)
		if err != nil {
			return nil, err
		}
		// The analysis shows what share of the work pruning can reach.
		var cf *ChannelFLOPs
		if opts.Analyze {
			if shapes, err := inspect.Shapes(float, nil); err == nil {
				perNode, total := inspect.NodeFLOPs(float, shapes)
				cf = &ChannelFLOPs{Total: total}
				cf.Prunable = p.flops(perNode)
			}
		}
		gs := p.report()
		var reasons []string
		for _, g := range gs {
			if g.Reason != "" {
				if len(reasons) < 3 {
					reasons = append(reasons, g.Name+": "+g.Reason)
				}
				if cf != nil && g.FLOPs > 0 {
					cf.Refused = append(cf.Refused, g)
				}
				continue
			}
			units = append(units, unit{Name: g.Name, Node: g.Name, OpType: "channels", Params: g.Params, FLOPs: g.FLOPs})
		}
		if cf != nil {
			slices.SortStableFunc(cf.Refused, func(a, b ChannelGroup) int { return cmp.Compare(b.FLOPs, a.FLOPs) })
			res.channelFLOPs = cf
		}
		if len(gs) == 0 {
			return nil, fmt.Errorf("%w: the model has no Conv, Gemm or MatMul with a float32 constant weight whose output channels could be removed", ErrNothingPrunable)
		}
		if len(units) == 0 {
			return nil, fmt.Errorf("%w: no channel group can be pruned (%s)", ErrNothingPrunable, strings.Join(reasons, "; "))
		}
		return units, nil
	}
	ws, skipped, err := FindWeights(float, opts.Selection)
	if err != nil {
		return nil, err
	}
	if opts.Pattern.Kind == "nm" {
		var left []Skipped
		ws, left = FitNM(ws, opts.Pattern)
		skipped = append(skipped, left...)
	}
	res.Skipped = skipped
	if len(ws) == 0 {
		return nil, nothingPrunable(skipped)
	}
	for _, w := range ws {
		units = append(units, unit{Name: w.Name, Node: w.Node, OpType: w.OpType, Params: w.Params()})
	}
	return units, nil
}

func nothingPrunable(skipped []Skipped) error {
	why := "the model has no Conv, Gemm or MatMul with a float32 constant weight (see --op-types)"
	if len(skipped) > 0 {
		why = skipped[0].Node + " (" + skipped[0].OpType + "): " + skipped[0].Reason
	}
	return fmt.Errorf("%w: %s", ErrNothingPrunable, why)
}

func channelOptions(opts Options, per map[string]float64) ChannelOptions {
	return ChannelOptions{
		Sparsity: opts.Sparsity, PerGroup: per, Norm: opts.Norm, Global: opts.Global,
		OpTypes: opts.Selection.OpTypes, ExcludeNodes: opts.Selection.ExcludeNodes,
		MinParams: opts.Selection.MinParams, KeepFirstLast: opts.Selection.KeepFirstLast,
	}
}

// apply prunes q in place. per, when not nil, gives each unit's sparsity
// (units absent from it are left alone).
func apply(q *onnxpb.ModelProto, res *Result, opts Options, per map[string]float64) error {
	if opts.Pattern.Kind == "channel" {
		co := channelOptions(opts, per)
		if per != nil {
			co.Sparsity, co.Global = 0, false
		}
		cr, err := PruneChannels(q, co)
		if err != nil {
			return err
		}
		res.Groups = cr.Groups
		var ch, removed int
		for _, g := range cr.Groups {
			if g.Kept < g.Channels {
				ch += g.Channels
				removed += g.Channels - g.Kept
			}
		}
		if ch > 0 {
			res.Sparsity = float64(removed) / float64(ch)
		}
		return nil
	}
	ws, _, err := FindWeights(q, opts.Selection)
	if err != nil {
		return err
	}
	def := opts.Sparsity
	if per != nil {
		def = 0
	}
	switch {
	case opts.Pattern.Kind == "nm":
		ws, _ = FitNM(ws, opts.Pattern)
		res.Layers, err = pruneNM(ws, opts.Pattern)
		if err == nil {
			ok := true
			for _, l := range res.Layers {
				ok = ok && l.GroupsViolating == 0
			}
			res.NMSatisfied = &ok
		}
	case opts.Global && per == nil:
		res.Layers, err = pruneGlobal(ws, opts.Sparsity)
	default:
		res.Layers, err = pruneLayers(ws, def, per)
	}
	if err != nil {
		return err
	}
	var n, z int64
	for _, l := range res.Layers {
		n += l.Params
		z += l.ZerosAfter
	}
	if n > 0 {
		res.Sparsity = float64(z) / float64(n)
	}
	return nil
}

// measure counts parameters, sizes and FLOPs.
func measure(m *onnxpb.ModelProto) (Size, error) {
	var s Size
	err := onnx.TensorsAt(m, func(t *onnxpb.TensorProto, _ *onnx.Location) error {
		if !tensor.DType(t.GetDataType()).IsFloat() {
			return nil
		}
		x, err := tensor.FromProto(t)
		if err != nil {
			return err
		}
		if x.DType() == tensor.Float32 { // the common case, without a float64 copy
			v := tensor.Values[float32](x)
			s.Params += int64(len(v))
			s.Nonzero += int64(len(v)) - countZeros(v)
			return nil
		}
		v, err := tensor.AsFloat64(x)
		if err != nil {
			return err
		}
		s.Params += int64(len(v))
		for _, f := range v {
			if f != 0 {
				s.Nonzero++
			}
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return s, err
	}
	s.Bytes = int64(len(b))
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if _, err := zw.Write(b); err != nil {
		return s, err
	}
	if err := zw.Close(); err != nil {
		return s, err
	}
	s.GzipBytes = int64(buf.Len())
	if shapes, err := inspect.Shapes(m, nil); err == nil {
		s.FLOPs = inspect.Inspect(&onnx.Model{Proto: m}, shapes).FLOPs.Total
	}
	return s, nil
}

// PlanResult is what --dry-run shows: the weights or channel groups that
// would be pruned, and those left alone with the reason.
type PlanResult struct {
	Pattern       string          `json:"pattern"`
	Preprocessing []string        `json:"preprocessing"`
	Weights       []LayerSparsity `json:"weights,omitempty"`
	Skipped       []Skipped       `json:"skipped,omitempty"`
	Groups        []ChannelGroup  `json:"channel_groups,omitempty"`
}

// Plan pre-processes a copy of m and lists what Prune would prune, without
// pruning or running anything but the shape inference channel pruning
// needs.
func Plan(m *onnxpb.ModelProto, opts Options) (*PlanResult, error) {
	float, pr, _, err := prepareRunnable(m, opts)
	if err != nil {
		return nil, err
	}
	p := &PlanResult{Pattern: opts.Pattern.String(), Preprocessing: pr.Notes}
	if opts.Pattern.Kind == "channel" {
		if p.Groups, err = ChannelGroups(float, channelOptions(opts, nil)); err != nil {
			return nil, err
		}
		return p, nil
	}
	ws, skipped, err := FindWeights(float, opts.Selection)
	if err != nil {
		return nil, err
	}
	if opts.Pattern.Kind == "nm" {
		var left []Skipped
		ws, left = FitNM(ws, opts.Pattern)
		skipped = append(skipped, left...)
	}
	if len(ws) == 0 {
		return nil, nothingPrunable(skipped)
	}
	p.Skipped = skipped
	for _, w := range ws {
		v, err := w.values()
		if err != nil {
			return nil, err
		}
		t := opts.Sparsity
		if opts.Pattern.Kind == "nm" {
			t = opts.Pattern.Sparsity()
		}
		p.Weights = append(p.Weights, layer(w, v, t))
	}
	return p, nil
}
