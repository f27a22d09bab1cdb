package prep

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/probe"
)

// DefaultMinOpset is the opset Run upgrades older models to: the first with
// per-axis QuantizeLinear/DequantizeLinear and Squeeze/Unsqueeze/ReduceSum
// axes as inputs, which the quantizer's rewrites assume.
const DefaultMinOpset = 13

// Options select and configure the passes. The zero value upgrades to
// DefaultMinOpset but folds nothing and infers no shapes; DefaultOptions
// is what quantization wants.
type Options struct {
	// MinOpset is the lowest default-domain opset the result has; models
	// below it are upgraded. 0 means DefaultMinOpset.
	MinOpset int
	// FoldConstants replaces shape and layout operations on initializers
	// (Reshape, Transpose, Cast, ...) with their result (see
	// FoldConstants).
	FoldConstants bool
	// FoldConvAdd moves constant per-channel Adds after a convolution into
	// its bias (see FoldConvAdd).
	FoldConvAdd bool
	// FoldBatchNorm folds BatchNormalization into the preceding Conv or
	// ConvTranspose (see FoldBatchNorm).
	FoldBatchNorm bool
	// InferShapes records element type and shape in value_info for every
	// intermediate value of the main graph that lacks them, from runs in
	// ONNX Runtime (see Shape completion in the package documentation).
	// It needs the ONNX Runtime library: the one ort.Init loaded, else the
	// default lookup.
	InferShapes bool
	// KeepInitializerInputs keeps initializers that are also graph inputs
	// as they are: overridable, hence neither folded nor constant to ONNX
	// Runtime. By default they become plain weights.
	KeepInitializerInputs bool
	// Shapes are the input shapes the infer-shapes runs use; nil means
	// probe.Find with Probe. Probe also gives the runs' constant input
	// values, seed and session options.
	Shapes *probe.Shapes
	Probe  probe.Options
	// FuseMatMulAdd rewrites MatMul with a constant weight followed by an
	// Add of a constant bias as Gemm (see FuseMatMulAdd). Without
	// InferShapes it fuses only where the model declares the MatMul
	// input's rank.
	FuseMatMulAdd bool
}

// DefaultOptions returns the options quantization uses: upgrade to
// DefaultMinOpset, fold constants, Conv+Add and BatchNormalization, infer
// shapes, fuse MatMul+Add.
func DefaultOptions() Options {
	return Options{
		MinOpset:      DefaultMinOpset,
		FoldConstants: true,
		FoldConvAdd:   true,
		FoldBatchNorm: true,
		InferShapes:   true,
		FuseMatMulAdd: true,
	}
}

// Result says what the passes changed.
type Result struct {
	// Notes are human-readable lines, one per pass that changed something,
	// e.g. "folded 3 BatchNormalization into Conv".
	Notes []string
	// ConstantsMoved counts Constant nodes turned into initializers.
	ConstantsMoved int
	// OpsetFrom and OpsetTo are the default-domain opset before and after
	// (equal when no upgrade was needed; 0 when the model does not import
	// the default domain).
	OpsetFrom, OpsetTo int64
	// InitializerInputsRemoved counts graph inputs that were initializers.
	InitializerInputsRemoved int
	// ConstantsFolded counts the nodes fold-constants replaced with
	// initializers, by op type; nil when there were none.
	ConstantsFolded map[string]int
	// ConvAddsFolded counts Add nodes moved into a convolution's bias.
	ConvAddsFolded int
	// Folded counts BatchNormalization nodes folded away.
	Folded int
	// DeadCode is what dead-code elimination removed.
	DeadCode graph.DCEStats
	// ValueInfoAdded counts values given value_info by infer-shapes
	// (entries added or completed).
	ValueInfoAdded int
	// MatMulAddsFused counts MatMul+Add pairs rewritten as Gemm.
	MatMulAddsFused int
	// RecordedShapes names the values whose shape infer-shapes recorded
	// in value_info; DropRecordedShapes removes them before a model is
	// written.
	RecordedShapes []string
	// ObservedShapes holds each value's shape in the run at the first
	// probe shape (A): planning may use it (a convolution's output area),
	// an artifact never declares it.
	ObservedShapes map[string][]int64
}

// PassError is the error of a pass, or of the consistency check after it.
type PassError struct {
	// Pass is the pass name, as listed in the package documentation, or
	// "input" when the model failed validation before any pass ran.
	Pass string
	// Check is true when the pass succeeded but its result failed
	// graph.Validate: a bug in the pass, not in the model.
	Check bool
	Err   error
}

func (e *PassError) Error() string {
	switch {
	case e.Pass == "input":
		return fmt.Sprintf("prep: input model: %v", e.Err)
	case e.Check:
		return fmt.Sprintf("prep: consistency check after pass %s: %v", e.Pass, e.Err)
	}
	return fmt.Sprintf("prep: pass %s: %v", e.Pass, e.Err)
}

func (e *PassError) Unwrap() error { return e.Err }

type pass struct {
	name    string
	enabled bool
	run     func(m *onnxpb.ModelProto, res *Result) error
}

