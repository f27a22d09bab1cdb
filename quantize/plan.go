package quantize

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// DefaultOpTypes are quantized by static quantization unless --op-types
// says otherwise.
var DefaultOpTypes = []string{
	"Conv", "MatMul", "Gemm", "Add", "Mul", "Concat",
	"MaxPool", "AveragePool", "GlobalAveragePool",
	"Relu", "Clip", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Resize",
}

// PlanOptions choose what to quantize.
type PlanOptions struct {
	WeightType     tensor.DType // Int8 (default) or Uint8
	ActivationType tensor.DType // Int8 or Uint8; Undefined: Int8 (Quantize picks DefaultActivationType)
	PerChannel     bool
	// SymmetricActivations uses symmetric ranges for activations (then
	// Relu/Clip cannot be folded into the preceding quantizer).
	SymmetricActivations bool
	OpTypes              []string // nil: DefaultOpTypes
	ExcludeNodes         []string
	ExcludeOpTypes       []string
	// KeepFloat keeps nodes float for a reason of infer's own (the
	// accuracy and latency searches): node name → reason.
	KeepFloat map[string]string
	// Observed are value shapes seen in a run at a realistic input shape
	// (prep.Result.ObservedShapes), for rules that depend on sizes the
	// graph leaves dynamic (a convolution's output area).
	Observed map[string][]int64
}

type markKind int

const (
	markActivation markKind = iota + 1
	markWeight
	markBias
)

// mark says how one tensor is quantized.
type mark struct {
	kind markKind
	axis int // weights and biases: channel axis, -1 per tensor
	// bias: the activation and weight whose scales multiply into its scale.
	biasInput, biasWeight string
	// sameAs: an activation that reuses another tensor's parameters
	// (pass-through ops), so ORT can run the op on int8 directly.
	sameAs string
	// rangeOf: an activation whose range is that of another tensor (the
	// output of a Relu/Clip folded into this tensor's quantizer).
	rangeOf string
	// fixed: a known range (e.g. Softmax output [0, 1]).
	fixed *[2]float64
	// activationType: a constant operand of an elementwise op (Add's 3 in
	// hardswish), quantized per tensor with the activations' type, since
	// ONNX Runtime fuses QLinearAdd/QLinearMul only when both operands
	// have one type.
	activationType bool
	// factor: with sameAs, a Mul by this positive constant: the output is
	// the input's int8 values read with the scale times factor (the Mul
	// node is removed).
	factor float64
}

// NodeDecision records what the plan does with one node and why.
type NodeDecision struct {
	Name      string `json:"name"`
	OpType    string `json:"op_type"`
	Quantized bool   `json:"quantized"`
	Reason    string `json:"reason,omitempty"`
}

// Plan is the result of the marking phase: which nodes are quantized and
// how each tensor is.
type Plan struct {
	Nodes []NodeDecision
	marks map[string]*mark
	// The plan knows nodes by the values they write, which are unique in
	// a graph, not by their names: exporters leave names empty or repeat
	// them.
	//
	// folded holds the outputs of the Relu/Clip nodes removed into their
	// producer's quantizer, which takes the output's range.
	folded map[string]bool
	// rescaled holds the outputs of the Mul-by-a-positive-constant nodes
	// removed into a DequantizeLinear with a scaled scale.
	rescaled map[string]bool
	// quantizedOut holds the outputs of the nodes the plan quantizes.
	quantizedOut map[string]bool
	opts         PlanOptions
}

