package prep

import (
	"errors"
	"fmt"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// FoldConvAdd moves constant per-channel Adds that follow a Conv or
// ConvTranspose into the convolution's bias, in g's main graph, and
// returns how many Adds it removed. Exporters such as CNTK's write the
// bias as a separate Add(conv, B[C,1,1]); as a bias it is quantized with
// the convolution and ONNX Runtime can fuse the quantized convolution.
// The convolution gains a bias (or its bias is summed with the Add's) and
// takes over the Add's output name, so readers of the sum are untouched.
// A chain of such Adds folds whole.
//
// An Add is folded only when all of these hold, and skipped otherwise:
//   - it is a default-domain Add without attributes that reads output 0
//     of the convolution (or of an Add folded before it), which nothing
//     else reads and which is not a graph output;
//   - its other input is a float32 initializer, not a graph input, whose
//     shape broadcasts against the convolution's output [N, C, ...] to
//     one value per channel or one value in all: after aligning the shapes
//     at the right, as ONNX broadcasting does, every dimension is 1 except
//     perhaps the channel axis, which is C. So [C,1,1], [1,C,1,1] and a
//     scalar qualify for a 2-D convolution, and [C] does not (it would
//     broadcast along the width);
//   - the convolution's weight, and its bias if it has one, are float32
//     initializers that are not graph inputs.
//
// Tensors are never modified in place: the new bias replaces the
// convolution's bias, or when it has none the first Add's initializer, of
// the same name when nothing else reads that, and otherwise gets a new
// name. Initializers left unused stay for graph.EliminateDeadCode to
// remove. A tensor that cannot be decoded (external data not loaded)
// leaves its Add alone.
//
// It returns an error, changing nothing, if g is nil or holds a nil node.
func FoldConvAdd(g *onnxpb.GraphProto) (int, error) {
	if g == nil {
		return 0, errors.New("fold conv add: nil graph")
	}
	for i, n := range g.GetNode() {
		if n == nil {
			return 0, fmt.Errorf("fold conv add: node #%d is nil", i)
		}
	}
	idx := graph.NewIndex(g)
	refs := newRefCounter(idx)
	nm := graph.NewNamer(g)
	var plans []*convAddPlan
	folded := 0
	for _, conv := range g.GetNode() {
		p := planConvAdd(idx, conv)
		if p == nil {
			continue
		}
		biases := p.addBiases
		switch wName := conv.Input[1]; {
		case p.oldBias != "":
			if refs.count(p.oldBias) == 1 {
				p.replace = true
				p.bias.Name = p.oldBias
			} else {
				refs.release(p.oldBias)
				p.bias.Name = nm.Name(p.oldBias + "_addfold")
			}
		case refs.count(biases[0]) == 1:
			// Its only reader is the Add that goes away.
			p.replace = true
			p.bias.Name = biases[0]
			biases = biases[1:]
		default:
			p.bias.Name = nm.Name(biasNameFor(wName))
		}
		for _, b := range biases {
			refs.release(b)
		}
		plans = append(plans, p)
		folded += len(p.adds)
	}
	if len(plans) == 0 {
		return 0, nil
	}
	g.Initializer = slices.Clone(g.Initializer)
	drop := make(map[*onnxpb.NodeProto]bool)
	gone := make(map[string]bool)
	for _, p := range plans {
		putInitializer(g, p.bias, p.replace)
		if p.replace {
			// Its shape may have changed ([C,1,1] → [C]).
			gone[p.bias.Name] = true
		}
		in := p.conv.Input
		if len(in) < 3 {
			p.conv.Input = append(in, p.bias.Name)
		} else {
			in[2] = p.bias.Name
		}
		gone[p.conv.Output[0]] = true
		for _, a := range p.adds {
			drop[a] = true
			gone[a.Output[0]] = true
		}
		last := p.adds[len(p.adds)-1].Output[0]
		p.conv.Output[0] = last
		delete(gone, last)
	}
	removeNodes(g, drop)
	dropValueInfo(g, gone)
	return folded, nil
}

// convAddPlan is one convolution's fold, decided and computed.
type convAddPlan struct {
	conv *onnxpb.NodeProto
	adds []*onnxpb.NodeProto
	// addBiases are the Adds' initializers, in chain order.
	addBiases []string
	// oldBias is the convolution's bias initializer, "" when it has none.
	oldBias string
	// bias is the new bias; replace says whether it takes the place of an
	// initializer of its name rather than being added.
	bias    *onnxpb.TensorProto
	replace bool
}

// planConvAdd returns the fold of the Adds after conv (bias unnamed), or
// nil when there is none.
func planConvAdd(idx *graph.Index, conv *onnxpb.NodeProto) *convAddPlan {
	c := &candidate{conv: conv, group: 1}
	switch conv.GetOpType() {
	case "Conv":
	case "ConvTranspose":
		c.transpose = true
	default:
		return nil
	}
	in, out := conv.GetInput(), conv.GetOutput()
	if !graph.IsDefaultDomain(conv.GetDomain()) || len(in) < 2 || len(in) > 3 || len(out) != 1 || out[0] == "" {
		return nil
	}
	if a := attr(conv, "group"); a != nil {
		c.group = a.GetI()
	}
	if c.w = floatWeight(idx, in[1]); c.w == nil || len(c.w.GetDims()) < 3 {
		return nil
	}
	m := c.channels()
	if m <= 0 {
		return nil
	}
	rank := len(c.w.GetDims()) // of the convolution's output too
	p := &convAddPlan{conv: conv}
	bias := make([]float32, m)
	if len(in) == 3 && in[2] != "" {
		b := floatWeight(idx, in[2])
		if b == nil || !slices.Equal(b.GetDims(), []int64{m}) {
			return nil
		}
		bt, err := tensor.FromProto(b)
		if err != nil {
			return nil
		}
		copy(bias, tensor.Values[float32](bt))
		p.oldBias = in[2]
	}
	cur := out[0]
	for !idx.IsOutput(cur) && len(idx.Consumers(cur)) == 1 {
		use := idx.Consumers(cur)[0]
		add := use.Node
		ai := add.GetInput()
		if add.GetOpType() != "Add" || !graph.IsDefaultDomain(add.GetDomain()) || len(add.GetAttribute()) != 0 ||
			use.Input == graph.Implicit || len(ai) != 2 || ai[0] == ai[1] || len(add.GetOutput()) != 1 || add.GetOutput()[0] == "" {
			break
		}
		other := ai[1-use.Input]
		t := floatWeight(idx, other)
		if t == nil || !channelBias(t.GetDims(), rank, m) {
			break
		}
		at, err := tensor.FromProto(t)
		if err != nil {
			break
		}
		v := tensor.Values[float32](at)
		for o := range bias {
			bias[o] += v[o%len(v)] // len(v) is m or 1
		}
		p.adds = append(p.adds, add)
		p.addBiases = append(p.addBiases, other)
		cur = add.GetOutput()[0]
	}
	if len(p.adds) == 0 {
		return nil
	}
	bt, err := tensor.New([]int64{m}, bias)
	if err != nil {
		return nil
	}
	if p.bias, err = tensor.ToProto(bt, ""); err != nil {
		return nil
	}
	return p
}

// channelBias reports whether a tensor of shape dims, added to a
// convolution output of rank rank with m channels, adds one value per
// channel or one value in all: aligned at the right, every dimension is 1
// but the channel axis (1), which is 1 or m.
func channelBias(dims []int64, rank int, m int64) bool {
	if len(dims) > rank {
		return false
	}
	for i, d := range dims {
		if axis := rank - len(dims) + i; d != 1 && (axis != 1 || d != m) {
			return false
		}
	}
	return true
}
