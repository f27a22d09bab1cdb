package half

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// converter is one Convert run: plan decides the type of every value
// without changing the model, apply rewrites it.
type converter struct {
	m          *onnxpb.ModelProto
	opts       Options
	half       int32
	opset      int64
	blockOps   map[string]bool
	blockNodes map[string]bool
	root       *scope
	scopes     []*scope // root first, parents before children
	namer      *graph.Namer
	ours       map[*onnxpb.NodeProto]bool // Casts this run inserted
	blocked    map[*onnxpb.NodeProto]bool
	seqBlocked map[*onnxpb.NodeProto]bool    // linked to float32 sequences
	wants      map[*scope]map[string][]int32 // by defining scope and name
	converted  []tensorSwap
	res        *Result
}

// tensorSwap is a float32 tensor to store in the half type, and what it
// is (for notes).
type tensorSwap struct {
	tp   *onnxpb.TensorProto
	what string
}

// short names the target type the way people say it.
func (c *converter) short() string {
	if c.half == tBF16 {
		return "bf16"
	}
	return "fp16"
}

func (c *converter) typeName(t int32) string {
	switch t {
	case tF16:
		return "fp16"
	case tBF16:
		return "bf16"
	case tFloat:
		return "fp32"
	}
	return tensor.DType(t).String()
}

// plan checks m and decides the element type of every value after
// conversion, without changing m.
func (c *converter) plan() error {
	m := c.m
	if err := graph.Validate(m); err != nil {
		return err
	}
	c.opset = graph.DefaultOpset(m)
	if c.opset > 0 && c.opset < 6 {
		// Cast-1 spells its type as a string, which ONNX Runtime does not
		// infer types from.
		return fmt.Errorf("the model imports opset %d; conversion needs opset 6 or later (upgrade it first: prep.Run does)", c.opset)
	}
	if err := refuseQuantized(m.GetGraph(), ""); err != nil {
		return err
	}
	root, err := c.build(m.GetGraph(), nil, "", nil)
	if err != nil {
		return err
	}
	c.root = root
	c.collect(root)
	if err := c.refuseHalf(); err != nil {
		return err
	}
	c.markBlocked()
	if c.half == tBF16 && c.opset < 13 {
		c.res.note("opset %d: bfloat16 needs opset 13 or later for most operators, which stay float32; upgrade the model first (prep.Run does)", c.opset)
	}
	if err := c.checkUnknown(); err != nil {
		return err
	}
	c.decideProduced()
	c.noteInitializerInputs()
	c.collectWants()
	c.decideChoices()
	if err := c.checkCasts(); err != nil {
		return err
	}
	return c.checkTensors()
}

func (c *converter) collect(s *scope) {
	c.scopes = append(c.scopes, s)
	for _, n := range s.g.GetNode() {
		for _, sub := range s.subs[n] {
			c.collect(sub)
		}
	}
}

