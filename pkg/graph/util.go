package graph

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// IsDefaultDomain reports whether domain names the default ONNX domain:
// "" or its alias "ai.onnx".
func IsDefaultDomain(domain string) bool { return domain == "" || domain == "ai.onnx" }

// DefaultOpset returns the version m imports of the default domain, from
// the first such entry of its opset_import, or 0 when it imports none.
func DefaultOpset(m *onnxpb.ModelProto) int64 {
	for _, o := range m.GetOpsetImport() {
		if IsDefaultDomain(o.GetDomain()) {
			return o.GetVersion()
		}
	}
	return 0
}

// normDomain maps "ai.onnx" to "" so that domains compare equal.
func normDomain(domain string) string {
	if domain == "ai.onnx" {
		return ""
	}
	return domain
}

// describeNode names a node for messages: its quoted name and op type, or
// its position when it has no name.
func describeNode(n *onnxpb.NodeProto, index int) string {
	if n == nil {
		return fmt.Sprintf("node #%d (nil)", index)
	}
	op := n.GetOpType()
	if d := n.GetDomain(); !IsDefaultDomain(d) {
		op = d + "." + op
	}
	if n.GetName() != "" {
		return fmt.Sprintf("node %q (%s)", n.GetName(), op)
	}
	if index >= 0 {
		return fmt.Sprintf("node #%d (%s)", index, op)
	}
	return fmt.Sprintf("unnamed %s node", op)
}

// nodeRef names a node without knowing its index.
func nodeRef(n *onnxpb.NodeProto) string { return describeNode(n, -1) }

// subgraphAttrs returns the node's attributes that hold graphs.
func subgraphAttrs(n *onnxpb.NodeProto) []*onnxpb.AttributeProto {
	var out []*onnxpb.AttributeProto
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// subgraphs returns the graphs held by the node's attributes.
func subgraphs(n *onnxpb.NodeProto) []*onnxpb.GraphProto {
	var out []*onnxpb.GraphProto
	for _, a := range n.GetAttribute() {
		if g := a.GetG(); g != nil {
			out = append(out, g)
		}
		for _, g := range a.GetGraphs() {
			if g != nil {
				out = append(out, g)
			}
		}
	}
	return out
}

// hasSubgraphs reports whether the node holds at least one graph.
func hasSubgraphs(n *onnxpb.NodeProto) bool {
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

// localNames returns the names a graph defines itself: inputs,
// initializers, sparse initializers and node outputs.
func localNames(g *onnxpb.GraphProto) map[string]bool {
	defined := make(map[string]bool)
	for _, v := range g.GetInput() {
		if v.GetName() != "" {
			defined[v.GetName()] = true
		}
	}
	for _, t := range g.GetInitializer() {
		if t.GetName() != "" {
			defined[t.GetName()] = true
		}
	}
	for _, st := range g.GetSparseInitializer() {
		if name := st.GetValues().GetName(); name != "" {
			defined[name] = true
		}
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				defined[o] = true
			}
		}
	}
	return defined
}

// freeReads memoises, per graph, the names the graph reads (at any depth)
// without defining them: the values it takes from enclosing scopes, in
// order of first read. Each graph's list is built once, from its own nodes
// and its subgraphs' lists, so walks that need the lists at every level of
// nested subgraphs (Validate, Topo, SortNodes, EliminateDeadCode) visit
// each node once instead of once per enclosing level. The lists stay valid
// only while the graphs are not edited.
type freeReads struct {
	of map[*onnxpb.GraphProto][]string
	// visits counts the nodes examined, for tests that check the work is
	// linear in the model's size.
	visits int
}

func newFreeReads() *freeReads {
	return &freeReads{of: make(map[*onnxpb.GraphProto][]string)}
}

// graph returns the names g reads from enclosing scopes.
func (f *freeReads) graph(g *onnxpb.GraphProto) []string {
	if names, ok := f.of[g]; ok {
		return names
	}
	defined := localNames(g)
	names := orderedSet{seen: make(map[string]bool)}
	for _, n := range g.GetNode() {
		f.visits++
		for _, in := range n.GetInput() {
			if !defined[in] {
				names.add(in)
			}
		}
		for _, sg := range subgraphs(n) {
			for _, name := range f.graph(sg) {
				if !defined[name] {
					names.add(name)
				}
			}
		}
	}
	for _, o := range g.GetOutput() {
		// A subgraph output may be an outer value passed through.
		if !defined[o.GetName()] {
			names.add(o.GetName())
		}
	}
	f.of[g] = names.list
	return names.list
}

