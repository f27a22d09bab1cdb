package prune

import (
	"fmt"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// This file traces channel spaces: each producer (Conv, Gemm, MatMul with
// a constant weight) opens a space, its output channels, which flows
// forward through the operators that keep channels apart until consumers
// that contract it (the next Conv, Gemm or MatMul). Residual joins merge
// spaces; anything the tracer does not understand blocks the space. The
// trace only records edits; the rewrite (channel_rewrite.go) performs
// them for the spaces that end up pruned.

// channelTrack is how a value carries a channel space: original channel c is
// indices c·e … c·e+e−1 along axis of a tensor of rank rank.
type channelTrack struct {
	space int
	axis  int
	rank  int
	e     int
}

// channelSpace is one channel index space; spaces joined by a residual Add are
// one set of a union–find forest.
type channelSpace struct {
	parent   int
	channels int
	// reason is why the space cannot be pruned, the first one found; ""
	// when it can.
	reason string
}

// channelSource is a producer whose output channels open a space.
type channelSource struct {
	node    *onnxpb.NodeProto
	label   string
	pos     int // topological position
	space   int
	weight  *onnxpb.TensorProto
	outAxis int // of the weight
	params  int64
}

type channelEditKind int

const (
	// editSlice keeps the kept channels of the initializer read by
	// node.Input[input], along axis, e indices per channel.
	editSlice channelEditKind = iota
	// editGroup sets a depthwise Conv's group to kept·e.
	editGroup
	// editReshape sets entry axis of the Reshape's constant shape
	// (node.Input[1]) to kept·e.
	editReshape
	// editValueInfo sets dimension axis of value's value_info to kept·e.
	editValueInfo
)

// channelEdit is one change the rewrite makes when space is pruned.
type channelEdit struct {
	kind  channelEditKind
	space int
	node  *onnxpb.NodeProto
	input int
	value string
	axis  int
	e     int
	// offset and width place the space inside a longer axis (a Conv
	// reading a Concat of several spaces): the slice keeps indices outside
	// [offset, offset+width) and the kept channels inside. width 0: the
	// space is the whole axis.
	offset, width int
}

// channelSegment is one input of a Concat along the channel axis: a
// tracked space (space ≥ 0) or a fixed run of channels (space −1), at
// offset in the concatenated axis.
type channelSegment struct {
	space, e      int
	offset, width int
}

// segmentedValue is a Concat's output along the channel axis.
type segmentedValue struct {
	axis, rank int
	segments   []channelSegment
}

// channelTrace is the result of following every producer's channels through the
// main graph. It never modifies the graph.
type channelTrace struct {
	g       *onnxpb.GraphProto
	idx     *graph.Index
	spaces  []*channelSpace
	sources []*channelSource
	tracked map[string]channelTrack
	// segmented holds Concat outputs that join several spaces along the
	// channel axis; only a group-1 Conv may read them.
	segmented map[string]segmentedValue
	edits     []channelEdit
}

// newChannelTrace traces the main graph of m.
func newChannelTrace(m *onnxpb.ModelProto) (*channelTrace, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	order, err := graph.Topo(g)
	if err != nil {
		return nil, err
	}
	t := &channelTrace{g: g, idx: graph.NewIndex(g), tracked: make(map[string]channelTrack), segmented: make(map[string]segmentedValue)}
	for pos, n := range order {
		var ins []int
		for i, in := range n.GetInput() {
			if _, ok := t.tracked[in]; ok && in != "" {
				ins = append(ins, i)
			}
		}
		if seg := t.readSegmented(n); len(ins) > 0 && !seg {
			t.consume(n, ins)
		}
		t.maybeSource(n, pos)
	}
	return t, nil
}

// find returns the root of space s.
func (t *channelTrace) find(s int) int {
	for t.spaces[s].parent != s {
		t.spaces[s].parent = t.spaces[t.spaces[s].parent].parent
		s = t.spaces[s].parent
	}
	return s
}

// union merges the spaces of a and b; the older root stays the root, so
// results do not depend on map order.
func (t *channelTrace) union(a, b int) int {
	ra, rb := t.find(a), t.find(b)
	if ra == rb {
		return ra
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	t.spaces[rb].parent = ra
	if t.spaces[ra].reason == "" {
		t.spaces[ra].reason = t.spaces[rb].reason
	}
	return ra
}

func (t *channelTrace) block(s int, reason string) {
	if r := t.spaces[t.find(s)]; r.reason == "" {
		r.reason = reason
	}
}

func (t *channelTrace) channels(s int) int { return t.spaces[t.find(s)].channels }

func (t *channelTrace) record(e channelEdit) { t.edits = append(t.edits, e) }

// define starts tracking value name and checks the uses that no node
// visit sees: graph outputs and reads inside subgraphs.
func (t *channelTrace) define(name string, tr channelTrack) {
	if name == "" {
		return
	}
	t.tracked[name] = tr
	t.record(channelEdit{kind: editValueInfo, space: tr.space, value: name, axis: tr.axis, e: tr.e})
	if t.idx.IsOutput(name) {
		t.block(tr.space, "output reaches graph output "+name)
	}
	for _, u := range t.idx.Consumers(name) {
		if u.Input == graph.Implicit {
			t.block(tr.space, fmt.Sprintf("read inside a subgraph of %s %s", u.Node.GetOpType(), channelNodeLabel(u.Node)))
		}
	}
}

// refuse blocks the spaces of n's tracked inputs ins.
func (t *channelTrace) refuse(n *onnxpb.NodeProto, ins []int, why string) {
	reason := fmt.Sprintf("read by %s %s", channelOpName(n), channelNodeLabel(n))
	if why != "" {
		reason += ": " + why
	}
	for _, i := range ins {
		t.block(t.tracked[n.Input[i]].space, reason)
	}
}

// constant returns the initializer called name when it is a constant: an
// initializer that is not also a graph input (which a caller may
// override). It returns nil otherwise.
func (t *channelTrace) constant(name string) *onnxpb.TensorProto {
	if name == "" || t.idx.IsInput(name) {
		return nil
	}
	return t.idx.Initializer(name)
}

// uses counts the reads of name: node inputs, subgraph reads and graph
// outputs.
func (t *channelTrace) uses(name string) int {
	c := len(t.idx.Consumers(name))
	if t.idx.IsOutput(name) {
		c++
	}
	return c
}

// shapeOf returns the dimensions of name, -1 for unknown ones, from its
// initializer or declared type; nil when the rank is unknown.
func (t *channelTrace) shapeOf(name string) []int64 {
	if c := t.idx.Initializer(name); c != nil {
		// A scalar's dims are empty (nil in the decoded proto): rank 0,
		// not unknown.
		return append([]int64{}, c.GetDims()...)
	}
	sh := t.idx.ValueInfo(name).GetType().GetTensorType().GetShape()
	if sh == nil {
		return nil
	}
	dims := make([]int64, len(sh.GetDim()))
	for i, d := range sh.GetDim() {
		dims[i] = -1
		if v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			dims[i] = v.DimValue
		}
	}
	return dims
}

// rankOf returns the rank of name, -1 when unknown.
func (t *channelTrace) rankOf(name string) int {
	if tr, ok := t.tracked[name]; ok {
		return tr.rank
	}
	if s := t.shapeOf(name); s != nil {
		return len(s)
	}
	return -1
}

// maybeSource opens a space for n when it is a producer: a default-domain
// Conv with group 1 and an initializer weight of rank ≥ 3, or a Gemm or
// MatMul whose B is a 2-D initializer. Producers whose weight or bias the
// rewrite cannot slice still open a space, blocked, so that they show up
// as groups with a reason and block what they join.
func (t *channelTrace) maybeSource(n *onnxpb.NodeProto, pos int) {
	if !isDefaultDomain(n.GetDomain()) || len(n.GetInput()) < 2 || len(n.GetOutput()) < 1 || n.GetOutput()[0] == "" {
		return
	}
	w := t.idx.Initializer(n.Input[1])
	if w == nil {
		return
	}
	dims := w.GetDims()
	var outAxis, rank int
	switch n.GetOpType() {
	case "Conv":
		if nodeAttrInt(n, "group", 1) != 1 || len(dims) < 3 {
			return
		}
		outAxis, rank = 0, len(dims)
	case "Gemm":
		if len(dims) != 2 {
			return
		}
		outAxis, rank = 1, 2
		if nodeAttrInt(n, "transB", 0) != 0 {
			outAxis = 0
		}
	case "MatMul":
		if len(dims) != 2 {
			return
		}
		outAxis = 1
		rank = t.rankOf(n.Output[0])
		if rank < 0 {
			if ra := t.rankOf(n.Input[0]); ra >= 2 {
				rank = ra
			} else if ra == 1 {
				rank = 1
			}
		}
	default:
		return
	}
	s := &channelSource{
		node:    n,
		label:   channelNodeLabel(n),
		pos:     pos,
		space:   len(t.spaces),
		weight:  w,
		outAxis: outAxis,
		params:  elementCount(dims),
	}
	t.spaces = append(t.spaces, &channelSpace{parent: s.space, channels: int(dims[outAxis])})
	t.sources = append(t.sources, s)

	switch {
	case t.idx.IsInput(w.GetName()):
		t.block(s.space, fmt.Sprintf("weight %s is a graph input", w.GetName()))
	case w.GetDataType() != int32(tensor.Float32):
		t.block(s.space, fmt.Sprintf("weight %s is %s, not float32", w.GetName(), tensor.DType(w.GetDataType())))
	case t.uses(w.GetName()) > 1:
		t.block(s.space, fmt.Sprintf("weight %s is shared", w.GetName()))
	case dims[outAxis] < 1:
		t.block(s.space, fmt.Sprintf("weight %s has no output channels", w.GetName()))
	}
	t.record(channelEdit{kind: editSlice, space: s.space, node: n, input: 1, axis: outAxis, e: 1})
	t.sourceBias(n, s)
	if rank < 1 {
		t.block(s.space, fmt.Sprintf("rank of %s unknown (run prep with InferShapes)", n.Output[0]))
		return
	}
	axis := rank - 1 // Gemm, MatMul: the last axis
	if n.GetOpType() == "Conv" {
		axis = 1
	}
	t.define(n.Output[0], channelTrack{space: s.space, axis: axis, rank: rank, e: 1})
}

// sourceBias checks and records the bias of a producer: Conv's B [C] and
// Gemm's C broadcast to [M, N].
func (t *channelTrace) sourceBias(n *onnxpb.NodeProto, s *channelSource) {
	if len(n.GetInput()) < 3 || n.Input[2] == "" || n.GetOpType() == "MatMul" {
		return
	}
	c := t.channels(s.space)
	b := t.constant(n.Input[2])
	if b == nil {
		t.block(s.space, fmt.Sprintf("bias %s is not an initializer", n.Input[2]))
		return
	}
	dims := b.GetDims()
	switch {
	case n.GetOpType() == "Conv" && (len(dims) != 1 || dims[0] != int64(c)):
		t.block(s.space, fmt.Sprintf("bias %s has shape %v, want [%d]", b.GetName(), dims, c))
	case n.GetOpType() == "Conv" || len(dims) > 0 && len(dims) <= 2 && dims[len(dims)-1] == int64(c):
		t.record(channelEdit{kind: editSlice, space: s.space, node: n, input: 2, axis: len(dims) - 1, e: 1})
	case len(dims) > 2 || len(dims) > 0 && dims[len(dims)-1] != 1:
		t.block(s.space, fmt.Sprintf("bias %s has shape %v", b.GetName(), dims))
	}
}

// channelPassThrough lists the operators that act on each channel alone, with a
// single data input, so their output carries the input's space unchanged.
// Some have further checks in unary.
var channelPassThrough = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true,
	"HardSigmoid": true, "HardSwish": true, "Elu": true, "Selu": true,
	"Celu": true, "ThresholdedRelu": true, "Softplus": true, "Softsign": true,
	"Mish": true, "Gelu": true, "Erf": true, "Clip": true, "Dropout": true,
	"Identity": true, "Cast": true, "Neg": true, "Abs": true, "Sqrt": true,
	"Exp": true, "Log": true, "Reciprocal": true,
	"MaxPool": true, "AveragePool": true, "LpPool": true,
	"GlobalAveragePool": true, "GlobalMaxPool": true, "GlobalLpPool": true,
	"BatchNormalization": true, "InstanceNormalization": true,
	"Pad": true, "Resize": true, "Upsample": true,
}

