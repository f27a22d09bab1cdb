package graph

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// UpgradeOpset moves m's default-domain opset ("" or "ai.onnx") up to
// target (at most MaxOpset), rewriting every node of that domain, in the
// main graph and in subgraphs, whose operator changed in between: each
// schema change an operator went through on the way is crossed either as
// compatible (the node is kept) or by an adapter; the table in opsets.go
// lists every operator and change. The adapters:
//
//   - consumed_inputs removed (opset 6, many ops); Cast 'to' string → enum
//     (6); Concat default axis made explicit (4); Reshape shape attribute →
//     input (5); Pad 'paddings' → 'pads' (2); Split second input → 'split'
//     attribute (2); LpPool/GlobalLpPool float p → int (2).
//   - legacy broadcast=1/axis on Add, Sub, Mul, Div, Pow, And, Or, Xor,
//     Equal, Greater, Less → NumPy broadcasting (7), unsqueezing B when
//     axis does not align it to the trailing dimensions; Gemm broadcast
//     attribute dropped (7); PRelu per-channel slope reshaped (7).
//   - BatchNormalization and Dropout is_test dropped (7; is_test=0 is
//     refused), BatchNormalization spatial dropped (9; spatial=0 refused)
//     and its training-only outputs dropped when unused (14); GRU, LSTM,
//     RNN output_sequence dropped (7).
//   - Upsample: width/height_scale → scales (7), scales attribute → input
//     (9), → Resize (10, and for Upsample nodes already at 10).
//   - Resize 10 → 11: empty roi input, coordinate_transformation_mode
//     "asymmetric", nearest_mode "floor" when upscaling and "ceil" when
//     downscaling (Resize-10's nearest rounding; refused when the scales
//     are not constant or mix both).
//   - Slice starts/ends/axes → inputs (10); TopK k → input (10); Dropout
//     mask output dropped when unused (10, it became bool) and ratio →
//     input (12); Clip min/max → inputs (11); Pad pads/value → inputs
//     (11); Scatter → ScatterElements (11); Split 'split' → input (13) and
//     num_outputs set when no split is given (18); Squeeze, Unsqueeze,
//     ReduceSum axes → input (13); the other Reduce* axes → input (18).
//   - Softmax, LogSoftmax, Hardmax (13): the old axis coerced the input to
//     2-D. When the input's rank is known and axis is the last one, the
//     axis is kept; otherwise the node becomes Flatten(axis) → op(axis=1)
//     → Reshape(Shape(input)), which computes exactly the old result.
//   - RoiAlign coordinate_transformation_mode "output_half_pixel" made
//     explicit (16); GridSample modes renamed (20); DFT axis → input (20).
//
// Refused, with the node, operator and versions named: Tile 1 → 6, Scan
// 8 → 9, GroupNormalization 18 → 21, the experimental operators dropped in
// opset 10, operators this package does not know, and the cases above
// that have no equivalent. Adapters create helper nodes and initializers
// (axes, pads, scalars) with names that appear nowhere else in the model;
// element types and ranks they need come from declared types,
// initializers and simple propagation, and an adapter refuses rather than
// guess when they are unknown.
//
// Other domains (ai.onnx.ml, com.microsoft, ...) keep their versions and
// nodes. Model-local functions that import the default domain below
// target are upgraded the same way (their helper constants become
// Constant nodes, since functions have no initializers), because ONNX
// requires a function's operators to mean the same under the function's
// and the model's imports. ir_version is raised, when lower, to the
// version released with the target opset (4 for opset 9, 7 for 13, 8 for
// 15-18, 9 for 19-20, 10 for 21), and to at least 4 when initializers
// were added (IR 3 would require them to be graph inputs too).
//
// On success m.Graph is a new message that shares the original's
// initializers and tensor attributes; the old graph message is left as
// it was.
//
// It returns an error, leaving m unchanged, when target is out of range or
// older than the model's opset, when the model imports the default domain
// twice, or when a node cannot be upgraded.
func UpgradeOpset(m *onnxpb.ModelProto, target int) error {
	if m.GetGraph() == nil {
		return errors.New("upgrade opset: model has no graph")
	}
	if target < 1 || target > MaxOpset {
		return fmt.Errorf("upgrade opset: target opset %d is outside 1..%d", target, MaxOpset)
	}
	imp := -1
	for i, o := range m.GetOpsetImport() {
		if IsDefaultDomain(o.GetDomain()) {
			if imp >= 0 {
				return errors.New("upgrade opset: model imports the default domain twice")
			}
			imp = i
		}
	}
	if imp < 0 {
		if n, where := findDefaultNode(m.Graph, ""); n != nil {
			return fmt.Errorf("upgrade opset: %s%s uses the default domain, which the model does not import", where, nodeRef(n))
		}
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "", Version: int64(target)})
		m.IrVersion = max(m.IrVersion, IRVersionForOpset(target))
		return nil
	}
	from := m.OpsetImport[imp].GetVersion()
	if from == int64(target) {
		return nil
	}
	if from > int64(target) {
		return fmt.Errorf("upgrade opset: model is at opset %d, newer than the target %d (downgrades are not supported)", from, target)
	}
	if from < 1 {
		return fmt.Errorf("upgrade opset: model imports default opset %d", from)
	}
	u := &upgrader{
		from:         int(from),
		to:           target,
		functions:    make(map[string]bool),
		fromUpsample: make(map[*onnxpb.NodeProto]bool),
	}
	for _, f := range m.GetFunctions() {
		u.functions[normDomain(f.GetDomain())+"\x00"+f.GetName()] = true
	}
	if err := checkNoNilNodes(m.Graph, ""); err != nil {
		return fmt.Errorf("upgrade opset: %w", err)
	}
	g := cloneGraphSharingTensors(m.Graph)
	u.namer = NewNamer(g)
	if err := u.graph(g, nil, ""); err != nil {
		return err
	}
	functions, err := upgradeFunctions(m, target, u.functions)
	if err != nil {
		return err
	}
	m.Graph = g
	for i, f := range functions {
		if f != nil {
			m.Functions[i] = f
		}
	}
	m.OpsetImport[imp] = &onnxpb.OperatorSetIdProto{Domain: m.OpsetImport[imp].GetDomain(), Version: int64(target)}
	ir := max(m.IrVersion, IRVersionForOpset(target))
	if u.addedInitializers {
		ir = max(ir, 4)
	}
	m.IrVersion = ir
	return nil
}

