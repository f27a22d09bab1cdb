package prune

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Channel pruning: see the package documentation.

// ErrNothingPrunable is wrapped by PruneChannels' error when no group
// loses a channel.
var ErrNothingPrunable = errors.New("nothing to prune")

// Norm ranks channels by the norm of their producers' weights.
type Norm string

// Norms.
const (
	L1 Norm = "l1" // sum of absolute values
	L2 Norm = "l2" // Euclidean norm
)

// channelOpTypes are the producers considered when ChannelOptions.OpTypes
// is empty: every op type channelOps gives a source layout.
var channelOpTypes = sourceOpTypes()

// ChannelOptions configure ChannelGroups and PruneChannels.
type ChannelOptions struct {
	// Sparsity is the share of channels to remove in each group, in
	// [0, 1): 0 only with PerGroup, or for ChannelGroups to analyse. A
	// group removes round(Sparsity·C) channels and always keeps one.
	Sparsity float64
	// PerGroup gives the sparsity of groups by name, overriding Sparsity
	// (sensitivity analysis fills it). With Sparsity 0, groups absent from
	// a non-nil map are left alone. Names must be group names.
	PerGroup map[string]float64
	// Norm ranks channels; "" means L1.
	Norm Norm
	// Global ranks the channels of all groups together, each group's
	// importances divided by their mean, and removes round(Sparsity·total)
	// of the lowest, still keeping at least one channel per group. It
	// cannot be combined with PerGroup.
	Global bool
	// OpTypes are the producer op types considered; empty means Conv,
	// Gemm and MatMul. A group with a source of another type is
	// left alone.
	OpTypes []string
	// ExcludeNodes names producer nodes never pruned (by node name, or
	// "<op>:<first output>" for unnamed nodes); their groups are left
	// alone.
	ExcludeNodes []string
	// MinParams leaves alone groups whose sources' weights have fewer
	// elements in total.
	MinParams int64
	// KeepFirstLast leaves alone the group of the first and that of the
	// last prunable producer in topological order. Prunable here means
	// that the graph allows pruning its group and OpTypes selects it;
	// ExcludeNodes and MinParams do not move the first or the last.
	KeepFirstLast bool
}

// ChannelGroup is a set of producers whose output channels share one
// index space (joined by residual Add, Sub, Mul, …) and are pruned
// together.
type ChannelGroup struct {
	// Name is the name of the first source node in topological order
	// (a node without a name is called "<op>:<first output>").
	Name string `json:"name"`
	// Sources are the producer node names, in topological order.
	Sources []string `json:"sources"`
	// Channels is the channel count before pruning.
	Channels int `json:"channels"`
	// Kept is the channel count after (Channels when left alone).
	Kept int `json:"kept"`
	// Params counts the elements of the sources' weights.
	Params int64 `json:"params"`
	// Reason says why the group is left alone, when it is.
	Reason string `json:"reason,omitempty"`
	// FLOPs estimates, per sample, the work of the nodes whose channels
	// the group changes: its sources and the readers sliced with it (set
	// by the sensitivity analysis; 0 otherwise).
	FLOPs int64 `json:"flops,omitempty"`
	// Keep lists the original indices of the channels kept, ascending
	// (nil when the group is left alone).
	Keep []int `json:"-"`
	// Value names the last value (in node order) that carries the group's
	// channels along axis 1, one index per channel: the activation a
	// student built by pruning shares, channel for channel, with the
	// original ("" when there is none).
	Value string `json:"-"`
}

// ChannelResult is what PruneChannels did.
type ChannelResult struct {
	// Groups lists every candidate group, pruned or not, in topological
	// order of their first source.
	Groups []ChannelGroup
	// RemovedParams counts the initializer elements of the main graph
	// removed in total: sources, biases, normalisation parameters and
	// consumers' weights alike.
	RemovedParams int64
}

// ChannelGroups analyses m without modifying it and returns the groups
// PruneChannels would form, with the channels it would keep and why some
// are left alone. With Sparsity 0 and no PerGroup it only analyses:
// groups that the graph and the options allow to prune have no Reason
// and Kept equal to Channels. m should be prepared as for PruneChannels;
// without
// shapes in value_info, values whose layout needs them (Flatten, Reshape,
// MatMul inputs) block their groups.
//
// It returns an error for a nil model, a graph with a cycle or a nil
// node, invalid options, or weights of prunable groups that cannot be
// decoded.
func ChannelGroups(m *onnxpb.ModelProto, opts ChannelOptions) ([]ChannelGroup, error) {
	p, err := planChannels(m, opts, true)
	if err != nil {
		return nil, err
	}
	return p.report(), nil
}