// channelElementwise lists the broadcasting operators whose operands
// either share the space or broadcast along it.
var channelElementwise = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true,
	"Min": true, "Sum": true, "Mean": true, "Pow": true, "PRelu": true,
}

// consume handles node n, which reads tracked values at input positions
// ins.
func (t *channelTrace) consume(n *onnxpb.NodeProto, ins []int) {
	if !isDefaultDomain(n.GetDomain()) {
		t.refuse(n, ins, "")
		return
	}
	op := n.GetOpType()
	switch {
	case channelPassThrough[op]:
		t.unary(n, ins)
	case channelElementwise[op]:
		t.binary(n, ins)
	case op == "Conv":
		t.conv(n, ins)
	case op == "ConvTranspose":
		t.convTranspose(n, ins)
	case op == "Gemm":
		t.gemm(n, ins)
	case op == "MatMul":
		t.matMul(n, ins)
	case op == "Flatten":
		t.flatten(n, ins)
	case op == "Reshape":
		t.reshape(n, ins)
	case op == "Squeeze" || op == "Unsqueeze":
		t.squeeze(n, ins)
	case op == "Concat":
		t.concat(n, ins, func(why string) { t.refuse(n, ins, why) })
	default:
		t.refuse(n, ins, "")
	}
}

// onlyFirst refuses n unless it reads tracked values at input 0 only.
func (t *channelTrace) onlyFirst(n *onnxpb.NodeProto, ins []int) bool {
	if len(ins) != 1 || ins[0] != 0 {
		t.refuse(n, ins, fmt.Sprintf("reads it as input %d", ins[len(ins)-1]))
		return false
	}
	return true
}