// upgradeFunctions returns upgraded copies of the model's functions that
// import the default domain below target (nil for the others): ONNX
// requires a function's operators to resolve to the same schemas under
// the function's and the model's opset imports.
func upgradeFunctions(m *onnxpb.ModelProto, target int, functions map[string]bool) ([]*onnxpb.FunctionProto, error) {
	out := make([]*onnxpb.FunctionProto, len(m.GetFunctions()))
	for i, f := range m.GetFunctions() {
		imp := -1
		for j, o := range f.GetOpsetImport() {
			if IsDefaultDomain(o.GetDomain()) {
				imp = j
			}
		}
		if imp < 0 || f.OpsetImport[imp].GetVersion() >= int64(target) {
			continue
		}
		from := f.OpsetImport[imp].GetVersion()
		if from < 1 {
			return nil, fmt.Errorf("upgrade opset: function %q imports default opset %d", f.GetName(), from)
		}
		if err := checkNoNilNodes(&onnxpb.GraphProto{Node: f.Node}, ""); err != nil {
			return nil, fmt.Errorf("upgrade opset: function %q: %w", f.GetName(), err)
		}
		c := proto.Clone(f).(*onnxpb.FunctionProto)
		body := &onnxpb.GraphProto{Node: c.Node, ValueInfo: c.ValueInfo}
		for _, name := range c.Output {
			body.Output = append(body.Output, &onnxpb.ValueInfoProto{Name: name})
		}
		fu := &upgrader{from: int(from), to: target, inFunction: true, functions: functions,
			fromUpsample: make(map[*onnxpb.NodeProto]bool), namer: NewNamer(body)}
		for _, name := range c.Input {
			fu.namer.Reserve(name)
		}
		if err := fu.graph(body, nil, fmt.Sprintf("function %q: ", f.GetName())); err != nil {
			return nil, err
		}
		c.Node = body.Node
		c.OpsetImport[imp] = &onnxpb.OperatorSetIdProto{Domain: c.OpsetImport[imp].GetDomain(), Version: int64(target)}
		out[i] = c
	}
	return out, nil
}

// findDefaultNode returns a node of the default domain in g or its
// subgraphs.
func findDefaultNode(g *onnxpb.GraphProto, where string) (*onnxpb.NodeProto, string) {
	for i, n := range g.GetNode() {
		if n == nil {
			continue
		}
		if IsDefaultDomain(n.GetDomain()) {
			return n, where
		}
		for _, sg := range subgraphs(n) {
			if f, w := findDefaultNode(sg, where+describeNode(n, i)+": "); f != nil {
				return f, w
			}
		}
	}
	return nil, ""
}