// node returns the names n's subgraphs read from enclosing scopes, in
// order of first read; nil for a node without subgraphs.
func (f *freeReads) node(n *onnxpb.NodeProto) []string {
	names := orderedSet{seen: make(map[string]bool)}
	for _, sg := range subgraphs(n) {
		for _, name := range f.graph(sg) {
			names.add(name)
		}
	}
	return names.list
}

// orderedSet collects non-empty names once each, in order of addition.
type orderedSet struct {
	seen map[string]bool
	list []string
}

func (s *orderedSet) add(name string) {
	if name != "" && !s.seen[name] {
		s.seen[name] = true
		s.list = append(s.list, name)
	}
}

// ImplicitInputs returns, sorted by first appearance, the names that the
// node's subgraphs read from enclosing scopes. It returns nil for a node
// without subgraphs.
func ImplicitInputs(n *onnxpb.NodeProto) []string { return newFreeReads().node(n) }

// walkReads calls fn for every name read in g and its subgraphs, in order.
func walkReads(g *onnxpb.GraphProto, fn func(string)) {
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in != "" {
				fn(in)
			}
		}
		for _, sg := range subgraphs(n) {
			walkReads(sg, fn)
		}
	}
	for _, o := range g.GetOutput() {
		if o.GetName() != "" {
			fn(o.GetName())
		}
	}
}

// attr returns the node's attribute with the given name, or nil.
func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// attrInt returns an INT attribute's value, def when absent.
func attrInt(n *onnxpb.NodeProto, name string, def int64) (int64, error) {
	a := attr(n, name)
	if a == nil {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_INT && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return 0, fmt.Errorf("%s: attribute %q is %s, want INT", nodeRef(n), name, a.GetType())
	}
	return a.GetI(), nil
}

// attrFloat returns a FLOAT attribute's value, def when absent.
func attrFloat(n *onnxpb.NodeProto, name string, def float32) (float32, error) {
	a := attr(n, name)
	if a == nil {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_FLOAT && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return 0, fmt.Errorf("%s: attribute %q is %s, want FLOAT", nodeRef(n), name, a.GetType())
	}
	return a.GetF(), nil
}

// attrInts returns an INTS attribute's value and whether it was present.
func attrInts(n *onnxpb.NodeProto, name string) ([]int64, bool, error) {
	a := attr(n, name)
	if a == nil {
		return nil, false, nil
	}
	if a.GetType() != onnxpb.AttributeProto_INTS && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return nil, false, fmt.Errorf("%s: attribute %q is %s, want INTS", nodeRef(n), name, a.GetType())
	}
	return a.GetInts(), true, nil
}

// attrFloats returns a FLOATS attribute's value and whether it was present.
func attrFloats(n *onnxpb.NodeProto, name string) ([]float32, bool, error) {
	a := attr(n, name)
	if a == nil {
		return nil, false, nil
	}
	if a.GetType() != onnxpb.AttributeProto_FLOATS && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return nil, false, fmt.Errorf("%s: attribute %q is %s, want FLOATS", nodeRef(n), name, a.GetType())
	}
	return a.GetFloats(), true, nil
}

// attrString returns a STRING attribute's value, def when absent.
func attrString(n *onnxpb.NodeProto, name, def string) (string, error) {
	a := attr(n, name)
	if a == nil {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_STRING && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return "", fmt.Errorf("%s: attribute %q is %s, want STRING", nodeRef(n), name, a.GetType())
	}
	return string(a.GetS()), nil
}

// removeAttr deletes the named attribute; it reports whether it was there.
func removeAttr(n *onnxpb.NodeProto, name string) bool {
	for i, a := range n.GetAttribute() {
		if a.GetName() == name {
			n.Attribute = append(n.Attribute[:i:i], n.Attribute[i+1:]...)
			return true
		}
	}
	return false
}

// setAttr replaces or adds an attribute.
func setAttr(n *onnxpb.NodeProto, a *onnxpb.AttributeProto) {
	for i, old := range n.GetAttribute() {
		if old.GetName() == a.GetName() {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func intsAttr(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: append([]int64{}, v...)}
}

func floatsAttr(name string, v []float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: append([]float32{}, v...)}
}

func stringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

// input returns the node's i-th input or "" when it has fewer.
func input(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.Input[i]
	}
	return ""
}

// setInput sets the node's i-th input, padding with "" as needed.
func setInput(n *onnxpb.NodeProto, i int, name string) {
	for len(n.Input) <= i {
		n.Input = append(n.Input, "")
	}
	n.Input[i] = name
}

// trimInputs drops trailing "" inputs, which ONNX treats as absent.
func trimInputs(n *onnxpb.NodeProto) {
	for len(n.Input) > 0 && n.Input[len(n.Input)-1] == "" {
		n.Input = n.Input[:len(n.Input)-1]
	}
}