// extraOutputs returns why the outputs of pass-through n after the first
// stop it, or "". MaxPool's Indices and Dropout's mask may be present but
// unread (their value_info is resized with the data); BatchNormalization's
// training-mode statistics must be absent.
func (t *channelTrace) extraOutputs(n *onnxpb.NodeProto) string {
	for _, o := range n.GetOutput()[1:] {
		switch {
		case o == "":
		case n.GetOpType() == "BatchNormalization":
			return "training-mode outputs"
		case t.idx.Used(o):
			return fmt.Sprintf("its output %s is used", o)
		}
	}
	return ""
}

func (t *channelTrace) unary(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	op := n.GetOpType()
	spatial := tr.axis == 1 && tr.rank >= 3
	switch op {
	case "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
		if !spatial {
			t.refuse(n, ins, "channel axis is not 1")
			return
		}
	case "Pad":
		if why := t.padTouches(n, tr); why != "" {
			t.refuse(n, ins, why)
			return
		}
	case "Resize", "Upsample":
		if why := t.resizeScales(n, tr); why != "" {
			t.refuse(n, ins, why)
			return
		}
	case "BatchNormalization", "InstanceNormalization":
		if why := t.normParams(n, tr); why != "" {
			t.refuse(n, ins, why)
			return
		}
	}
	if why := t.extraOutputs(n); why != "" {
		t.refuse(n, ins, why)
		return
	}
	t.define(n.Output[0], tr)
	if (op == "MaxPool" || op == "Dropout") && len(n.GetOutput()) > 1 && n.Output[1] != "" {
		// The unused Indices or mask has the data's shape.
		t.record(channelEdit{kind: editValueInfo, space: tr.space, value: n.Output[1], axis: tr.axis, e: tr.e})
	}
}