// Calibrate lists the tensors whose ranges must be measured.
func (p *Plan) Calibrate() []string {
	var out []string
	seen := map[string]bool{}
	for name, m := range p.marks {
		if m.kind != markActivation || m.sameAs != "" || m.fixed != nil {
			continue
		}
		t := name
		if m.rangeOf != "" {
			t = m.rangeOf
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// QuantizedNodes counts nodes the plan quantizes.
func (p *Plan) QuantizedNodes() int {
	n := 0
	for _, d := range p.Nodes {
		if d.Quantized {
			n++
		}
	}
	return n
}

type planCtx struct {
	g     *onnxpb.GraphProto
	ix    *graph.Index
	types map[string]tensor.DType
	ranks map[string]int
	marks map[string]*mark
	opts  PlanOptions
	// quantizedOut, folded and rescaled as in Plan.
	quantizedOut map[string]bool
	folded       map[string]bool
	rescaled     map[string]bool
}

// handler marks the tensors of one node; it returns false and a reason
// when the node stays float.
type handler func(c *planCtx, n *onnxpb.NodeProto) (bool, string)

var registry = map[string]handler{
	"Conv":              convHandler,
	"MatMul":            matmulHandler,
	"Gemm":              gemmHandler,
	"Add":               binaryHandler,
	"Mul":               binaryHandler,
	"Concat":            concatHandler,
	"AveragePool":       directHandler,
	"GlobalAveragePool": directHandler,
	"MaxPool":           passThroughHandler,
	"Reshape":           passThroughHandler,
	"Transpose":         passThroughHandler,
	"Flatten":           passThroughHandler,
	"Squeeze":           passThroughHandler,
	"Unsqueeze":         passThroughHandler,
	"Resize":            passThroughHandler,
	"Relu":              activationHandler,
	"Clip":              activationHandler,
	"Softmax":           softmaxHandler,
}

// SupportedOpTypes lists the op types a handler exists for.
func SupportedOpTypes() []string {
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BuildPlan decides, for the main graph of a pre-processed model (weights
// in initializers, opset ≥ 13, types known), which nodes to quantize. It
// returns an error for an op type in opts that has no handler.
func BuildPlan(m *onnxpb.ModelProto, opts PlanOptions) (*Plan, error) {
	// Nodes that would run alone in int8 between float nodes are taken out
	// and the plan is made again, until none is left: taking one out can
	// strand its neighbour (hardswish's Add → Clip before a float Div).
	islands := map[string]bool{}
	for {
		p, err := buildPlan(m, opts, islands)
		if err != nil {
			return nil, err
		}
		more := p.islands(m.GetGraph(), islands)
		if len(more) == 0 {
			return p, nil
		}
		for _, o := range more {
			islands[o] = true
		}
	}
}

// islandReason is why a node that could run in int8 stays float.
const islandReason = "would run alone in int8 between float nodes: the QuantizeLinear/DequantizeLinear around it cost more than its int8 kernel saves"

// islands returns the first outputs of the quantized nodes that pay only
// inside an int8 region and are not in one: an elementwise, pooling,
// concatenation or activation node (not a Conv, MatMul or Gemm, whose int8
// kernels pay alone) that needs an input quantized only for it, or whose
// output no quantized node reads. ONNX Runtime would run such a node as
// QuantizeLinear → int8 kernel → DequantizeLinear, slower than the float
// node it replaces (docs/quantize.md, "Whole int8 regions").
func (p *Plan) islands(g *onnxpb.GraphProto, known map[string]bool) []string {
	ix := graph.NewIndex(g)
	quantized := func(n *onnxpb.NodeProto) bool {
		for _, o := range n.GetOutput() {
			if p.quantizedOut[o] {
				return true
			}
		}
		return false
	}
	var out []string
	for _, n := range g.GetNode() {
		if !quantized(n) || payAlone[n.GetOpType()] || len(n.GetOutput()) == 0 {
			continue
		}
		o := n.GetOutput()[0]
		if known[o] || p.folded[o] || p.rescaled[o] {
			continue
		}
		alone := true
		for _, c := range ix.Consumers(o) {
			if quantized(c.Node) {
				alone = false
				break
			}
		}
		if !alone && (n.GetOpType() == "Add" || n.GetOpType() == "Mul" || n.GetOpType() == "Concat") {
			// Each input must be int8 already, or constant.
			for _, in := range n.GetInput() {
				if in == "" || ix.Initializer(in) != nil {
					continue
				}
				if p.quantizedOut[in] || ix.IsInput(in) {
					continue
				}
				if prod, _ := ix.Producer(in); prod == nil || quantized(prod) {
					continue
				}
				// A float value quantized only for this node is an
				// island's input; one whose QuantizeLinear also feeds
				// other int8 nodes (hardswish reads x twice) is not.
				shared := false
				for _, u := range ix.Consumers(in) {
					if u.Node != n && quantized(u.Node) {
						shared = true
					}
				}
				if !shared {
					alone = true
					break
				}
			}
		}
		if alone {
			out = append(out, o)
		}
	}
	return out
}

// payAlone are the op types whose int8 kernels are faster than float even
// with a QuantizeLinear before and a DequantizeLinear after them.
var payAlone = map[string]bool{"Conv": true, "MatMul": true, "Gemm": true}

func buildPlan(m *onnxpb.ModelProto, opts PlanOptions, islands map[string]bool) (*Plan, error) {
	if opts.WeightType == tensor.Undefined {
		opts.WeightType = tensor.Int8
	}
	if opts.ActivationType == tensor.Undefined {
		opts.ActivationType = tensor.Int8
	}
	ops := opts.OpTypes
	if ops == nil {
		ops = DefaultOpTypes
	}
	want := map[string]bool{}
	for _, op := range ops {
		if _, ok := registry[op]; !ok {
			return nil, fmt.Errorf("op type %q cannot be quantized (supported: %s)", op, strings.Join(SupportedOpTypes(), ", "))
		}
		want[op] = true
	}
	for _, op := range opts.ExcludeOpTypes {
		delete(want, op)
	}
	excluded := map[string]bool{}
	for _, n := range opts.ExcludeNodes {
		excluded[n] = true
	}
	g := m.GetGraph()
	c := &planCtx{g: g, ix: graph.NewIndex(g), types: valueTypes(g), ranks: valueRanks(g), marks: map[string]*mark{}, opts: opts,
		quantizedOut: map[string]bool{}, folded: map[string]bool{}, rescaled: map[string]bool{}}
	p := &Plan{marks: c.marks, folded: c.folded, rescaled: c.rescaled, quantizedOut: c.quantizedOut, opts: opts}
	order, err := graph.Topo(g)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, n := range g.Node {
		if n.GetName() != "" {
			known[n.GetName()] = true
		}
	}
	for _, name := range opts.ExcludeNodes {
		if !known[name] {
			return nil, fmt.Errorf("excluded node %q: the model has no node of that name", name)
		}
	}
	for _, n := range order {
		d := NodeDecision{Name: n.GetName(), OpType: n.GetOpType()}
		h, ok := registry[n.GetOpType()]
		switch {
		case !graph.IsDefaultDomain(n.GetDomain()):
			d.Reason = "operator of domain " + n.GetDomain()
		case excluded[n.GetName()]:
			d.Reason = "excluded by --exclude-nodes"
		case opts.KeepFloat[n.GetName()] != "":
			d.Reason = opts.KeepFloat[n.GetName()]
		case len(n.GetOutput()) > 0 && islands[n.GetOutput()[0]]:
			d.Reason = islandReason
		case !ok:
			d.Reason = "no quantization handler for " + n.GetOpType()
		case !want[n.GetOpType()]:
			d.Reason = "op type not selected"
		default:
			saved := snapshot(c.marks)
			d.Quantized, d.Reason = h(c, n)
			if d.Quantized {
				for _, o := range n.GetOutput() {
					c.quantizedOut[o] = true
				}
			} else {
				restore(c.marks, saved)
			}
		}
		p.Nodes = append(p.Nodes, d)
	}
	return p, nil
}

func snapshot(m map[string]*mark) map[string]*mark {
	out := make(map[string]*mark, len(m))
	for k, v := range m {
		c := *v
		out[k] = &c
	}
	return out
}

func restore(dst, src map[string]*mark) {
	for k := range dst {
		delete(dst, k)
	}
	for k, v := range src {
		dst[k] = v
	}
}

// valueTypes collects element types from inputs, outputs, value_info and
// initializers.
func valueTypes(g *onnxpb.GraphProto) map[string]tensor.DType {
	t := map[string]tensor.DType{}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			if et := v.GetType().GetTensorType().GetElemType(); et != 0 {
				t[v.GetName()] = tensor.DType(et)
			}
		}
	}
	for _, in := range g.GetInitializer() {
		t[in.GetName()] = tensor.DType(in.GetDataType())
	}
	return t
}

func (c *planCtx) isFloat(name string) bool { return c.types[name] == tensor.Float32 }

// valueRanks collects declared ranks.
func valueRanks(g *onnxpb.GraphProto) map[string]int {
	r := map[string]int{}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			if sh := v.GetType().GetTensorType().GetShape(); sh != nil {
				r[v.GetName()] = len(sh.GetDim())
			}
		}
	}
	return r
}

// activation marks a float tensor for QDQ; a constant input is quantized
// as a per-tensor weight instead.
func (c *planCtx) activation(name string) string {
	if name == "" {
		return "optional input missing"
	}
	if init := c.ix.Initializer(name); init != nil {
		if tensor.DType(init.GetDataType()) != tensor.Float32 {
			return fmt.Sprintf("constant %q is %s", name, tensor.DType(init.GetDataType()))
		}
		if m := c.marks[name]; m == nil {
			c.marks[name] = &mark{kind: markWeight, axis: -1, activationType: true}
		}
		return ""
	}
	if !c.isFloat(name) {
		if _, ok := c.types[name]; !ok {
			return fmt.Sprintf("type of %q unknown", name)
		}
		return fmt.Sprintf("%q is %s, not float32", name, c.types[name])
	}
	// Scalars and vectors are mostly shape and index arithmetic (a window
	// length, a Range limit), where quantization error changes results.
	if r, ok := c.ranks[name]; ok && r < 2 {
		return fmt.Sprintf("%q has rank %d; only tensors of rank 2 or more are quantized", name, r)
	}
	if m := c.marks[name]; m == nil {
		c.marks[name] = &mark{kind: markActivation}
	}
	return ""
}

func (c *planCtx) weight(name string, axis, rank int) string {
	init := c.ix.Initializer(name)
	if init == nil {
		return ""
	}
	if tensor.DType(init.GetDataType()) != tensor.Float32 {
		return fmt.Sprintf("weight %q is %s", name, tensor.DType(init.GetDataType()))
	}
	if rank > 0 && len(init.GetDims()) != rank {
		return fmt.Sprintf("weight %q has rank %d, want %d", name, len(init.GetDims()), rank)
	}
	if !c.opts.PerChannel {
		axis = -1
	}
	if m := c.marks[name]; m != nil && (m.kind != markWeight || m.axis != axis) {
		return fmt.Sprintf("weight %q is shared with a node that quantizes it differently", name)
	}
	c.marks[name] = &mark{kind: markWeight, axis: axis}
	return ""
}

func first(reasons ...string) string {
	for _, r := range reasons {
		if r != "" {
			return r
		}
	}
	return ""
}

func result(reason string) (bool, string) { return reason == "", reason }

func convHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in := n.GetInput()
	if len(in) < 2 || c.ix.Initializer(in[1]) == nil {
		return false, "weights are not constant"
	}
	if w := c.ix.Initializer(in[1]).GetDims(); len(w) == 4 && w[1] < smallConvChannels && c.outputArea(n.GetOutput()[0]) >= smallConvArea {
		return false, fmt.Sprintf("%d input channels on a large image: ONNX Runtime's int8 kernel is slower than float here", w[1])
	}
	r := first(c.activation(in[0]), c.weight(in[1], 0, 0), c.activation(n.GetOutput()[0]))
	if r == "" && len(in) > 2 && in[2] != "" {
		r = c.bias(in[2], in[0], in[1], 0)
	}
	return result(r)
}

