package prune

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// This file traces channel spaces: each producer (Conv, Gemm, MatMul with
// a constant weight) opens a space, its output channels, which flows
// forward through the operators that keep channels apart until consumers
// that contract it (the next Conv, Gemm or MatMul). Residual joins merge
// spaces; anything the tracer does not understand blocks the space. What
// it understands of each operator is its entry in channelOps
// (channel_ops.go). The trace only records edits; the rewrite
// (channel_rewrite.go) performs them for the spaces that end up pruned.

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
		ins := t.trackedInputs(n)
		if seg := t.readSegmented(n); len(ins) > 0 && !seg {
			t.consume(n, ins)
		}
		t.maybeSource(n, pos)
	}
	return t, nil
}

// trackedInputs returns the positions of n's inputs that carry a space.
func (t *channelTrace) trackedInputs(n *onnxpb.NodeProto) []int { return inputsIn(n, t.tracked) }

// inputsIn returns the positions of n's (non-empty) inputs that are keys
// of values.
func inputsIn[V any](n *onnxpb.NodeProto, values map[string]V) []int {
	var at []int
	for i, in := range n.GetInput() {
		if _, ok := values[in]; ok && in != "" {
			at = append(at, i)
		}
	}
	return at
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

// maybeSource opens a space for n when it is a producer: an operator
// with a source layout in channelOps (a default-domain Conv with group 1
// and an initializer weight of rank ≥ 3, or a Gemm or MatMul whose B is a
// 2-D initializer). Producers whose weight or bias the rewrite cannot
// slice still open a space, blocked, so that they show up as groups with
// a reason and block what they join.
func (t *channelTrace) maybeSource(n *onnxpb.NodeProto, pos int) {
	layout := channelOpOf(n).source
	if layout == nil || len(n.GetInput()) < 2 || len(n.GetOutput()) < 1 || n.GetOutput()[0] == "" {
		return
	}
	w := t.idx.Initializer(n.Input[1])
	if w == nil {
		return
	}
	dims := w.GetDims()
	l, ok := layout(t, n, dims)
	if !ok {
		return
	}
	s := &channelSource{
		node:    n,
		label:   channelNodeLabel(n),
		pos:     pos,
		space:   len(t.spaces),
		weight:  w,
		outAxis: l.weightAxis,
		params:  elementCount(dims),
	}
	t.spaces = append(t.spaces, &channelSpace{parent: s.space, channels: int(dims[s.outAxis])})
	t.sources = append(t.sources, s)

	switch {
	case t.idx.IsInput(w.GetName()):
		t.block(s.space, fmt.Sprintf("weight %s is a graph input", w.GetName()))
	case w.GetDataType() != int32(tensor.Float32):
		t.block(s.space, fmt.Sprintf("weight %s is %s, not float32", w.GetName(), tensor.DType(w.GetDataType())))
	case t.uses(w.GetName()) > 1:
		t.block(s.space, fmt.Sprintf("weight %s is shared", w.GetName()))
	case dims[s.outAxis] < 1:
		t.block(s.space, fmt.Sprintf("weight %s has no output channels", w.GetName()))
	}
	t.record(channelEdit{kind: editSlice, space: s.space, node: n, input: 1, axis: s.outAxis, e: 1})
	t.sourceBias(n, s)
	if l.rank < 1 {
		t.block(s.space, fmt.Sprintf("rank of %s unknown (run prep with InferShapes)", n.Output[0]))
		return
	}
	t.define(n.Output[0], channelTrack{space: s.space, axis: l.axis, rank: l.rank, e: 1})
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

// consume handles node n, which reads tracked values at input positions
// ins, as its entry in channelOps says; an operator without one blocks
// them.
func (t *channelTrace) consume(n *onnxpb.NodeProto, ins []int) {
	read := channelOpOf(n).read
	if read == nil {
		t.refuse(n, ins, "")
		return
	}
	read(t, n, ins)
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

// readSegmented handles a node reading a Concat's segmented output as its
// entry in channelOps says (a group-1 Conv reading it as X loses, per
// segment, the input channels of that segment's removed channels); an
// operator without a segment reader blocks every segment. It reports
// whether n read a segmented value.
func (t *channelTrace) readSegmented(n *onnxpb.NodeProto) bool {
	at := inputsIn(n, t.segmented)
	if len(at) == 0 {
		return false
	}
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
	read := channelOpOf(n).readSegments
	if read == nil {
		block("")
	} else if read(t, n, at, block) {
		return true
	}
	// Other tracked inputs of n (none for a Conv's X) are refused.
	if rest := t.trackedInputs(n); len(rest) > 0 {
		t.refuse(n, rest, "reads a Concat's output too")
	}
	return true
}

// width is the length of the concatenated axis.
func (sv segmentedValue) width() int {
	w := 0
	for _, sg := range sv.segments {
		w += sg.width
	}
	return w
}