// normParams checks BatchNormalization's scale, B, mean and var, or
// InstanceNormalization's scale and B: per-channel initializers the
// rewrite slices. It returns why not, or "".
func (t *channelTrace) normParams(n *onnxpb.NodeProto, tr channelTrack) string {
	if tr.axis != 1 {
		return "channel axis is not 1"
	}
	last := 2
	if n.GetOpType() == "BatchNormalization" {
		last = 4
		if nodeAttrInt(n, "training_mode", 0) != 0 {
			return "training mode"
		}
	}
	if len(n.GetInput()) != last+1 {
		return fmt.Sprintf("%d inputs, want %d", len(n.GetInput()), last+1)
	}
	want := int64(t.channels(tr.space) * tr.e)
	for i := 1; i <= last; i++ {
		p := t.constant(n.Input[i])
		if p == nil {
			return fmt.Sprintf("parameter %s is not an initializer", n.Input[i])
		}
		if d := p.GetDims(); len(d) != 1 || d[0] != want {
			return fmt.Sprintf("parameter %s has shape %v, want [%d]", p.GetName(), d, want)
		}
	}
	for i := 1; i <= last; i++ {
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: i, axis: 0, e: tr.e})
	}
	return ""
}

// padTouches returns why Pad n may pad the channel axis, or "" when its
// constant pads leave that axis alone.
func (t *channelTrace) padTouches(n *onnxpb.NodeProto, tr channelTrack) string {
	var pads []int64
	switch {
	case len(n.GetInput()) > 1 && n.Input[1] != "":
		c := t.constant(n.Input[1])
		if c == nil {
			return "pads are not an initializer"
		}
		v, err := constInt64s(c)
		if err != nil {
			return err.Error()
		}
		pads = v
	case nodeAttr(n, "pads") != nil:
		pads = nodeAttr(n, "pads").GetInts()
	case nodeAttr(n, "paddings") != nil:
		pads = nodeAttr(n, "paddings").GetInts()
	default:
		return "no pads"
	}
	axes := make([]int64, tr.rank)
	for i := range axes {
		axes[i] = int64(i)
	}
	if len(n.GetInput()) > 3 && n.Input[3] != "" {
		c := t.constant(n.Input[3])
		if c == nil {
			return "axes are not an initializer"
		}
		v, err := constInt64s(c)
		if err != nil {
			return err.Error()
		}
		axes = v
	}
	if len(pads) != 2*len(axes) {
		return fmt.Sprintf("%d pads for %d axes", len(pads), len(axes))
	}
	for i, a := range axes {
		if a < 0 {
			a += int64(tr.rank)
		}
		if a == int64(tr.axis) && (pads[i] != 0 || pads[i+len(axes)] != 0) {
			return "pads the channel axis"
		}
	}
	return ""
}

// resizeScales returns why Resize or Upsample n may scale the channel
// axis, or "" when constant scales keep it at 1.
func (t *channelTrace) resizeScales(n *onnxpb.NodeProto, tr channelTrack) string {
	if nodeAttr(n, "axes") != nil {
		return "axes attribute"
	}
	in := n.GetInput()
	scalesAt, sizesAt := 2, 3
	if n.GetOpType() == "Upsample" || len(in) == 2 {
		scalesAt, sizesAt = 1, -1
	}
	if sizesAt > 0 && len(in) > sizesAt && in[sizesAt] != "" {
		return "sizes fix the channel count"
	}
	var scales []float64
	switch {
	case len(in) > scalesAt && in[scalesAt] != "":
		c := t.constant(in[scalesAt])
		if c == nil {
			return "scales are not an initializer"
		}
		v, err := constFloats(c)
		if err != nil {
			return err.Error()
		}
		scales = v
	case nodeAttr(n, "scales") != nil:
		for _, f := range nodeAttr(n, "scales").GetFloats() {
			scales = append(scales, float64(f))
		}
	default:
		return "no scales"
	}
	if len(scales) != tr.rank || scales[tr.axis] != 1 {
		return "scales the channel axis"
	}
	return ""
}

// binary handles the broadcasting elementwise operators: tracked operands
// must carry their channels on the same output axis with the same
// expansion, and their spaces merge (a residual connection); constant
// operands are sliced when they vary along that axis; other operands
// must broadcast along it.
func (t *channelTrace) binary(n *onnxpb.NodeProto, ins []int) {
	outRank := 0
	for _, in := range n.GetInput() {
		if in == "" {
			continue
		}
		r := t.rankOf(in)
		if r < 0 {
			t.refuse(n, ins, fmt.Sprintf("rank of %s unknown", in))
			return
		}
		outRank = max(outRank, r)
	}
	first := t.tracked[n.Input[ins[0]]]
	axis := first.axis + outRank - first.rank
	root := first.space
	for _, i := range ins[1:] {
		tr := t.tracked[n.Input[i]]
		if tr.axis+outRank-tr.rank != axis || tr.e != first.e || t.channels(tr.space) != t.channels(first.space) {
			t.refuse(n, ins, "operands carry channels differently")
			return
		}
	}
	for _, i := range ins[1:] {
		root = t.union(root, t.tracked[n.Input[i]].space)
	}
	size := int64(t.channels(root) * first.e)
	for i, in := range n.GetInput() {
		if in == "" || slices.Contains(ins, i) {
			continue
		}
		dims := t.shapeOf(in)
		a := axis - (outRank - len(dims))
		if a < 0 || dims[a] == 1 {
			continue // broadcast along the channel axis
		}
		if c := t.constant(in); c != nil && dims[a] == size {
			t.record(channelEdit{kind: editSlice, space: root, node: n, input: i, axis: a, e: first.e})
			continue
		}
		t.refuse(n, ins, fmt.Sprintf("operand %s is not pruned with it", in))
		return
	}
	t.define(n.Output[0], channelTrack{space: root, axis: axis, rank: outRank, e: first.e})
}