// PruneChannels removes the lowest-norm output channels of every group
// that can be pruned and rewrites m in place: producers' weights and
// biases, normalisation parameters, per-channel constants, depthwise
// convolutions, Reshape shapes, consumers' weights and the value_info of
// every resized value. The graph's inputs and outputs do not change.
// Tensors are never modified in place: new TensorProto messages replace
// them, under the same name when only the rewritten node reads them.
//
// m must have been prepared by prep.Run with InferShapes (value_info holds
// every intermediate shape) and its weights must be initializers (prep's
// constants pass).
//
// It returns an error wrapping ErrNothingPrunable, naming the first
// reasons, when no group loses a channel; otherwise the errors of
// ChannelGroups. m is unchanged on error, except when the rewritten model
// fails graph.Validate, which would be a bug and is reported as such.
func PruneChannels(m *onnxpb.ModelProto, opts ChannelOptions) (*ChannelResult, error) {
	p, err := planChannels(m, opts, false)
	if err != nil {
		return nil, err
	}
	groups := p.report()
	if !slices.ContainsFunc(groups, func(g ChannelGroup) bool { return g.Kept < g.Channels }) {
		return nil, noChannelToPrune(groups)
	}
	removed, err := p.apply(m)
	if err != nil {
		return nil, err
	}
	return &ChannelResult{Groups: groups, RemovedParams: removed}, nil
}

// noChannelToPrune explains why no group loses a channel.
func noChannelToPrune(groups []ChannelGroup) error {
	if len(groups) == 0 {
		return fmt.Errorf("%w: the main graph has no Conv, Gemm or MatMul with a constant weight", ErrNothingPrunable)
	}
	const shown = 3
	var parts []string
	for _, g := range groups[:min(shown, len(groups))] {
		parts = append(parts, g.Name+": "+g.Reason)
	}
	if len(groups) > shown {
		parts = append(parts, fmt.Sprintf("and %d more", len(groups)-shown))
	}
	return fmt.Errorf("%w: %s", ErrNothingPrunable, strings.Join(parts, "; "))
}

// groupPlan is one group with its decision.
type groupPlan struct {
	root    int
	sources []*channelSource
	info    ChannelGroup
	// keep lists the kept channels in ascending order; nil when the group
	// is left alone.
	keep []int
}

// channelPlan is every group of a model and what to keep of each.
type channelPlan struct {
	t      *channelTrace
	groups []*groupPlan
}

func (p *channelPlan) report() []ChannelGroup {
	out := make([]ChannelGroup, len(p.groups))
	last := map[int]string{} // root → value
	lastPos := map[int]int{}
	for name, tr := range p.t.tracked {
		if tr.axis != 1 || tr.e != 1 {
			continue
		}
		n, _ := p.t.idx.Producer(name)
		if n == nil {
			continue
		}
		r, pos := p.t.find(tr.space), p.t.idx.Position(n)
		if old, ok := lastPos[r]; !ok || pos > old || (pos == old && name > last[r]) {
			last[r], lastPos[r] = name, pos
		}
	}
	for i, g := range p.groups {
		out[i] = g.info
		out[i].Sources = slices.Clone(g.info.Sources)
		out[i].Keep = slices.Clone(g.keep)
		out[i].Value = last[g.root]
	}
	return out
}

// checkChannelOptions validates opts and fills in defaults; analysis
// allows a zero sparsity without PerGroup.
func checkChannelOptions(opts ChannelOptions, analysis bool) (ChannelOptions, error) {
	switch opts.Norm {
	case "":
		opts.Norm = L1
	case L1, L2:
	default:
		return opts, fmt.Errorf("channel pruning: unknown norm %q (want l1 or l2)", opts.Norm)
	}
	if len(opts.OpTypes) == 0 {
		opts.OpTypes = channelOpTypes
	}
	if opts.Global && opts.PerGroup != nil {
		return opts, errors.New("channel pruning: Global ranking cannot be combined with per-group sparsity")
	}
	if math.IsNaN(opts.Sparsity) || opts.Sparsity < 0 || opts.Sparsity >= 1 {
		return opts, fmt.Errorf("channel pruning: sparsity %g is outside [0, 1)", opts.Sparsity)
	}
	if opts.Sparsity == 0 && opts.PerGroup == nil && !analysis {
		return opts, errors.New("channel pruning: sparsity 0 removes nothing (want a value in (0, 1))")
	}
	for name, s := range opts.PerGroup {
		if math.IsNaN(s) || s < 0 || s >= 1 {
			return opts, fmt.Errorf("channel pruning: sparsity %g of group %s is outside [0, 1)", s, name)
		}
	}
	if opts.MinParams < 0 {
		return opts, fmt.Errorf("channel pruning: MinParams %d is negative", opts.MinParams)
	}
	return opts, nil
}

