package prune

import (
	"fmt"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// This file holds what the channel tracer (channel_trace.go) knows of each
// operator: one entry of channelOps per default-domain op type. Adding an
// operator the tracer follows is adding an entry; an operator without one
// blocks the channels it reads.

// channelOp is how the tracer treats one op type. A nil field is the
// default: not a producer, refuses tracked inputs, blocks segments.
type channelOp struct {
	// source makes the op a producer: it places the output channels of a
	// node whose input 1 is the initializer weight of dimensions dims, or
	// reports false when this node does not open a space.
	source func(t *channelTrace, n *onnxpb.NodeProto, dims []int64) (sourceLayout, bool)
	// read handles a node reading tracked values at input positions ins:
	// it defines what the node's outputs carry and records the edits, or
	// refuses.
	read func(t *channelTrace, n *onnxpb.NodeProto, ins []int)
	// readSegments handles a node reading a Concat's segmented output at
	// input positions at (block blocks every segment read). It reports
	// whether it also handled the node's tracked inputs; otherwise they
	// are refused.
	readSegments func(t *channelTrace, n *onnxpb.NodeProto, at []int, block func(string)) bool
}

// sourceLayout places a producer's output channels: along weightAxis of
// its weight, and along axis of its output of rank rank (< 1: unknown).
type sourceLayout struct{ weightAxis, rank, axis int }

// channelWise describes an operator that acts on each channel alone with
// a single data input, so its output carries the input's space unchanged.
type channelWise struct {
	// spatial: the channels must be on axis 1 of a tensor of rank ≥ 3
	// (pools).
	spatial bool
	// mask: a second output (MaxPool's Indices, Dropout's mask) may be
	// present, unread, and has the data's shape.
	mask bool
	// check returns why n cannot carry tr, or "", and records the edits
	// of n's per-channel parameters.
	check func(t *channelTrace, n *onnxpb.NodeProto, tr channelTrack) string
	// segments: the op also carries a Concat's segments to its output;
	// segmentCheck is then what check is for one space.
	segments     bool
	segmentCheck func(t *channelTrace, n *onnxpb.NodeProto, sv segmentedValue) string
}

// The entries op families share: channel-wise activations, pools, and
// broadcasting elementwise operators.
var (
	activation  = channelWise{segments: true}.op()
	pool        = channelWise{spatial: true, segments: true}.op()
	elementwise = channelOp{read: (*channelTrace).binary}
)

// channelOps maps a default-domain op type to how the tracer treats it.
var channelOps = map[string]channelOp{
	// Producers, which also contract the channels they read.
	"Conv":   {source: convSource, read: (*channelTrace).conv, readSegments: firstSegment((*channelTrace).convSegments)},
	"Gemm":   {source: gemmSource, read: (*channelTrace).gemm},
	"MatMul": {source: matMulSource, read: (*channelTrace).matMul},
	// Contracts the channels it reads.
	"ConvTranspose": {read: (*channelTrace).convTranspose},
	// Moves the channel axis or regroups it.
	"Flatten":   {read: (*channelTrace).flatten},
	"Reshape":   {read: (*channelTrace).reshape},
	"Squeeze":   {read: (*channelTrace).squeeze},
	"Unsqueeze": {read: (*channelTrace).squeeze},
	"Concat":    {read: (*channelTrace).concatTracked, readSegments: (*channelTrace).concatSegments},
	// Broadcasting elementwise: operands share the space or broadcast
	// along it.
	"Add": elementwise, "Sub": elementwise, "Mul": elementwise, "Div": elementwise,
	"Max": elementwise, "Min": elementwise, "Sum": elementwise, "Mean": elementwise,
	"Pow": elementwise, "PRelu": elementwise,
	// Channel-wise.
	"Relu": activation, "LeakyRelu": activation, "Sigmoid": activation, "Tanh": activation,
	"HardSigmoid": activation, "HardSwish": activation, "Elu": activation, "Selu": activation,
	"Celu": activation, "ThresholdedRelu": activation, "Softplus": activation, "Softsign": activation,
	"Mish": activation, "Gelu": activation, "Erf": activation, "Clip": activation,
	"Identity": activation, "Cast": activation, "Neg": activation, "Abs": activation,
	"Dropout":     channelWise{mask: true, segments: true}.op(),
	"Sqrt":        channelWise{}.op(),
	"Exp":         channelWise{}.op(),
	"Log":         channelWise{}.op(),
	"Reciprocal":  channelWise{}.op(),
	"MaxPool":     channelWise{spatial: true, mask: true, segments: true}.op(),
	"AveragePool": pool, "LpPool": pool,
	"GlobalAveragePool": pool, "GlobalMaxPool": pool, "GlobalLpPool": pool,
	"BatchNormalization": channelWise{
		check:    (*channelTrace).normParams,
		segments: true, segmentCheck: (*channelTrace).normSegments,
	}.op(),
	"InstanceNormalization": channelWise{check: (*channelTrace).normParams}.op(),
	"Pad":                   channelWise{check: (*channelTrace).padTouches}.op(),
	"Resize":                channelWise{check: (*channelTrace).resizeScales}.op(),
	"Upsample":              channelWise{check: (*channelTrace).resizeScales}.op(),
}

// channelOpOf returns n's entry in channelOps; the zero channelOp for an
// operator outside the default domain or without one.
func channelOpOf(n *onnxpb.NodeProto) channelOp {
	if !graph.IsDefaultDomain(n.GetDomain()) {
		return channelOp{}
	}
	return channelOps[n.GetOpType()]
}

// sourceOpTypes lists, sorted, the op types that can open a space.
func sourceOpTypes() []string {
	var out []string
	for op, e := range channelOps {
		if e.source != nil {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}

// convSource: a Conv with group 1 and a weight [M, C/group, k…] opens its
// M output channels, axis 1 of its output.
func convSource(_ *channelTrace, n *onnxpb.NodeProto, dims []int64) (sourceLayout, bool) {
	if nodeAttrInt(n, "group", 1) != 1 || len(dims) < 3 {
		return sourceLayout{}, false
	}
	return sourceLayout{weightAxis: 0, rank: len(dims), axis: 1}, true
}

// gemmSource: a Gemm with a 2-D B opens its N output columns, B's axis 1
// (axis 0 with transB).
func gemmSource(_ *channelTrace, n *onnxpb.NodeProto, dims []int64) (sourceLayout, bool) {
	if len(dims) != 2 {
		return sourceLayout{}, false
	}
	l := sourceLayout{weightAxis: 1, rank: 2, axis: 1}
	if nodeAttrInt(n, "transB", 0) != 0 {
		l.weightAxis = 0
	}
	return l, true
}

// matMulSource: a MatMul with a 2-D B [K, N] opens N, the last axis of
// its output, whose rank is the declared one or else A's.
func matMulSource(t *channelTrace, n *onnxpb.NodeProto, dims []int64) (sourceLayout, bool) {
	if len(dims) != 2 {
		return sourceLayout{}, false
	}
	rank := t.rankOf(n.Output[0])
	if rank < 0 {
		if ra := t.rankOf(n.Input[0]); ra >= 2 {
			rank = ra
		} else if ra == 1 {
			rank = 1
		}
	}
	return sourceLayout{weightAxis: 1, rank: rank, axis: rank - 1}, true
}

// op makes the registry entry of a channel-wise operator.
func (w channelWise) op() channelOp {
	o := channelOp{read: w.read}
	if w.segments {
		o.readSegments = firstSegment(w.passSegments)
	}
	return o
}

// read carries the space of n's input 0 to its output 0.
func (w channelWise) read(t *channelTrace, n *onnxpb.NodeProto, ins []int) {
	if !t.onlyFirst(n, ins) {
		return
	}
	tr := t.tracked[n.Input[0]]
	if w.spatial && (tr.axis != 1 || tr.rank < 3) {
		t.refuse(n, ins, "channel axis is not 1")
		return
	}
	if w.check != nil {
		if why := w.check(t, n, tr); why != "" {
			t.refuse(n, ins, why)
			return
		}
	}
	if why := t.extraOutputs(n); why != "" {
		t.refuse(n, ins, why)
		return
	}
	t.define(n.Output[0], tr)
	if w.mask && len(n.GetOutput()) > 1 && n.Output[1] != "" {
		// The unused Indices or mask has the data's shape.
		t.record(channelEdit{kind: editValueInfo, space: tr.space, value: n.Output[1], axis: tr.axis, e: tr.e})
	}
}

// passSegments carries sv through n, which reads it as input 0, or
// returns why not.
func (w channelWise) passSegments(t *channelTrace, n *onnxpb.NodeProto, sv segmentedValue) string {
	for i, in := range n.GetInput()[1:] {
		if _, ok := t.tracked[in]; ok && in != "" {
			return fmt.Sprintf("input %d is tracked too", i+1)
		}
		if _, ok := t.segmented[in]; ok && in != "" {
			return fmt.Sprintf("input %d is a Concat's output too", i+1)
		}
	}
	if w.spatial && (sv.axis != 1 || sv.rank < 3) {
		return "channel axis is not 1"
	}
	if why := t.extraOutputs(n); why != "" {
		return why
	}
	if w.segmentCheck != nil {
		if why := w.segmentCheck(t, n, sv); why != "" {
			return why
		}
	}
	if why := t.defineSegmented(n.Output[0], sv); why != "" {
		return why
	}
	if w.mask && len(n.GetOutput()) > 1 && n.Output[1] != "" {
		for _, sg := range sv.segments {
			if sg.space >= 0 {
				t.record(channelEdit{kind: editValueInfo, space: sg.space, value: n.Output[1], axis: sv.axis})
			}
		}
	}
	return ""
}

// firstSegment makes a segment reader of pass, which handles a node
// reading one segmented value as its input 0 and returns why it cannot
// carry it, or "". Segments read elsewhere are blocked.
func firstSegment(pass func(t *channelTrace, n *onnxpb.NodeProto, sv segmentedValue) string) func(*channelTrace, *onnxpb.NodeProto, []int, func(string)) bool {
	return func(t *channelTrace, n *onnxpb.NodeProto, at []int, block func(string)) bool {
		if len(at) != 1 || at[0] != 0 {
			block("")
		} else if why := pass(t, n, t.segmented[n.Input[0]]); why != "" {
			block(why)
		}
		return false
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

// normSegments checks an inference-mode BatchNormalization along axis 1
// reading a Concat's segments: each parameter spans every segment, and
// is sliced per pruned segment. It returns why not, or "".
func (t *channelTrace) normSegments(n *onnxpb.NodeProto, sv segmentedValue) string {
	if sv.axis != 1 || nodeAttrInt(n, "training_mode", 0) != 0 || len(n.GetInput()) != 5 {
		return "not an inference-mode BatchNormalization along axis 1"
	}
	total := sv.width()
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

// convSegments handles a group-1 Conv reading a Concat's segments as X:
// its weight loses, per segment, the input channels of that segment's
// removed channels. It returns why not, or "".
func (t *channelTrace) convSegments(n *onnxpb.NodeProto, sv segmentedValue) string {
	w := t.constant(nodeInput(n, 1))
	switch {
	case nodeAttrInt(n, "group", 1) != 1:
		return "grouped convolution"
	case w == nil || len(w.GetDims()) != sv.rank || sv.axis != 1:
		return "weight is not an initializer of the input's rank"
	case w.GetDims()[1] != int64(sv.width()):
		return fmt.Sprintf("weight %s has %d input channels, want %d", w.GetName(), w.GetDims()[1], sv.width())
	}
	for _, sg := range sv.segments {
		if sg.space >= 0 {
			t.record(channelEdit{kind: editSlice, space: sg.space, node: n, input: 1, axis: 1, e: sg.e, offset: sg.offset, width: sg.width})
		}
	}
	return ""
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

// concat joins a Concat's inputs along the channel axis into a segmented
// value (an FPN's fused features, a DenseNet block): each tracked input
// (at ins) a segment of its space, each segmented input (an earlier
// Concat's output, DenseNet's growing stack) its segments moved to their
// new offset, anything else a fixed run, whose width along the axis must
// be known. refuse blocks what the inputs carry when the Concat cannot be
// followed.
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

// concatTracked handles a Concat reading tracked values at ins.
func (t *channelTrace) concatTracked(n *onnxpb.NodeProto, ins []int) {
	t.concat(n, ins, func(why string) { t.refuse(n, ins, why) })
}

// concatSegments handles a Concat reading segmented values (and any
// tracked ones): when it cannot be followed, both are blocked.
func (t *channelTrace) concatSegments(n *onnxpb.NodeProto, _ []int, block func(string)) bool {
	ins := t.trackedInputs(n)
	t.concat(n, ins, func(why string) {
		block(why)
		t.refuse(n, ins, why)
	})
	return true
}