// conv handles a Conv reading a tracked X: with group 1 it contracts the
// channels (its weight loses input channels); a depthwise Conv keeps
// them, losing the filters of removed channels.
func (t *channelTrace) conv(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	w := t.constant(nodeInput(n, 1))
	if w == nil {
		t.refuse(n, ins, "weight is not an initializer")
		return
	}
	dims := w.GetDims()
	if tr.axis != 1 || tr.rank != len(dims) {
		t.refuse(n, ins, "channel axis is not 1")
		return
	}
	cin := int64(t.channels(tr.space) * tr.e)
	group := nodeAttrInt(n, "group", 1)
	switch {
	case group == 1:
		if dims[1] != cin {
			t.refuse(n, ins, fmt.Sprintf("weight %s has %d input channels, want %d", w.GetName(), dims[1], cin))
			return
		}
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 1, axis: 1, e: tr.e})
	case group == cin && dims[1] == 1 && dims[0]%cin == 0:
		e := tr.e * int(dims[0]/cin)
		if b := nodeInput(n, 2); b != "" {
			c := t.constant(b)
			if c == nil || len(c.GetDims()) != 1 || c.GetDims()[0] != dims[0] {
				t.refuse(n, ins, fmt.Sprintf("bias %s is not an initializer of shape [%d]", b, dims[0]))
				return
			}
			t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 2, axis: 0, e: e})
		}
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 1, axis: 0, e: e})
		t.record(channelEdit{kind: editGroup, space: tr.space, node: n, e: tr.e})
		t.define(n.Output[0], channelTrack{space: tr.space, axis: 1, rank: tr.rank, e: e})
	default:
		t.refuse(n, ins, fmt.Sprintf("grouped convolution (group %d)", group))
	}
}

// convTranspose handles a ConvTranspose with group 1 reading a tracked X:
// its weight [C_in, C_out, k…] loses input channels along axis 0.
func (t *channelTrace) convTranspose(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	w := t.constant(nodeInput(n, 1))
	switch {
	case w == nil:
		t.refuse(n, ins, "weight is not an initializer")
	case nodeAttrInt(n, "group", 1) != 1:
		t.refuse(n, ins, "grouped convolution")
	case tr.axis != 1 || tr.rank != len(w.GetDims()):
		t.refuse(n, ins, "channel axis is not 1")
	case w.GetDims()[0] != int64(t.channels(tr.space)*tr.e):
		t.refuse(n, ins, fmt.Sprintf("weight %s has %d input channels", w.GetName(), w.GetDims()[0]))
	default:
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 1, axis: 0, e: tr.e})
	}
}

// gemm handles a Gemm reading a tracked A: B loses the rows (transB=0) or
// columns (transB=1) of removed channels.
func (t *channelTrace) gemm(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	b := t.constant(nodeInput(n, 1))
	k := 0
	if nodeAttrInt(n, "transB", 0) != 0 {
		k = 1
	}
	switch {
	case nodeAttrInt(n, "transA", 0) != 0:
		t.refuse(n, ins, "transA=1")
	case tr.axis != 1 || tr.rank != 2:
		t.refuse(n, ins, "channel axis is not 1")
	case b == nil || len(b.GetDims()) != 2:
		t.refuse(n, ins, "B is not a 2-D initializer")
	case b.GetDims()[k] != int64(t.channels(tr.space)*tr.e):
		t.refuse(n, ins, fmt.Sprintf("B %s has shape %v", b.GetName(), b.GetDims()))
	default:
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 1, axis: k, e: tr.e})
	}
}

// matMul handles a MatMul reading a tracked A whose channels are on its
// last axis: B [K, N] loses the rows of removed channels.
func (t *channelTrace) matMul(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	b := t.constant(nodeInput(n, 1))
	switch {
	case tr.axis != tr.rank-1:
		t.refuse(n, ins, "channel axis is not the last")
	case b == nil || len(b.GetDims()) != 2:
		t.refuse(n, ins, "B is not a 2-D initializer")
	case b.GetDims()[0] != int64(t.channels(tr.space)*tr.e):
		t.refuse(n, ins, fmt.Sprintf("B %s has shape %v", b.GetName(), b.GetDims()))
	default:
		t.record(channelEdit{kind: editSlice, space: tr.space, node: n, input: 1, axis: 0, e: tr.e})
	}
}