func refuseQuantized(g *onnxpb.GraphProto, where string) error {
	for _, n := range g.GetNode() {
		if isQuantOp(n.GetOpType()) {
			return fmt.Errorf("the model is already quantized: %s%s", where, nodeLabel(n))
		}
		for _, a := range n.GetAttribute() {
			gs := a.GetGraphs()
			if a.GetG() != nil {
				gs = append([]*onnxpb.GraphProto{a.GetG()}, gs...)
			}
			for _, sg := range gs {
				w := fmt.Sprintf("%s%s attribute %q: ", where, nodeLabel(n), a.GetName())
				if err := refuseQuantized(sg, w); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *converter) refuseHalf() error {
	for _, s := range c.scopes {
		names := make([]string, 0, len(s.elem))
		for name, t := range s.elem {
			if t == tF16 || t == tBF16 {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			continue
		}
		sort.Strings(names)
		name := names[0]
		what := fmt.Sprintf("value %q", name)
		switch {
		case s.init[name] != nil:
			what = fmt.Sprintf("initializer %q", name)
		case s.producer[name] != nil:
			what = fmt.Sprintf("value %q (output of %s)", name, nodeLabel(s.producer[name]))
		case s.input[name]:
			what = fmt.Sprintf("graph input %q", name)
		}
		kind := "fp16"
		if s.elem[name] == tBF16 {
			kind = "bf16"
		}
		return fmt.Errorf("the model is already %s: %s is %s", kind, s.label(what), tensor.DType(s.elem[name]))
	}
	return nil
}

// blockReason says why n keeps float32 inputs and outputs, or "".
func (c *converter) blockReason(s *scope, n *onnxpb.NodeProto) string {
	op := n.GetOpType()
	switch {
	case s.force:
		return "subgraph"
	case !graph.IsDefaultDomain(n.GetDomain()):
		return "domain"
	case c.blockOps[op]:
		return "op"
	case n.GetName() != "" && c.blockNodes[n.GetName()]:
		return "name"
	case !hasHalfSignature(op, c.opset, c.half):
		return "signature"
	case (op == "ScatterND" || op == "ScatterElements") && string(attrOf(n, "reduction").GetS()) != "" &&
		string(attrOf(n, "reduction").GetS()) != "none":
		return "reduction"
	case c.seqBlocked[n]:
		return "sequence"
	}
	return ""
}

// markBlocked decides which nodes stay float32. A blocked node's subgraphs
// stay float32 entirely, and so does every node linked to a float32
// sequence or optional (a Cast cannot convert those), so it iterates to a
// fixed point.
func (c *converter) markBlocked() {
	c.seqBlocked = make(map[*onnxpb.NodeProto]bool)
	for {
		clear(c.blocked)
		for _, s := range c.scopes {
			s.force = false
		}
		for _, s := range c.scopes { // parents come before children
			for _, n := range s.g.GetNode() {
				if c.blockReason(s, n) == "" {
					continue
				}
				c.blocked[n] = true
				for _, sub := range s.subs[n] {
					sub.force = true
				}
			}
		}
		if !c.blockSequences() {
			break
		}
	}
	domains := make(map[string]int)
	var signature, reduction, sequence []string
	for _, s := range c.scopes {
		for _, n := range s.g.GetNode() {
			why := c.blockReason(s, n)
			if why == "" || why == "subgraph" || !c.touchesFloat(s, n) {
				continue
			}
			label := n.GetName()
			if label == "" {
				label = "(unnamed " + n.GetOpType() + ")"
			}
			c.res.Blocked = append(c.res.Blocked, label)
			switch why {
			case "domain":
				domains[n.GetDomain()]++
			case "signature":
				signature = append(signature, label)
			case "reduction":
				reduction = append(reduction, label)
			case "sequence":
				sequence = append(sequence, label)
			}
		}
	}
	for _, d := range slices.Sorted(mapsKeys(domains)) {
		c.res.note("kept %d %s node(s) float32: their half kernels are unknown", domains[d], d)
	}
	if len(signature) > 0 {
		c.res.note("kept float32, as opset %d gives them no %s signature: %s", c.opset, c.short(), strings.Join(signature, ", "))
	}
	if len(reduction) > 0 {
		c.res.note("kept float32, as ONNX Runtime's CPU provider has no half kernel for scatter reductions: %s", strings.Join(reduction, ", "))
	}
	if len(sequence) > 0 {
		c.res.note("kept float32, as they handle float32 sequences or optionals: %s", strings.Join(sequence, ", "))
	}
}

// blockSequences blocks the nodes linked, through sequence or optional
// values, to a blocked node or to a float32 interface value; it reports
// whether it blocked any new node.
func (c *converter) blockSequences() bool {
	parent := make(map[any]any)
	var find func(x any) any
	find = func(x any) any {
		p, ok := parent[x]
		if !ok || p == x {
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b any) {
		for _, x := range []any{a, b} {
			if _, ok := parent[x]; !ok {
				parent[x] = x
			}
		}
		parent[find(a)] = find(b)
	}
	type valueKey struct {
		s    *scope
		name string
	}
	type ioKey struct{ s *scope }
	pinned := make(map[any]bool)
	value := func(s *scope, name string) (any, bool) {
		d := s.resolve(name)
		if d == nil || !d.nonTens[name] || d.elem[name] != tFloat {
			return nil, false
		}
		return valueKey{d, name}, true
	}
	for _, s := range c.scopes {
		io := ioKey{s}
		if c.ioType(s) == tFloat {
			pinned[io] = true
		}
		for _, vs := range [][]*onnxpb.ValueInfoProto{s.g.GetInput(), s.g.GetOutput()} {
			for _, v := range vs {
				if k, ok := value(s, v.GetName()); ok {
					union(io, k)
				}
			}
		}
		for _, n := range s.g.GetNode() {
			if c.blocked[n] {
				pinned[n] = true
			}
			for _, name := range append(slices.Clone(n.GetInput()), n.GetOutput()...) {
				if k, ok := value(s, name); ok {
					union(n, k)
				}
			}
			for _, sub := range s.subs[n] {
				// A subgraph binds its own inputs and outputs to the node's.
				union(n, ioKey{sub})
			}
		}
	}
	bad := make(map[any]bool)
	for k := range pinned {
		bad[find(k)] = true
	}
	grew := false
	for _, s := range c.scopes {
		for _, n := range s.g.GetNode() {
			if !c.blocked[n] && !c.seqBlocked[n] && bad[find(n)] {
				if _, linked := parent[n]; linked {
					c.seqBlocked[n] = true
					grew = true
				}
			}
		}
	}
	return grew
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// touchesFloat reports whether n reads or writes a float32 value.
func (c *converter) touchesFloat(s *scope, n *onnxpb.NodeProto) bool {
	for _, in := range n.GetInput() {
		if in != "" && s.typeOf(in) == tFloat {
			return true
		}
	}
	for _, o := range n.GetOutput() {
		if o != "" && s.elem[o] == tFloat {
			return true
		}
	}
	for _, sub := range s.subs[n] {
		for _, o := range sub.g.GetOutput() {
			if sub.typeOf(o.GetName()) == tFloat {
				return true
			}
		}
	}
	return false
}

// checkUnknown fails when a value whose type matters has no known type.
func (c *converter) checkUnknown() error {
	for _, s := range c.scopes {
		for _, n := range s.g.GetNode() {
			for _, in := range n.GetInput() {
				if in == "" {
					continue
				}
				d := s.resolve(in)
				if d == nil || d.elem[in] != 0 {
					continue
				}
				p := d.producer[in]
				if c.blocked[n] && (p == nil || c.blocked[p]) {
					continue
				}
				from := ""
				if p != nil {
					from = ", output of " + nodeLabel(p)
				}
				return fmt.Errorf("%s: cannot tell the element type of input %q%s: give it a value_info entry (prep's infer-shapes does)",
					s.label(nodeLabel(n)), in, from)
			}
		}
		if s.main {
			continue
		}
		for _, o := range s.g.GetOutput() {
			if s.typeOf(o.GetName()) == 0 {
				return fmt.Errorf("%s: cannot tell the element type of graph output %q: declare it", s.where, o.GetName())
			}
		}
	}
	return nil
}

// ioType is the element type float32 graph inputs and outputs of s get.
func (c *converter) ioType(s *scope) int32 {
	if (s.main && c.opts.KeepIOTypes) || s.force {
		return tFloat
	}
	return c.half
}

// isChoice reports whether n can produce float32 or the half type at no
// cost, so that its consumers decide: a Constant or a Cast.
func (c *converter) isChoice(n *onnxpb.NodeProto) bool {
	if !graph.IsDefaultDomain(n.GetDomain()) || c.blocked[n] {
		return false
	}
	return n.GetOpType() == "Constant" || n.GetOpType() == "Cast"
}

// decideProduced sets the final type of graph inputs and node outputs that
// are not choices.
func (c *converter) decideProduced() {
	for _, s := range c.scopes {
		for name := range s.input {
			if s.elem[name] == tFloat {
				s.final[name] = c.ioType(s)
			}
		}
		for _, n := range s.g.GetNode() {
			if c.isChoice(n) {
				continue
			}
			for j, o := range n.GetOutput() {
				if o == "" || s.elem[o] != tFloat {
					continue
				}
				switch {
				case c.blocked[n]:
					s.final[o] = tFloat
				case n.GetOpType() == "LayerNormalization" && j > 0:
					// Mean and InvStdDev have the stash type, float32.
					s.final[o] = tFloat
				default:
					s.final[o] = c.half
				}
			}
		}
	}
}

// noteInitializerInputs explains why weights that are also graph inputs
// stay float32 when the interface is kept.
func (c *converter) noteInitializerInputs() {
	k := 0
	for _, t := range c.root.g.GetInitializer() {
		if c.root.input[t.GetName()] && t.GetDataType() == tFloat && c.ioType(c.root) == tFloat {
			k++
		}
	}
	if k > 0 {
		c.res.note("%d float32 initializer(s) are also graph inputs, which KeepIOTypes keeps float32 behind Casts; drop them from the inputs first (prep.Run does) to store them as %s", k, c.short())
	}
}

// want returns the element type node n needs at input i after conversion;
// ok is false when the input is not float32 or n accepts any type there.
func (c *converter) want(s *scope, n *onnxpb.NodeProto, i int) (t int32, ok bool) {
	in := n.Input[i]
	if in == "" || c.ours[n] || s.typeOf(in) != tFloat {
		return 0, false
	}
	if graph.IsDefaultDomain(n.GetDomain()) {
		switch n.GetOpType() {
		case "Cast", "Shape", "Size":
			return 0, false
		case "CastLike":
			if i == 0 {
				return 0, false
			}
		}
	}
	if c.blocked[n] || (graph.IsDefaultDomain(n.GetDomain()) && floatOnlyInput(n.GetOpType(), i, c.half)) {
		return tFloat, true
	}
	return c.half, true
}

// read is one place a value is needed with a given element type.
type read struct {
	s    *scope // where the reader is
	node *onnxpb.NodeProto
	slot int // input position, or graph output position when node is nil
	name string
	want int32
}

// reads lists every read of a float32 value that needs a given type, in
// model order.
func (c *converter) reads() []read {
	var rs []read
	for _, s := range c.scopes {
		for _, n := range slices.Clone(s.g.GetNode()) {
			for i := range n.GetInput() {
				if t, ok := c.want(s, n, i); ok {
					rs = append(rs, read{s, n, i, n.Input[i], t})
				}
			}
		}
		for k, o := range s.g.GetOutput() {
			if s.typeOf(o.GetName()) == tFloat {
				rs = append(rs, read{s, nil, k, o.GetName(), c.ioType(s)})
			}
		}
	}
	return rs
}

func (c *converter) collectWants() {
	for _, r := range c.reads() {
		d := r.s.resolve(r.name)
		if d == nil {
			continue
		}
		if c.wants[d] == nil {
			c.wants[d] = make(map[string][]int32)
		}
		c.wants[d][r.name] = append(c.wants[d][r.name], r.want)
	}
}

func allFloat(ws []int32) bool {
	for _, w := range ws {
		if w != tFloat {
			return false
		}
	}
	return len(ws) > 0
}

// decideChoices sets the final type of initializers, Constants and Casts
// from what their readers want. Weights go half unless every reader needs
// float32; a Cast keeps float32 when any reader needs it, so no precision
// is lost on the way there.
func (c *converter) decideChoices() {
	mainOut := make(map[string]bool)
	for _, o := range c.root.g.GetOutput() {
		mainOut[o.GetName()] = true
	}
	for _, s := range c.scopes {
		ws := c.wants[s]
		weight := func(name string) {
			switch {
			case s.main && mainOut[name]:
				s.final[name] = c.ioType(s)
			case allFloat(ws[name]):
				s.final[name] = tFloat
			default:
				s.final[name] = c.half
			}
		}
		for name := range s.init {
			if s.elem[name] == tFloat {
				weight(name)
			}
		}
		for name := range s.sparse {
			if s.elem[name] == tFloat {
				weight(name)
			}
		}
		for _, n := range s.g.GetNode() {
			if !c.isChoice(n) || len(n.GetOutput()) == 0 || s.elem[n.Output[0]] != tFloat {
				continue
			}
			o := n.Output[0]
			if n.GetOpType() == "Constant" {
				weight(o)
				continue
			}
			s.final[o] = c.half
			if slices.Contains(ws[o], tFloat) {
				s.final[o] = tFloat
			}
		}
	}
}

// checkCasts fails when a sequence or optional value would need a Cast.
func (c *converter) checkCasts() error {
	for _, r := range c.reads() {
		d := r.s.resolve(r.name)
		if d == nil || !d.nonTens[r.name] || r.s.finalOf(r.name) == r.want {
			continue
		}
		reader := fmt.Sprintf("graph output #%d", r.slot)
		if r.node != nil {
			reader = nodeLabel(r.node)
		}
		return fmt.Errorf("%s reads %q, a sequence or optional of float32, as %s; no Cast applies to it (block the nodes around it)",
			r.s.label(reader), r.name, c.typeName(r.want))
	}
	return nil
}

// checkTensors lists every float32 weight that goes half, checking that
// each can be read, so that a weight that cannot be read fails before
// anything changes; apply converts them one at a time.
func (c *converter) checkTensors() error {
	seen := make(map[*onnxpb.TensorProto]bool)
	for _, s := range c.scopes {
		check := func(tp *onnxpb.TensorProto, what string) error {
			if seen[tp] {
				return nil
			}
			if err := checkTensor(tp); err != nil {
				return fmt.Errorf("%s: %w", s.label(what), err)
			}
			seen[tp] = true
			c.converted = append(c.converted, tensorSwap{tp, s.label(what)})
			return nil
		}
		for _, t := range s.g.GetInitializer() {
			name := t.GetName()
			if s.elem[name] == tFloat && s.final[name] != tFloat && s.final[name] != 0 {
				if err := check(t, fmt.Sprintf("initializer %q", name)); err != nil {
					return err
				}
			}
		}
		for _, st := range s.g.GetSparseInitializer() {
			name := st.GetValues().GetName()
			if s.elem[name] == tFloat && s.final[name] == c.half {
				if err := check(st.GetValues(), fmt.Sprintf("sparse initializer %q", name)); err != nil {
					return err
				}
			}
		}
		for _, n := range s.g.GetNode() {
			if len(n.GetOutput()) == 0 || s.elem[n.Output[0]] != tFloat || s.final[n.Output[0]] != c.half {
				continue
			}
			switch n.GetOpType() {
			case "Constant":
				if !graph.IsDefaultDomain(n.GetDomain()) {
					continue
				}
				for _, a := range n.GetAttribute() {
					what := fmt.Sprintf("%s attribute %q", nodeLabel(n), a.GetName())
					switch {
					case a.GetName() == "value" && a.GetT() != nil:
						if err := check(a.GetT(), what); err != nil {
							return err
						}
					case a.GetName() == "sparse_value" && a.GetSparseTensor() != nil:
						if err := check(a.GetSparseTensor().GetValues(), what); err != nil {
							return err
						}
					}
				}
			case "ConstantOfShape":
				if a := attrOf(n, "value"); a != nil && a.GetT() != nil {
					if err := check(a.GetT(), fmt.Sprintf("%s attribute \"value\"", nodeLabel(n))); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
