package prep

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// FoldBatchNorm folds inference-mode BatchNormalization nodes into the Conv
// or ConvTranspose that feeds them, in g and in its subgraphs, and returns
// how many it folded. With s = γ/√(σ²+ε) per output channel, the weights
// become W·s and the bias (b − μ)·s + β (b = 0 when the convolution had no
// bias, which it then gains); the BatchNormalization node goes away and the
// convolution takes over its output name, so readers of the normalised
// value are untouched.
//
// A BatchNormalization is folded only when all of these hold, and skipped
// otherwise:
//   - its input is output 0 of a default-domain Conv or ConvTranspose of
//     the same graph, read by nothing else and not a graph output;
//   - it runs in inference mode (training_mode 0, is_test not 0, spatial
//     not 0, no attribute it does not know) and only its first output is
//     used;
//   - the convolution's weight and bias and the normalisation's scale,
//     B, mean and var are float32 initializers of the same graph, not graph
//     inputs (which a caller may override), and the per-channel ones have
//     one value per output channel.
//
// Weights are never modified in place: the new tensors replace the
// initializers of the same name when only this convolution reads them, and
// otherwise get new names that appear nowhere in g. Initializers left
// unused stay for graph.EliminateDeadCode to remove.
//
// It returns an error, changing nothing, if g is nil, holds a nil node, or
// a tensor it would fold cannot be decoded (external data not loaded,
// data that does not match its shape).
func FoldBatchNorm(g *onnxpb.GraphProto) (int, error) {
	if g == nil {
		return 0, errors.New("fold batchnorm: nil graph")
	}
	nm := graph.NewNamer(g)
	var plans []*foldPlan
	if err := planFolds(g, "", nm, &plans); err != nil {
		return 0, err
	}
	removed := make(map[*onnxpb.GraphProto]map[*onnxpb.NodeProto]bool)
	for _, p := range plans {
		if removed[p.g] == nil {
			removed[p.g] = make(map[*onnxpb.NodeProto]bool)
			// The list may share its array with another graph message (a
			// clone's, or the one graph.UpgradeOpset replaced).
			p.g.Initializer = slices.Clone(p.g.Initializer)
		}
		removed[p.g][p.bn] = true
		p.apply()
	}
	for sg, drop := range removed {
		removeNodes(sg, drop)
	}
	return len(plans), nil
}

// foldPlan is one fold, decided and computed; apply cannot fail.
type foldPlan struct {
	g        *onnxpb.GraphProto
	conv, bn *onnxpb.NodeProto
	// w and b are the new weight and bias; replaceW and replaceB say
	// whether they take the place of an initializer of the same name
	// rather than being added.
	w, b               *onnxpb.TensorProto
	replaceW, replaceB bool
}

func (p *foldPlan) apply() {
	putInitializer(p.g, p.w, p.replaceW)
	putInitializer(p.g, p.b, p.replaceB)
	p.conv.Input[1] = p.w.GetName()
	if len(p.conv.Input) < 3 {
		p.conv.Input = append(p.conv.Input, p.b.GetName())
	} else {
		p.conv.Input[2] = p.b.GetName()
	}
	old := p.conv.Output[0]
	p.conv.Output[0] = p.bn.Output[0]
	dropValueInfo(p.g, map[string]bool{old: true})
}