// flatten handles Flatten at the channel axis: the output's axis 1 holds
// each channel's values and every position after it, contiguous, so the
// expansion grows by the product of the later dimensions.
func (t *channelTrace) flatten(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	k := int(nodeAttrInt(n, "axis", 1))
	if k < 0 {
		k += tr.rank
	}
	if k != tr.axis {
		t.refuse(n, ins, fmt.Sprintf("flattens at axis %d, not at the channel axis %d", k, tr.axis))
		return
	}
	inner, ok := t.innerSize(n.Input[0], tr)
	if !ok {
		t.refuse(n, ins, fmt.Sprintf("shape of %s unknown (run prep with InferShapes)", n.Input[0]))
		return
	}
	t.define(n.Output[0], channelTrack{space: tr.space, axis: 1, rank: 2, e: tr.e * int(inner)})
}

// innerSize returns the product of the dimensions of name after the
// channel axis, and false when one is unknown.
func (t *channelTrace) innerSize(name string, tr channelTrack) (int64, bool) {
	dims := t.shapeOf(name)
	if len(dims) != tr.rank {
		return 0, false
	}
	inner := int64(1)
	for _, d := range dims[tr.axis+1:] {
		if d < 1 {
			return 0, false
		}
		inner *= d
	}
	return inner, true
}

// reshape handles a Reshape with a constant shape that keeps every axis
// before the channel axis and regroups the channel axis with the ones
// after it so that each channel's values stay one contiguous run along
// the same output axis: [N, C, H, W] → [N, C·H·W] (what Flatten does),
// [N, C, H, W] → [N, C, H·W], [N, C·H·W] → [N, C, H, W]. The shape entry
// at the channel axis is rewritten to the kept count unless it is −1 or a
// 0 that copies the input's (pruned) channel axis.
func (t *channelTrace) reshape(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	out, why := t.reshapeTrack(n, tr)
	if why != "" {
		t.refuse(n, ins, why)
		return
	}
	t.define(n.Output[0], out)
}

// reshapeTrack returns the track of Reshape n's output, or why the
// reshape cannot carry the channels. It records the shape edit.
func (t *channelTrace) reshapeTrack(n *onnxpb.NodeProto, tr channelTrack) (channelTrack, string) {
	c := t.constant(nodeInput(n, 1))
	if c == nil {
		return channelTrack{}, "shape is not an initializer"
	}
	shape, err := constInt64s(c)
	if err != nil {
		return channelTrack{}, err.Error()
	}
	in := t.shapeOf(n.Input[0])
	if len(in) != tr.rank {
		return channelTrack{}, fmt.Sprintf("shape of %s unknown (run prep with InferShapes)", n.Input[0])
	}
	a, size := tr.axis, int64(t.channels(tr.space)*tr.e)
	in[a] = size
	zeroCopies := nodeAttrInt(n, "allowzero", 0) == 0
	minus := slices.Index(shape, -1)
	switch {
	case len(shape) <= a:
		return channelTrack{}, "shape drops the channel axis"
	case minus >= 0 && slices.Contains(shape[minus+1:], -1):
		return channelTrack{}, "shape has several -1"
	}
	// Axes before the channel axis keep their size: 0 copies it, and a
	// −1 there resolves to it once the tail sizes agree (checked below).
	for i, s := range shape[:a] {
		if !(s == 0 && zeroCopies || s == -1 || s > 0 && s == in[i]) {
			return channelTrack{}, "shape changes an axis before the channel axis"
		}
	}
	// The input's tail, from the channel axis on, must be known.
	inTail := int64(1)
	for _, d := range in[a:] {
		if d < 1 {
			return channelTrack{}, fmt.Sprintf("shape of %s unknown (run prep with InferShapes)", n.Input[0])
		}
		inTail *= d
	}
	out := slices.Clone(shape[a:])
	known := int64(1)
	for i, s := range out {
		switch {
		case s == 0 && zeroCopies && a+i < len(in):
			out[i] = in[a+i]
		case s == 0 || s < -1:
			return channelTrack{}, "shape has a zero or invalid entry"
		}
		if out[i] > 0 {
			known *= out[i]
		}
	}
	if minus >= a {
		if inTail%known != 0 {
			return channelTrack{}, "shape does not match the input's size"
		}
		out[minus-a] = inTail / known
	} else if known != inTail {
		return channelTrack{}, "shape regroups axes across the channel axis"
	}
	// Channel c is input positions [c·e·S, (c+1)·e·S) of the flattened
	// tail (S: the input's size after the channel axis); with T the
	// output's, they are output indices [c·e·S/T, (c+1)·e·S/T) along the
	// channel axis: contiguous when T divides e·S.
	sIn, sOut := inTail/size, inTail/out[0]
	if (int64(tr.e)*sIn)%sOut != 0 {
		return channelTrack{}, "shape splits channels"
	}
	e := int(int64(tr.e) * sIn / sOut)
	if shape[a] > 0 {
		t.record(channelEdit{kind: editReshape, space: tr.space, node: n, input: 1, axis: a, e: e})
	}
	return channelTrack{space: tr.space, axis: a, rank: len(shape), e: e}, ""
}