// cloneGraphSharingTensors deep-copies g's structure but shares its
// initializers and tensor attributes, which the upgrade never modifies:
// the copy costs memory in proportion to the graph, not to the weights.
// g must hold no nil nodes.
func cloneGraphSharingTensors(g *onnxpb.GraphProto) *onnxpb.GraphProto {
	var inits [][]*onnxpb.TensorProto // per graph, in walk order
	var tensors []*onnxpb.TensorProto // per attribute, in walk order (nil: none)
	walkGraphsAndAttrs(g, func(g *onnxpb.GraphProto) {
		inits = append(inits, g.Initializer)
		g.Initializer = nil
	}, func(a *onnxpb.AttributeProto) {
		tensors = append(tensors, a.T)
		a.T = nil
	})
	c := proto.Clone(g).(*onnxpb.GraphProto)
	// Both copies have the same shape: walk each in the same order.
	for k, target := range []*onnxpb.GraphProto{g, c} {
		gi, ai := 0, 0
		walkGraphsAndAttrs(target, func(g *onnxpb.GraphProto) {
			g.Initializer = inits[gi]
			if k == 1 { // the copy gets its own list to append to
				g.Initializer = append([]*onnxpb.TensorProto(nil), inits[gi]...)
			}
			gi++
		}, func(a *onnxpb.AttributeProto) {
			a.T = tensors[ai]
			ai++
		})
	}
	return c
}

// walkGraphsAndAttrs calls onGraph for g and every subgraph, and onAttr for
// every attribute of every node, in a fixed order (a graph before its
// nodes' attributes, an attribute before the graphs it holds).
func walkGraphsAndAttrs(g *onnxpb.GraphProto, onGraph func(*onnxpb.GraphProto), onAttr func(*onnxpb.AttributeProto)) {
	onGraph(g)
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			onAttr(a)
			if a.GetG() != nil {
				walkGraphsAndAttrs(a.GetG(), onGraph, onAttr)
			}
			for _, sg := range a.GetGraphs() {
				if sg != nil {
					walkGraphsAndAttrs(sg, onGraph, onAttr)
				}
			}
		}
	}
}

type upgrader struct {
	from, to          int
	inFunction        bool // constants become Constant nodes
	namer             *Namer
	functions         map[string]bool
	fromUpsample      map[*onnxpb.NodeProto]bool
	addedInitializers bool
}

// upgradeCtx is what an adapter sees while it rewrites one node.
type upgradeCtx struct {
	u     *upgrader
	g     *onnxpb.GraphProto
	env   *typeEnv
	used  map[string]bool
	base  string
	pre   []*onnxpb.NodeProto
	post  []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
	cache map[string]string // constant key -> initializer name, per graph
}

func (u *upgrader) graph(g *onnxpb.GraphProto, parent *typeEnv, where string) error {
	env := newTypeEnv(g, parent)
	used := make(map[string]bool)
	walkReads(g, func(name string) { used[name] = true })
	cache := make(map[string]string)
	out := make([]*onnxpb.NodeProto, 0, len(g.Node))
	var inits []*onnxpb.TensorProto
	for i, n := range g.Node {
		if n == nil {
			return fmt.Errorf("upgrade opset: %snode #%d is nil", where, i)
		}
		for _, a := range subgraphAttrs(n) {
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sg == nil {
					continue
				}
				if err := u.graph(sg, env, fmt.Sprintf("%s%s attribute %q: ", where, describeNode(n, i), a.GetName())); err != nil {
					return err
				}
			}
		}
		if !IsDefaultDomain(n.GetDomain()) {
			out = append(out, n)
			continue
		}
		base := n.GetName()
		if base == "" {
			base = strings.ToLower(n.GetOpType())
		}
		c := &upgradeCtx{u: u, g: g, env: env, used: used, base: base, cache: cache}
		desc := describeNode(n, i)
		if err := u.node(c, n); err != nil {
			return fmt.Errorf("%scannot upgrade %s from opset %d to %d: %w", where, desc, u.from, u.to, err)
		}
		out = append(out, c.pre...)
		out = append(out, n)
		out = append(out, c.post...)
		inits = append(inits, c.inits...)
	}
	g.Node = out
	if len(inits) > 0 {
		g.Initializer = append(g.Initializer, inits...)
		u.addedInitializers = true
	}
	return nil
}