// Run applies the passes to m in place, in the order the package
// documentation lists, and checks the model with graph.Validate before the
// first and after each one. It returns a *PassError on failure; m then
// holds the result of the passes that completed (each pass either
// completes or leaves m as it found it), so callers that need the original
// must pass a clone.
//
// It also returns an error if m is nil or opts.MinOpset is outside
// 0..graph.MaxOpset. A model already at or above MinOpset keeps its opset.
func Run(m *onnxpb.ModelProto, opts Options) (*Result, error) {
	if m == nil {
		return nil, errors.New("prep: nil model")
	}
	target := opts.MinOpset
	if target == 0 {
		target = DefaultMinOpset
	}
	if target < 1 || target > graph.MaxOpset {
		return nil, fmt.Errorf("prep: minimum opset %d is outside 1..%d", opts.MinOpset, graph.MaxOpset)
	}
	if err := graph.Validate(m); err != nil {
		return nil, &PassError{Pass: "input", Err: err}
	}
	passes := []pass{
		{"constants", true, moveConstants},
		{"upgrade-opset", true, func(m *onnxpb.ModelProto, res *Result) error { return upgrade(m, int64(target), res) }},
		{"initializer-inputs", !opts.KeepInitializerInputs, dropInitializerInputs},
		{"fold-constants", opts.FoldConstants, foldConstantsPass},
		{"fold-conv-add", opts.FoldConvAdd, foldConvAddPass},
		{"fold-batchnorm", opts.FoldBatchNorm, foldPass},
		{"dead-code", true, deadCode},
		{"sort", true, func(m *onnxpb.ModelProto, _ *Result) error { return graph.SortNodes(m.GetGraph()) }},
		{"name-nodes", true, nameNodesPass},
		{"infer-shapes", opts.InferShapes, func(m *onnxpb.ModelProto, res *Result) error { return inferShapes(m, res, opts) }},
		{"fuse-matmul-add", opts.FuseMatMulAdd, fuseMatMulAddPass},
	}
	res := &Result{}
	for _, p := range passes {
		if !p.enabled {
			continue
		}
		if err := p.run(m, res); err != nil {
			return nil, &PassError{Pass: p.name, Err: err}
		}
		if err := graph.Validate(m); err != nil {
			return nil, &PassError{Pass: p.name, Check: true, Err: err}
		}
	}
	return res, nil
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func moveConstants(m *onnxpb.ModelProto, res *Result) error {
	n, err := graph.ConstantsToInitializers(m)
	if err != nil {
		return err
	}
	res.ConstantsMoved = n
	if n > 0 {
		res.note("moved %d Constant %s to initializers", n, plural(n, "weight", "weights"))
	}
	return nil
}

func upgrade(m *onnxpb.ModelProto, target int64, res *Result) error {
	from := graph.DefaultOpset(m)
	res.OpsetFrom, res.OpsetTo = from, from
	// A model without a default-domain import has no node an upgrade
	// could change (Validate refuses default-domain nodes without one).
	if from == 0 || from >= target {
		return nil
	}
	if err := graph.UpgradeOpset(m, int(target)); err != nil {
		return err
	}
	res.OpsetTo = target
	res.note("upgraded opset %d → %d", from, target)
	return nil
}

func dropInitializerInputs(m *onnxpb.ModelProto, res *Result) error {
	g := m.GetGraph()
	inits := make(map[string]bool)
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, st := range g.GetSparseInitializer() {
		inits[st.GetValues().GetName()] = true
	}
	kept := g.GetInput()[:0:0]
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			kept = append(kept, in)
		}
	}
	n := len(g.GetInput()) - len(kept)
	if n == 0 {
		return nil
	}
	g.Input = kept
	if m.GetIrVersion() < 4 {
		res.note("raised IR version %d → 4, which no longer requires initializers to be graph inputs", m.GetIrVersion())
		m.IrVersion = 4
	}
	res.InitializerInputsRemoved = n
	res.note("removed %d %s from the graph inputs (they are weights, not inputs)", n, plural(n, "initializer", "initializers"))
	return nil
}

func foldConstantsPass(m *onnxpb.ModelProto, res *Result) error {
	counts, err := FoldConstants(m.GetGraph())
	if err != nil {
		return err
	}
	res.ConstantsFolded = counts
	if len(counts) == 0 {
		return nil
	}
	ops := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%d constant %s", counts[op], op)
	}
	res.note("folded %s", strings.Join(parts, ", "))
	return nil
}

func foldConvAddPass(m *onnxpb.ModelProto, res *Result) error {
	n, err := FoldConvAdd(m.GetGraph())
	if err != nil {
		return err
	}
	res.ConvAddsFolded = n
	if n > 0 {
		res.note("moved %d Add %s into Conv", n, plural(n, "bias", "biases"))
	}
	return nil
}

func fuseMatMulAddPass(m *onnxpb.ModelProto, res *Result) error {
	n, err := FuseMatMulAdd(m)
	if err != nil {
		return err
	}
	res.MatMulAddsFused = n
	if n > 0 {
		res.note("fused %d MatMul+Add into Gemm", n)
	}
	return nil
}

func foldPass(m *onnxpb.ModelProto, res *Result) error {
	n, err := FoldBatchNorm(m.GetGraph())
	if err != nil {
		return err
	}
	res.Folded = n
	if n > 0 {
		res.note("folded %d BatchNormalization into Conv", n)
	}
	return nil
}

func deadCode(m *onnxpb.ModelProto, res *Result) error {
	st, err := graph.EliminateDeadCode(m.GetGraph())
	if err != nil {
		return err
	}
	res.DeadCode = st
	var parts []string
	if st.Nodes > 0 {
		parts = append(parts, fmt.Sprintf("%d dead %s", st.Nodes, plural(st.Nodes, "node", "nodes")))
	}
	if st.Initializers > 0 {
		parts = append(parts, fmt.Sprintf("%d unused %s", st.Initializers, plural(st.Initializers, "initializer", "initializers")))
	}
	if len(parts) > 0 {
		res.note("removed %s", strings.Join(parts, " and "))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