// squeeze handles Squeeze and Unsqueeze with constant axes that leave the
// channel axis in place; the channel axis moves to its new position.
func (t *channelTrace) squeeze(n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	var axes []int64
	switch {
	case nodeInput(n, 1) != "":
		c := t.constant(n.Input[1])
		if c == nil {
			t.refuse(n, ins, "axes are not an initializer")
			return
		}
		v, err := constInt64s(c)
		if err != nil {
			t.refuse(n, ins, err.Error())
			return
		}
		axes = v
	case nodeAttr(n, "axes") != nil:
		axes = nodeAttr(n, "axes").GetInts()
	default:
		// Without axes Squeeze drops every size-1 axis, which would take
		// the channel axis with it if pruning left one channel.
		t.refuse(n, ins, "no axes")
		return
	}
	out := tr
	if n.GetOpType() == "Squeeze" {
		out.rank = tr.rank - len(axes)
		for _, x := range axes {
			if x < 0 {
				x += int64(tr.rank)
			}
			if x == int64(tr.axis) {
				t.refuse(n, ins, "squeezes the channel axis")
				return
			}
			if x < int64(tr.axis) {
				out.axis--
			}
		}
	} else {
		out.rank = tr.rank + len(axes)
		inserted := make(map[int64]bool)
		for _, x := range axes {
			if x < 0 {
				x += int64(out.rank)
			}
			inserted[x] = true
		}
		seen := 0
		for p := 0; p < out.rank; p++ {
			if inserted[int64(p)] {
				continue
			}
			if seen == tr.axis {
				out.axis = p
				break
			}
			seen++
		}
	}
	t.define(n.Output[0], out)
}

// concat handles a Concat along the channel axis of its tracked inputs:
// its output is segmented, each input a run of the concatenated axis (an
// FPN's fused features, a DenseNet block). Every input must have a known
// width along the axis.
// concat joins its inputs along the channel axis into a segmented value:
// each tracked input (at ins) a segment of its space, each segmented
// input (an earlier Concat's output, DenseNet's growing stack) its
// segments moved to their new offset, anything else a fixed run. refuse
// blocks what the inputs carry when the Concat cannot be followed.
func (t *channelTrace) concat(n *onnxpb.NodeProto, ins []int, refuse func(string)) {
	axis, rank := -1, 0
	for _, in := range n.GetInput() {
		if tr, ok := t.tracked[in]; ok && in != "" {
			axis, rank = tr.axis, tr.rank
			break
		}
		if sv, ok := t.segmented[in]; ok && in != "" {
			axis, rank = sv.axis, sv.rank
			break
		}
	}
	a := int(nodeAttrInt(n, "axis", 0))
	if a < 0 {
		a += rank
	}
	if a != axis || len(n.GetOutput()) != 1 || n.Output[0] == "" {
		refuse("concatenates along another axis than the channels")
		return
	}
	sv := segmentedValue{axis: axis, rank: rank}
	offset := 0
	for i, in := range n.GetInput() {
		if tr, ok := t.tracked[in]; ok && slices.Contains(ins, i) {
			if tr.axis != axis || tr.rank != rank {
				refuse("inputs carry channels differently")
				return
			}
			w := t.channels(tr.space) * tr.e
			sv.segments = append(sv.segments, channelSegment{space: tr.space, e: tr.e, offset: offset, width: w})
			offset += w
			continue
		}
		if inner, ok := t.segmented[in]; ok && in != "" {
			if inner.axis != axis || inner.rank != rank {
				refuse("inputs carry channels differently")
				return
			}
			w := 0
			for _, sg := range inner.segments {
				sg.offset += offset
				sv.segments = append(sv.segments, sg)
				w += sg.width
			}
			offset += w
			continue
		}
		dims := t.shapeOf(in)
		if len(dims) != rank || dims[axis] < 1 {
			refuse(fmt.Sprintf("width of %s along the channel axis unknown", in))
			return
		}
		sv.segments = append(sv.segments, channelSegment{space: -1, offset: offset, width: int(dims[axis])})
		offset += int(dims[axis])
	}
	if why := t.defineSegmented(n.Output[0], sv); why != "" {
		refuse(why)
	}
}

// defineSegmented records out as carrying sv, or returns why it cannot
// (a graph output, or read inside a subgraph).
func (t *channelTrace) defineSegmented(out string, sv segmentedValue) string {
	if t.idx.IsOutput(out) {
		return "output reaches graph output " + out
	}
	for _, u := range t.idx.Consumers(out) {
		if u.Input == graph.Implicit {
			return fmt.Sprintf("read inside a subgraph of %s %s", u.Node.GetOpType(), channelNodeLabel(u.Node))
		}
	}
	t.segmented[out] = sv
	for _, sg := range sv.segments {
		if sg.space >= 0 {
			// The segmented value's declared width is no longer known
			// per space: its shape is dropped where a space shrinks.
			t.record(channelEdit{kind: editValueInfo, space: sg.space, value: out, axis: sv.axis})
		}
	}
	return ""
}

// segmentPassThrough lists the ops that carry a Concat's segments to
// their output unchanged: channel-wise activations and pools (and
// BatchNormalization, whose parameters are sliced per segment).
var segmentPassThrough = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true,
	"HardSigmoid": true, "HardSwish": true, "Elu": true, "Selu": true,
	"Celu": true, "ThresholdedRelu": true, "Softplus": true, "Softsign": true,
	"Mish": true, "Gelu": true, "Erf": true, "Clip": true, "Dropout": true,
	"Identity": true, "Cast": true, "Neg": true, "Abs": true,
	"MaxPool": true, "AveragePool": true, "LpPool": true,
	"GlobalAveragePool": true, "GlobalMaxPool": true, "GlobalLpPool": true,
	"BatchNormalization": true,
}