// planChannels traces m and decides what each group keeps (see
// checkChannelOptions for analysis).
func planChannels(m *onnxpb.ModelProto, opts ChannelOptions, analysis bool) (*channelPlan, error) {
	if m == nil {
		return nil, errors.New("channel pruning: nil model")
	}
	opts, err := checkChannelOptions(opts, analysis)
	if err != nil {
		return nil, err
	}
	t, err := newChannelTrace(m)
	if err != nil {
		return nil, fmt.Errorf("channel pruning: %w", err)
	}
	p := &channelPlan{t: t}
	byRoot := make(map[int]*groupPlan)
	for _, s := range t.sources { // in topological order
		r := t.find(s.space)
		g := byRoot[r]
		if g == nil {
			g = &groupPlan{root: r, info: ChannelGroup{
				Name:     s.label,
				Channels: t.spaces[r].channels,
				Reason:   t.spaces[r].reason,
			}}
			byRoot[r] = g
			p.groups = append(p.groups, g)
		}
		g.sources = append(g.sources, s)
		g.info.Sources = append(g.info.Sources, s.label)
		g.info.Params += s.params
	}
	names := make(map[string]bool, len(p.groups))
	for _, g := range p.groups {
		names[g.info.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(opts.PerGroup)) {
		if !names[name] {
			return nil, fmt.Errorf("channel pruning: per-group sparsity names %q, which is not a group", name)
		}
	}
	p.filter(opts)
	if err := p.choose(opts); err != nil {
		return nil, err
	}
	for _, g := range p.groups {
		g.info.Kept = g.info.Channels
		if g.keep != nil {
			g.info.Kept = len(g.keep)
		}
	}
	return p, nil
}

// filter gives a reason to the groups the options leave alone.
func (p *channelPlan) filter(opts ChannelOptions) {
	leave := func(g *groupPlan, reason string) {
		if g.info.Reason == "" {
			g.info.Reason = reason
		}
	}
	for _, g := range p.groups {
		for _, s := range g.sources {
			if op := s.node.GetOpType(); !slices.Contains(opts.OpTypes, op) {
				leave(g, fmt.Sprintf("source %s is a %s, not among the op types %s", s.label, op, strings.Join(opts.OpTypes, ", ")))
			}
		}
	}
	if opts.KeepFirstLast {
		var first, last *groupPlan
		for _, g := range p.groups {
			if g.info.Reason != "" {
				continue
			}
			if first == nil || g.sources[0].pos < first.sources[0].pos {
				first = g
			}
			if last == nil || g.sources[len(g.sources)-1].pos > last.sources[len(last.sources)-1].pos {
				last = g
			}
		}
		if first != nil {
			leave(first, "first prunable layer (KeepFirstLast)")
			leave(last, "last prunable layer (KeepFirstLast)")
		}
	}
	for _, g := range p.groups {
		for _, s := range g.sources {
			if slices.Contains(opts.ExcludeNodes, s.label) {
				leave(g, fmt.Sprintf("source %s is excluded", s.label))
			}
		}
		if g.info.Params < opts.MinParams {
			leave(g, fmt.Sprintf("%d weight elements, fewer than MinParams %d", g.info.Params, opts.MinParams))
		}
		if g.info.Channels < 2 {
			leave(g, "a single channel")
		}
	}
}

// choose ranks the channels of the groups still prunable and sets keep.
// Without any sparsity (an analysis) it leaves them as they are.
func (p *channelPlan) choose(opts ChannelOptions) error {
	if opts.Sparsity == 0 && opts.PerGroup == nil {
		return nil
	}
	var live []*groupPlan
	imps := make(map[*groupPlan][]float64)
	for _, g := range p.groups {
		if g.info.Reason != "" {
			continue
		}
		s := opts.Sparsity
		if v, ok := opts.PerGroup[g.info.Name]; ok {
			s = v
		} else if s == 0 {
			g.info.Reason = "no sparsity given"
			continue
		}
		if !opts.Global {
			remove := min(int(math.Round(s*float64(g.info.Channels))), g.info.Channels-1)
			if remove == 0 {
				g.info.Reason = fmt.Sprintf("sparsity %g removes no channel of %d", s, g.info.Channels)
				continue
			}
			imp, err := p.importance(g, opts.Norm)
			if err != nil {
				return err
			}
			g.keep = keepAfterRemoving(imp, remove)
			continue
		}
		imp, err := p.importance(g, opts.Norm)
		if err != nil {
			return err
		}
		divideByMean(imp)
		imps[g] = imp
		live = append(live, g)
	}
	if opts.Global {
		p.chooseGlobal(live, imps, opts.Sparsity)
	}
	return nil
}

// chooseGlobal removes the round(sparsity·total) channels of lowest
// normalised importance across groups, keeping one per group at least.
func (p *channelPlan) chooseGlobal(live []*groupPlan, imps map[*groupPlan][]float64, sparsity float64) {
	type ch struct {
		g   int
		c   int
		imp float64
	}
	var all []ch
	total := 0
	for gi, g := range live {
		for c, v := range imps[g] {
			all = append(all, ch{gi, c, v})
		}
		total += g.info.Channels
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.imp != b.imp {
			return a.imp < b.imp
		}
		if a.c != b.c {
			return a.c > b.c
		}
		return a.g < b.g
	})
	target := int(math.Round(sparsity * float64(total)))
	removed := make([]map[int]bool, len(live))
	for i := range removed {
		removed[i] = make(map[int]bool)
	}
	for _, x := range all {
		if target == 0 {
			break
		}
		if len(removed[x.g]) == live[x.g].info.Channels-1 {
			continue
		}
		removed[x.g][x.c] = true
		target--
	}
	for gi, g := range live {
		if len(removed[gi]) == 0 {
			g.info.Reason = "global ranking removed none of its channels"
			continue
		}
		for c := range g.info.Channels {
			if !removed[gi][c] {
				g.keep = append(g.keep, c)
			}
		}
	}
}