// A convolution with fewer than smallConvChannels input channels (the
// first layer on RGB images) and an output of at least smallConvArea
// pixels stays float: measured on ONNX Runtime 1.30 (x86, AVX-512 VNNI), a
// 224×224 3→32 convolution ran 2× slower in int8 than in float, while
// deeper convolutions ran 4× faster (docs/benchmarks.md). The same holds
// on small images: MNIST's 1→8 convolution at 28×28 took 40 µs in int8
// against 16 µs in float (ORT profile, docs/quantize.md); only tiny maps
// (under 16×16) are left to int8, where the difference is noise.
const (
	smallConvChannels = 4
	smallConvArea     = 16 * 16
)

// outputArea is the product of a value's spatial dims (after N and C)
// when value_info knows them, else as observed at a realistic input shape,
// else 0.
func (c *planCtx) outputArea(name string) int64 {
	if dims, ok := c.opts.Observed[name]; ok && len(dims) >= 3 {
		area := int64(1)
		for _, d := range dims[2:] {
			area *= d
		}
		return area
	}
	for _, v := range c.g.GetValueInfo() {
		if v.GetName() != name {
			continue
		}
		dims := v.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) < 3 {
			return 0
		}
		area := int64(1)
		for _, d := range dims[2:] {
			x, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue)
			if !ok {
				return 0
			}
			area *= x.DimValue
		}
		return area
	}
	return 0
}