// passSegments carries sv through n (a segmentPassThrough op reading it
// as input 0), or returns why not.
func (t *channelTrace) passSegments(n *onnxpb.NodeProto, sv segmentedValue) string {
	for i, in := range n.GetInput()[1:] {
		if _, ok := t.tracked[in]; ok && in != "" {
			return fmt.Sprintf("input %d is tracked too", i+1)
		}
		if _, ok := t.segmented[in]; ok && in != "" {
			return fmt.Sprintf("input %d is a Concat's output too", i+1)
		}
	}
	op := n.GetOpType()
	if strings.HasSuffix(op, "Pool") && (sv.axis != 1 || sv.rank < 3) {
		return "channel axis is not 1"
	}
	if why := t.extraOutputs(n); why != "" {
		return why
	}
	if op == "BatchNormalization" {
		if sv.axis != 1 || nodeAttrInt(n, "training_mode", 0) != 0 || len(n.GetInput()) != 5 {
			return "not an inference-mode BatchNormalization along axis 1"
		}
		total := 0
		for _, sg := range sv.segments {
			total += sg.width
		}
		for i := 1; i <= 4; i++ {
			p := t.constant(n.Input[i])
			if p == nil {
				return fmt.Sprintf("parameter %s is not an initializer", n.Input[i])
			}
			if d := p.GetDims(); len(d) != 1 || d[0] != int64(total) {
				return fmt.Sprintf("parameter %s has shape %v, want [%d]", p.GetName(), d, total)
			}
		}
		for _, sg := range sv.segments {
			if sg.space < 0 {
				continue
			}
			for i := 1; i <= 4; i++ {
				t.record(channelEdit{kind: editSlice, space: sg.space, node: n, input: i, axis: 0, e: sg.e, offset: sg.offset, width: sg.width})
			}
		}
	}
	if why := t.defineSegmented(n.Output[0], sv); why != "" {
		return why
	}
	if (op == "MaxPool" || op == "Dropout") && len(n.GetOutput()) > 1 && n.Output[1] != "" {
		for _, sg := range sv.segments {
			if sg.space >= 0 {
				t.record(channelEdit{kind: editValueInfo, space: sg.space, value: n.Output[1], axis: sv.axis})
			}
		}
	}
	return ""
}

// readSegmented handles a node reading a Concat's segmented output: a
// group-1 Conv reading it as X loses, per segment, the input channels of
// that segment's removed channels; any other reader blocks every segment.
// It reports whether n read a segmented value.
func (t *channelTrace) readSegmented(n *onnxpb.NodeProto) bool {
	var at []int
	for i, in := range n.GetInput() {
		if _, ok := t.segmented[in]; ok && in != "" {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return false
	}
	sv := t.segmented[n.Input[at[0]]]
	block := func(why string) {
		reason := fmt.Sprintf("read by %s %s after a Concat", channelOpName(n), channelNodeLabel(n))
		if why != "" {
			reason += ": " + why
		}
		for _, i := range at {
			for _, sg := range t.segmented[n.Input[i]].segments {
				if sg.space >= 0 {
					t.block(sg.space, reason)
				}
			}
		}
	}
	w := t.constant(nodeInput(n, 1))
	def := isDefaultDomain(n.GetDomain())
	switch {
	case def && n.GetOpType() == "Concat":
		var ins []int
		for i, in := range n.GetInput() {
			if _, ok := t.tracked[in]; ok && in != "" {
				ins = append(ins, i)
			}
		}
		t.concat(n, ins, func(why string) {
			block(why)
			t.refuse(n, ins, why)
		})
		return true
	case def && segmentPassThrough[n.GetOpType()] && len(at) == 1 && at[0] == 0:
		if why := t.passSegments(n, sv); why != "" {
			block(why)
		}
	case !def || n.GetOpType() != "Conv" || len(at) != 1 || at[0] != 0:
		block("")
	case nodeAttrInt(n, "group", 1) != 1:
		block("grouped convolution")
	case w == nil || len(w.GetDims()) != sv.rank || sv.axis != 1:
		block("weight is not an initializer of the input's rank")
	default:
		total := 0
		for _, sg := range sv.segments {
			total += sg.width
		}
		if w.GetDims()[1] != int64(total) {
			block(fmt.Sprintf("weight %s has %d input channels, want %d", w.GetName(), w.GetDims()[1], total))
			break
		}
		for _, sg := range sv.segments {
			if sg.space >= 0 {
				t.record(channelEdit{kind: editSlice, space: sg.space, node: n, input: 1, axis: 1, e: sg.e, offset: sg.offset, width: sg.width})
			}
		}
	}
	// Other tracked inputs of n (none for a Conv's X) are refused.
	var rest []int
	for i, in := range n.GetInput() {
		if _, ok := t.tracked[in]; ok && in != "" {
			rest = append(rest, i)
		}
	}
	if len(rest) > 0 {
		t.refuse(n, rest, "reads a Concat's output too")
	}
	return true
}