// node walks one node through its operator's schema changes in
// (u.from, u.to].
func (u *upgrader) node(c *upgradeCtx, n *onnxpb.NodeProto) error {
	if u.functions[normDomain(n.GetDomain())+"\x00"+n.GetOpType()] {
		return nil // a model-local function: its body has its own opsets
	}
	h, ok := history[n.GetOpType()]
	if !ok {
		return fmt.Errorf("no adapter: operator %s is unknown to infer's opset table, so its compatibility cannot be checked", n.GetOpType())
	}
	cur := schemaAt(h, u.from)
	if cur < 0 {
		if h[0].since > u.from {
			return fmt.Errorf("%s does not exist in opset %d (it was introduced in opset %d)", n.GetOpType(), u.from, h[0].since)
		}
		return fmt.Errorf("%s does not exist in opset %d (it was removed)", n.GetOpType(), u.from)
	}
	// consumed_inputs is an opset 1-5 attribute no later schema has, which
	// some exporters kept writing; it never changes results.
	removeAttr(n, "consumed_inputs")
	at := u.from
	if h[cur].replaces {
		if err := h[cur].step(c, n); err != nil {
			return err
		}
	}
	for guard := 0; guard < 64; guard++ {
		h, ok = history[n.GetOpType()]
		if !ok {
			return fmt.Errorf("internal: adapter produced unknown operator %s", n.GetOpType())
		}
		var next *opVersion
		for i := range h {
			if h[i].since > at && h[i].since <= u.to {
				next = &h[i]
				break
			}
		}
		if next == nil {
			return nil
		}
		if next.step == nil {
			prev := h[0].since
			for _, v := range h {
				if v.since < next.since {
					prev = v.since
				}
			}
			msg := fmt.Sprintf("no adapter from %s-%d to %s-%d", n.GetOpType(), prev, n.GetOpType(), next.since)
			if next.removed {
				msg = fmt.Sprintf("no adapter: %s", n.GetOpType())
			}
			if next.note != "" {
				msg += " (" + next.note + ")"
			}
			return errors.New(msg)
		}
		op := n.GetOpType()
		if err := next.step(c, n); err != nil {
			return fmt.Errorf("%s-%d: %w", op, next.since, err)
		}
		at = next.since
	}
	return errors.New("internal: adapter loop did not settle")
}

// helperName returns a fresh name derived from the node being adapted.
func (c *upgradeCtx) helperName(suffix string) string {
	return c.u.namer.Name(c.base + "_" + suffix)
}

// constant adds (or reuses) an initializer holding t's data; t's name is
// replaced. key identifies the data for reuse within the graph.
func (c *upgradeCtx) constant(suffix string, t *onnxpb.TensorProto) string {
	t.Name = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	key := string(b)
	if err != nil {
		key = "" // never matches: a unique key is not needed for correctness
	}
	if name, ok := c.cache[key]; ok && key != "" {
		return name
	}
	name := c.helperName(suffix)
	c.cache[key] = name
	if c.u.inFunction {
		// Function bodies have no initializers.
		t.Name = ""
		c.pre = append(c.pre, &onnxpb.NodeProto{Name: c.helperName("Constant"), OpType: "Constant", Output: []string{name},
			Attribute: []*onnxpb.AttributeProto{{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: t}}})
		return name
	}
	t.Name = name
	c.inits = append(c.inits, t)
	return name
}

func (c *upgradeCtx) int64s(suffix string, vals []int64) string {
	return c.constant(suffix, int64Vector("", vals))
}

// addNode makes a helper node of the target opset; before says whether it
// runs before or after the adapted node. It returns the output names.
func (c *upgradeCtx) addNode(before bool, op string, inputs []string, outputs []string, attrs ...*onnxpb.AttributeProto) []string {
	for i, o := range outputs {
		if o == "" {
			outputs[i] = c.helperName(strings.ToLower(op))
		}
	}
	n := &onnxpb.NodeProto{
		Name:      c.helperName(op),
		OpType:    op,
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	}
	if before {
		c.pre = append(c.pre, n)
	} else {
		c.post = append(c.post, n)
	}
	return outputs
}

// unsqueeze emits an Unsqueeze of x in the target opset's form.
func (c *upgradeCtx) unsqueeze(x string, axes []int64) string {
	if c.u.to >= 13 {
		return c.addNode(true, "Unsqueeze", []string{x, c.int64s("axes", axes)}, []string{""})[0]
	}
	return c.addNode(true, "Unsqueeze", []string{x}, []string{""}, intsAttr("axes", axes))[0]
}

// isUsed reports whether name is read anywhere in the graph or is one of
// its outputs.
func (c *upgradeCtx) isUsed(name string) bool { return name != "" && c.used[name] }