func (c *planCtx) bias(name, input, weight string, axis int) string {
	init := c.ix.Initializer(name)
	if init == nil || tensor.DType(init.GetDataType()) != tensor.Float32 || len(init.GetDims()) != 1 {
		return fmt.Sprintf("bias %q is not a constant float32 vector", name)
	}
	if len(c.ix.Consumers(name)) != 1 {
		return fmt.Sprintf("bias %q is shared", name)
	}
	if !c.opts.PerChannel {
		axis = -1
	}
	c.marks[name] = &mark{kind: markBias, axis: axis, biasInput: input, biasWeight: weight}
	return ""
}

func matmulHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in := n.GetInput()
	r := c.activation(in[0])
	if c.ix.Initializer(in[1]) != nil {
		r = first(r, c.weight(in[1], 1, 2))
	} else {
		r = first(r, c.activation(in[1]))
	}
	return result(first(r, c.activation(n.GetOutput()[0])))
}

func gemmHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in := n.GetInput()
	for _, a := range n.GetAttribute() {
		if (a.GetName() == "alpha" || a.GetName() == "beta") && a.GetF() != 1 {
			return false, "alpha or beta is not 1"
		}
		if a.GetName() == "transA" && a.GetI() != 0 {
			return false, "transA is set"
		}
	}
	if c.ix.Initializer(in[1]) == nil {
		return false, "weights are not constant"
	}
	axis := 1
	for _, a := range n.GetAttribute() {
		if a.GetName() == "transB" && a.GetI() != 0 {
			axis = 0
		}
	}
	r := first(c.activation(in[0]), c.weight(in[1], axis, 2), c.activation(n.GetOutput()[0]))
	if r == "" && len(in) > 2 && in[2] != "" {
		r = c.bias(in[2], in[0], in[1], 0)
	}
	return result(r)
}

func binaryHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in := n.GetInput()
	if c.ix.Initializer(in[0]) != nil && c.ix.Initializer(in[1]) != nil {
		return false, "both inputs are constant"
	}
	if ok := c.rescale(n); ok {
		return true, ""
	}
	return result(first(c.activation(in[0]), c.activation(in[1]), c.activation(n.GetOutput()[0])))
}

// rescale plans a Mul of an int8 value by a positive scalar constant (the
// 1/6 of hardswish) as no node at all: its output is the input's int8
// values read with the scale times the constant, exactly (up to the
// scale's float rounding).
func (c *planCtx) rescale(n *onnxpb.NodeProto) bool {
	if n.GetOpType() != "Mul" {
		return false
	}
	in, out := n.GetInput(), n.GetOutput()[0]
	x, k := in[0], in[1]
	if c.ix.Initializer(x) != nil {
		x, k = k, x
	}
	v, ok := positiveScalar(c.ix.Initializer(k))
	m := c.marks[x]
	if !ok || m == nil || m.kind != markActivation || !c.quantizedOut[x] || !c.isFloat(out) || c.ix.IsOutput(out) {
		return false
	}
	c.marks[out] = &mark{kind: markActivation, sameAs: x, factor: v}
	c.rescaled[out] = true
	return true
}