// importance returns, per channel of g, the sum over its sources of the
// channel's weight norm divided by the mean of that source's norms, so
// that sources of different scale count equally.
func (p *channelPlan) importance(g *groupPlan, norm Norm) ([]float64, error) {
	imp := make([]float64, g.info.Channels)
	for _, s := range g.sources {
		norms, err := channelNorms(s.weight, s.outAxis, norm)
		if err != nil {
			return nil, fmt.Errorf("channel pruning: weight of %s: %w", s.label, err)
		}
		if len(norms) != len(imp) {
			return nil, fmt.Errorf("channel pruning: %s has %d channels, its group %d", s.label, len(norms), len(imp))
		}
		mean := 0.0
		for _, v := range norms {
			mean += v
		}
		mean /= float64(len(norms))
		if mean == 0 {
			continue // an all-zero weight ranks nothing
		}
		for c, v := range norms {
			imp[c] += v / mean
		}
	}
	return imp, nil
}

// divideByMean divides imp by its mean (when not zero).
func divideByMean(imp []float64) {
	mean := 0.0
	for _, v := range imp {
		mean += v
	}
	mean /= float64(len(imp))
	if mean == 0 {
		return
	}
	for i := range imp {
		imp[i] /= mean
	}
}

// keepAfterRemoving returns the channels left, in ascending order, after
// removing the remove least important ones (of equal importance, the
// higher index goes first).
func keepAfterRemoving(imp []float64, remove int) []int {
	order := make([]int, len(imp))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if imp[a] != imp[b] {
			return imp[a] < imp[b]
		}
		return a > b
	})
	keep := slices.Clone(order[remove:])
	slices.Sort(keep)
	return keep
}

// flops sets each group's FLOPs from the per-node estimate and returns
// the FLOPs of the nodes touched by at least one group that can be
// pruned (a node two groups touch counts once).
func (p *channelPlan) flops(perNode map[*onnxpb.NodeProto]int64) int64 {
	nodes := map[int]map[*onnxpb.NodeProto]bool{} // root → nodes
	add := func(space int, n *onnxpb.NodeProto) {
		r := p.t.find(space)
		if nodes[r] == nil {
			nodes[r] = map[*onnxpb.NodeProto]bool{}
		}
		nodes[r][n] = true
	}
	for _, s := range p.t.sources {
		add(s.space, s.node)
	}
	for _, e := range p.t.edits {
		if e.kind == editSlice || e.kind == editGroup {
			add(e.space, e.node)
		}
	}
	prunable := map[*onnxpb.NodeProto]bool{}
	for _, g := range p.groups {
		g.info.FLOPs = 0
		for n := range nodes[g.root] {
			g.info.FLOPs += perNode[n]
			if g.info.Reason == "" {
				prunable[n] = true
			}
		}
	}
	var total int64
	for n := range prunable {
		total += perNode[n]
	}
	return total
}