// planFolds finds the folds of g and its subgraphs and computes their
// tensors without changing anything.
func planFolds(g *onnxpb.GraphProto, where string, nm *graph.Namer, plans *[]*foldPlan) error {
	for i, n := range g.GetNode() {
		if n == nil {
			return fmt.Errorf("fold batchnorm: %snode #%d is nil", where, i)
		}
	}
	idx := graph.NewIndex(g)
	refs := newRefCounter(idx)
	for i, bn := range g.GetNode() {
		c := foldCandidate(idx, bn)
		if c == nil {
			continue
		}
		w, b, err := c.compute()
		if errors.Is(err, errNotFoldable) {
			continue
		}
		if err != nil {
			return fmt.Errorf("fold batchnorm: %s%s into %s: %w", where, nodeName(bn, i), nodeName(c.conv, idx.Position(c.conv)), err)
		}
		p := &foldPlan{g: g, conv: c.conv, bn: bn, w: w, b: b}
		wName := c.conv.Input[1]
		if refs.count(wName) == 1 {
			p.replaceW = true
			w.Name = wName
		} else {
			refs.release(wName)
			w.Name = nm.Name(wName + "_bnfold")
		}
		switch bName := c.biasName(); {
		case bName == "":
			b.Name = nm.Name(biasNameFor(wName))
		case refs.count(bName) == 1:
			p.replaceB = true
			b.Name = bName
		default:
			refs.release(bName)
			b.Name = nm.Name(bName + "_bnfold")
		}
		*plans = append(*plans, p)
	}
	for i, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			sgs := a.GetGraphs()
			if a.GetG() != nil {
				sgs = append([]*onnxpb.GraphProto{a.GetG()}, sgs...)
			}
			for _, sg := range sgs {
				if sg == nil {
					continue
				}
				if err := planFolds(sg, fmt.Sprintf("%s%s attribute %q: ", where, nodeName(n, i), a.GetName()), nm, plans); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// biasNameFor names a new bias after its weight: "conv1.weight" gives
// "conv1.bias", other names get "_bias" appended.
func biasNameFor(weight string) string {
	if base, ok := strings.CutSuffix(weight, "weight"); ok && base != "" {
		return base + "bias"
	}
	return weight + "_bias"
}

// candidate is a BatchNormalization that passed the structural checks,
// with the tensors its fold reads.
type candidate struct {
	conv                *onnxpb.NodeProto
	transpose           bool
	group               int64
	eps                 float64
	w, b                *onnxpb.TensorProto // b nil when the conv has no bias
	scale, beta, mu, vr *onnxpb.TensorProto
}

func (c *candidate) biasName() string {
	if c.b == nil {
		return ""
	}
	return c.b.GetName()
}

// foldCandidate returns the fold of bn, or nil when bn is not a
// BatchNormalization that can be folded.
func foldCandidate(idx *graph.Index, bn *onnxpb.NodeProto) *candidate {
	if bn.GetOpType() != "BatchNormalization" || !graph.IsDefaultDomain(bn.GetDomain()) {
		return nil
	}
	in, out := bn.GetInput(), bn.GetOutput()
	if len(in) != 5 || len(out) < 1 || out[0] == "" {
		return nil
	}
	for _, o := range out[1:] {
		if o != "" && idx.Used(o) {
			return nil
		}
	}
	c := &candidate{eps: 1e-5}
	for _, a := range bn.GetAttribute() {
		switch a.GetName() {
		case "epsilon":
			c.eps = float64(a.GetF())
		case "momentum", "consumed_inputs":
			// Training-only and legacy bookkeeping: no effect on inference.
		case "training_mode":
			if a.GetI() != 0 {
				return nil
			}
		case "is_test":
			if a.GetI() == 0 {
				return nil
			}
		case "spatial":
			if a.GetI() == 0 {
				return nil
			}
		default:
			return nil
		}
	}
	x := in[0]
	conv, pos := idx.Producer(x)
	if conv == nil || pos != 0 || !graph.IsDefaultDomain(conv.GetDomain()) || idx.IsOutput(x) || len(idx.Consumers(x)) != 1 {
		return nil
	}
	switch conv.GetOpType() {
	case "Conv":
	case "ConvTranspose":
		c.transpose = true
	default:
		return nil
	}
	c.conv = conv
	c.group = 1
	for _, a := range conv.GetAttribute() {
		if a.GetName() == "group" {
			c.group = a.GetI()
		}
	}
	weight := func(name string) *onnxpb.TensorProto { return floatWeight(idx, name) }
	ci := conv.GetInput()
	if len(ci) < 2 || len(ci) > 3 {
		return nil
	}
	if c.w = weight(ci[1]); c.w == nil || len(c.w.GetDims()) < 3 {
		return nil
	}
	if len(ci) == 3 && ci[2] != "" {
		if c.b = weight(ci[2]); c.b == nil {
			return nil
		}
	}
	for _, p := range []struct {
		dst  **onnxpb.TensorProto
		name string
	}{{&c.scale, in[1]}, {&c.beta, in[2]}, {&c.mu, in[3]}, {&c.vr, in[4]}} {
		if *p.dst = weight(p.name); *p.dst == nil {
			return nil
		}
	}
	m := c.channels()
	if m <= 0 {
		return nil
	}
	for _, t := range []*onnxpb.TensorProto{c.b, c.scale, c.beta, c.mu, c.vr} {
		if t != nil && (len(t.GetDims()) != 1 || t.GetDims()[0] != m) {
			return nil
		}
	}
	return c
}

// channels is the convolution's output channel count from its weight
// shape: [M, C/group, k...] for Conv, [C, M/group, k...] for ConvTranspose.
// It returns 0 for shapes that do not fit the layout.
func (c *candidate) channels() int64 {
	d := c.w.GetDims()
	for _, x := range d {
		if x < 1 {
			return 0
		}
	}
	if !c.transpose {
		return d[0]
	}
	if c.group < 1 || d[0]%c.group != 0 || d[1] > math.MaxInt32/c.group {
		return 0
	}
	return d[1] * c.group
}

// errNotFoldable is compute's answer for statistics a fold cannot
// reproduce exactly; the node is skipped, not an error.
var errNotFoldable = errors.New("not foldable")

// compute returns the folded weight and bias (unnamed).
func (c *candidate) compute() (w, b *onnxpb.TensorProto, err error) {
	vals := func(t *onnxpb.TensorProto) ([]float32, error) {
		x, err := tensor.FromProto(t)
		if err != nil {
			return nil, err
		}
		return tensor.Values[float32](x), nil
	}
	var gamma, beta, mu, vr, bias, wv []float32
	for _, p := range []struct {
		dst *[]float32
		t   *onnxpb.TensorProto
	}{{&gamma, c.scale}, {&beta, c.beta}, {&mu, c.mu}, {&vr, c.vr}, {&wv, c.w}} {
		if *p.dst, err = vals(p.t); err != nil {
			return nil, nil, err
		}
	}
	m := int(c.channels())
	bias = make([]float32, m)
	if c.b != nil {
		if bias, err = vals(c.b); err != nil {
			return nil, nil, err
		}
	}
	s := make([]float64, m)
	newBias := make([]float32, m)
	for o := range m {
		// A variance that is not positive after ε makes the node compute
		// NaN or ∞; leave that as the model wrote it.
		v := float64(vr[o]) + c.eps
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, nil, errNotFoldable
		}
		s[o] = float64(gamma[o]) / math.Sqrt(v)
		newBias[o] = float32((float64(bias[o])-float64(mu[o]))*s[o] + float64(beta[o]))
	}
	dims := c.w.GetDims()
	newW := make([]float32, len(wv))
	if !c.transpose {
		per := len(wv) / m
		for i, v := range wv {
			newW[i] = float32(float64(v) * s[i/per])
		}
	} else {
		// Input channel ci belongs to group ci/(C/group); its slice j of
		// dimension 1 feeds output channel group·(M/group) + j.
		mg := int(dims[1])
		cinPerGroup := int(dims[0] / c.group)
		per := len(wv) / (int(dims[0]) * mg)
		for i, v := range wv {
			ci, j := i/(mg*per), (i/per)%mg
			newW[i] = float32(float64(v) * s[(ci/cinPerGroup)*mg+j])
		}
	}
	wt, err := tensor.New(append([]int64{}, dims...), newW)
	if err != nil {
		return nil, nil, err
	}
	bt, err := tensor.New([]int64{int64(m)}, newBias)
	if err != nil {
		return nil, nil, err
	}
	if w, err = tensor.ToProto(wt, ""); err != nil {
		return nil, nil, err
	}
	if b, err = tensor.ToProto(bt, ""); err != nil {
		return nil, nil, err
	}
	return w, b, nil
}

// nodeName names a node for messages, as pkg/graph does.
func nodeName(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
	}
	return fmt.Sprintf("node #%d (%s)", i, n.GetOpType())
}

// ConvBatchNorm is a BatchNormalization that FoldBatchNorm would fold
// into the Conv feeding it.
type ConvBatchNorm struct {
	Conv, BN *onnxpb.NodeProto
	Epsilon  float64
}

// ConvBatchNorms lists the inference-mode BatchNormalization nodes of g
// (not of its subgraphs) that pass FoldBatchNorm's conditions with a Conv
// (not ConvTranspose) before them, in node order, changing nothing. A
// caller that must keep the weights apart (training, which learns W, b,
// scale and B separately) rewrites them itself.
func ConvBatchNorms(g *onnxpb.GraphProto) []ConvBatchNorm {
	idx := graph.NewIndex(g)
	var out []ConvBatchNorm
	for _, n := range g.GetNode() {
		if n == nil {
			continue
		}
		if c := foldCandidate(idx, n); c != nil && !c.transpose {
			out = append(out, ConvBatchNorm{Conv: c.conv, BN: n, Epsilon: c.eps})
		}
	}
	return out
}