// positiveScalar is the value of a float32 constant with one element,
// when it is positive and finite.
func positiveScalar(t *onnxpb.TensorProto) (float64, bool) {
	if t == nil || tensor.DType(t.GetDataType()) != tensor.Float32 {
		return 0, false
	}
	for _, d := range t.GetDims() {
		if d != 1 {
			return 0, false
		}
	}
	v, err := tensor.FromProto(t)
	if err != nil {
		return 0, false
	}
	f := float64(tensor.Values[float32](v)[0])
	return f, f > 0 && !math.IsInf(f, 0)
}

func concatHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	var reasons []string
	for _, in := range n.GetInput() {
		reasons = append(reasons, c.activation(in))
	}
	reasons = append(reasons, c.activation(n.GetOutput()[0]))
	return result(first(reasons...))
}

// directHandler: one activation in, one activation out, own ranges.
func directHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	return result(first(c.activation(n.GetInput()[0]), c.activation(n.GetOutput()[0])))
}

// passThroughHandler: shape and selection ops whose output takes the
// input's parameters; quantized only when the input already is.
func passThroughHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in := n.GetInput()[0]
	if len(n.GetOutput()) != 1 {
		return false, "more than one output"
	}
	m := c.marks[in]
	if m == nil || m.kind != markActivation {
		return false, "input is not quantized"
	}
	out := n.GetOutput()[0]
	if !c.isFloat(out) {
		return false, "output is not float32"
	}
	c.marks[out] = &mark{kind: markActivation, sameAs: in}
	return true, ""
}

// activationHandler: Relu/Clip. Right after a quantized node that feeds
// nothing else, the node is folded: the producer's output quantizer takes
// the Relu/Clip output's range (zero point at the range's start clamps
// exactly like the activation) and the node is removed. Otherwise the
// output is quantized with its own range.
func activationHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	in, out := n.GetInput()[0], n.GetOutput()[0]
	m := c.marks[in]
	if m == nil || m.kind != markActivation {
		return false, "input is not quantized"
	}
	if n.GetOpType() == "Clip" {
		for _, extra := range n.GetInput()[1:] {
			if extra != "" && c.ix.Initializer(extra) == nil {
				return false, "Clip bounds are not constant"
			}
		}
	}
	if r := c.activation(out); r != "" {
		return false, r
	}
	prod, _ := c.ix.Producer(in)
	if prod != nil && c.quantizedOut[in] && !c.opts.SymmetricActivations && m.sameAs == "" && m.rangeOf == "" &&
		len(c.ix.Consumers(in)) == 1 && !c.ix.IsOutput(in) && foldable[prod.GetOpType()] {
		m.rangeOf = out
		c.folded[out] = true
		c.marks[out] = &mark{kind: markActivation, sameAs: in}
	}
	return true, ""
}

var foldable = map[string]bool{"Conv": true, "MatMul": true, "Gemm": true, "Add": true}

func softmaxHandler(c *planCtx, n *onnxpb.NodeProto) (bool, string) {
	if r := c.activation(n.GetInput()[0]); r != "" {
		return false, r
	}
	out := n.GetOutput()[0]
	if !c.isFloat(out) {
		return false, "output is not float32"
	}
	c.marks[out] = &mark{kind: markActivation, fixed: &[2]float64{0, 1}}
	return true, ""
}

func sortStrings(s []string) { sort.Strings(s) }
