package graph

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// InsertNode inserts n into g.Node at position at (0 puts it first,
// len(g.Node) last). It returns an error, changing nothing, if g or n is
// nil, at is out of range, or one of n's outputs is already defined in g
// (which would break single assignment). It does not check that n's inputs
// are defined before at: run SortNodes after a batch of edits.
func InsertNode(g *onnxpb.GraphProto, at int, n *onnxpb.NodeProto) error {
	if g == nil || n == nil {
		return errors.New("insert node: nil graph or node")
	}
	if at < 0 || at > len(g.Node) {
		return fmt.Errorf("insert %s: position %d out of range [0, %d]", nodeRef(n), at, len(g.Node))
	}
	defined := localNames(g)
	for _, o := range n.GetOutput() {
		if o != "" && defined[o] {
			return fmt.Errorf("insert %s: output %q is already defined in the graph", nodeRef(n), o)
		}
	}
	g.Node = append(g.Node, nil)
	copy(g.Node[at+1:], g.Node[at:])
	g.Node[at] = n
	return nil
}

// InsertNodeBefore inserts n just before the node before (compared by
// pointer). It returns an error if before is not in g, and otherwise the
// errors of InsertNode.
func InsertNodeBefore(g *onnxpb.GraphProto, before, n *onnxpb.NodeProto) error {
	for i, m := range g.GetNode() {
		if m == before && m != nil {
			return InsertNode(g, i, n)
		}
	}
	return fmt.Errorf("insert %s: %s is not in the graph", nodeRef(n), nodeRef(before))
}

// RemoveNode deletes n (compared by pointer) from g.Node. The values n
// produced become undefined: redirect their uses first (ReplaceAllUses).
// It returns an error if n is not in g.
func RemoveNode(g *onnxpb.GraphProto, n *onnxpb.NodeProto) error {
	for i, m := range g.GetNode() {
		if m == n && m != nil {
			g.Node = append(g.Node[:i:i], g.Node[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("remove %s: not in the graph", nodeRef(n))
}

// RenameValue renames a value defined in g everywhere it appears: graph
// input or initializer, producing node output, node inputs in g and in
// subgraphs that read it from g's scope (not those that define their own
// value of that name), graph outputs, value_info and quantization
// annotations. Renaming a graph input or output changes the model's
// interface.
//
// It returns an error, changing nothing, if either name is empty, old is
// not defined in g, or newName already appears anywhere in g or its
// subgraphs.
func RenameValue(g *onnxpb.GraphProto, old, newName string) error {
	if old == "" || newName == "" {
		return fmt.Errorf("rename %q to %q: empty name", old, newName)
	}
	if old == newName {
		return nil
	}
	if g == nil {
		return fmt.Errorf("rename %q: nil graph", old)
	}
	if !localNames(g)[old] {
		return fmt.Errorf("rename %q to %q: %q is not defined in this graph", old, newName, old)
	}
	if allNames(g)[newName] {
		return fmt.Errorf("rename %q to %q: %q is already used in the graph", old, newName, newName)
	}
	for _, v := range g.Input {
		if v.GetName() == old {
			v.Name = newName
		}
	}
	for _, t := range g.Initializer {
		if t.GetName() == old {
			t.Name = newName
		}
	}
	for _, st := range g.SparseInitializer {
		if st.GetValues().GetName() == old {
			st.Values.Name = newName
		}
	}
	for _, n := range g.Node {
		for i, o := range n.GetOutput() {
			if o == old {
				n.Output[i] = newName
			}
		}
	}
	renameOutputsAndInfo(g, old, newName)
	replaceReads(g, old, newName)
	return nil
}

func renameOutputsAndInfo(g *onnxpb.GraphProto, old, newName string) {
	for _, v := range g.Output {
		if v.GetName() == old {
			v.Name = newName
		}
	}
	for _, v := range g.ValueInfo {
		if v.GetName() == old {
			v.Name = newName
		}
	}
	for _, qa := range g.QuantizationAnnotation {
		if qa.GetTensorName() == old {
			qa.TensorName = newName
		}
	}
}

// replaceReads rewrites node inputs old -> newName in g and in subgraphs
// that do not shadow old; it returns the count of rewritten inputs.
func replaceReads(g *onnxpb.GraphProto, old, newName string) int {
	count := 0
	for _, n := range g.GetNode() {
		for i, in := range n.GetInput() {
			if in == old {
				n.Input[i] = newName
				count++
			}
		}
		for _, sg := range subgraphs(n) {
			if localNames(sg)[old] {
				continue // the subgraph's own value shadows old
			}
			count += replaceReads(sg, old, newName)
			// A subgraph output that passes the outer value through.
			renameOutputsAndInfo(sg, old, newName)
		}
	}
	return count
}

// ReplaceAllUses makes every node that reads old read newName instead, in
// g and in subgraphs that read old from g's scope, and returns how many
// inputs changed. Graph outputs keep their names, so the model's
// interface does not change (RenameValue renames outputs). newName need
// not be defined yet; if its producer comes after a rewritten reader, run
// SortNodes.
//
// It returns an error, changing nothing, if a name is empty or a subgraph
// that would receive newName defines its own value of that name (the read
// would be captured by the inner value).
func ReplaceAllUses(g *onnxpb.GraphProto, old, newName string) (int, error) {
	if old == "" || newName == "" {
		return 0, fmt.Errorf("replace uses of %q with %q: empty name", old, newName)
	}
	if old == newName || g == nil {
		return 0, nil
	}
	if err := checkCapture(g, old, newName, newFreeReads()); err != nil {
		return 0, err
	}
	return replaceReads(g, old, newName), nil
}

// checkCapture fails if a subgraph that reads old from outside defines
// newName itself.
func checkCapture(g *onnxpb.GraphProto, old, newName string, free *freeReads) error {
	for i, n := range g.GetNode() {
		for _, sg := range subgraphs(n) {
			local := localNames(sg)
			if local[old] {
				continue
			}
			if !slices.Contains(free.graph(sg), old) {
				continue
			}
			if local[newName] {
				return fmt.Errorf("replace uses of %q with %q: a subgraph of %s defines its own %q", old, newName, describeNode(n, i), newName)
			}
			if err := checkCapture(sg, old, newName, free); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddInitializer appends t to g's initializers. It returns an error if t
// has no name or its name is already defined in g (input, initializer or
// node output). For models with ir_version < 4 initializers must also be
// graph inputs; ConstantsToInitializers and UpgradeOpset raise the IR
// version instead (see there).
func AddInitializer(g *onnxpb.GraphProto, t *onnxpb.TensorProto) error {
	if g == nil || t == nil {
		return errors.New("add initializer: nil graph or tensor")
	}
	if t.GetName() == "" {
		return errors.New("add initializer: tensor has no name")
	}
	if localNames(g)[t.GetName()] {
		return fmt.Errorf("add initializer %q: name already defined in the graph", t.GetName())
	}
	g.Initializer = append(g.Initializer, t)
	return nil
}

// allNames returns every value and node name that appears in g and its
// subgraphs.
func allNames(g *onnxpb.GraphProto) map[string]bool {
	names := make(map[string]bool)
	collectNames(g, names)
	return names
}

func collectNames(g *onnxpb.GraphProto, names map[string]bool) {
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			names[v.GetName()] = true
		}
	}
	for _, t := range g.GetInitializer() {
		names[t.GetName()] = true
	}
	for _, st := range g.GetSparseInitializer() {
		names[st.GetValues().GetName()] = true
	}
	for _, n := range g.GetNode() {
		names[n.GetName()] = true
		for _, s := range n.GetInput() {
			names[s] = true
		}
		for _, s := range n.GetOutput() {
			names[s] = true
		}
		for _, sg := range subgraphs(n) {
			collectNames(sg, names)
		}
	}
	delete(names, "")
}

// Namer hands out names that appear nowhere in a graph (values and node
// names, in the graph and all its subgraphs) and never the same name
// twice. The zero Namer avoids only the names it has handed out.
type Namer struct {
	used map[string]bool
	next map[string]int
}

// NewNamer returns a Namer that avoids every name in g and its subgraphs.
// g may be nil.
func NewNamer(g *onnxpb.GraphProto) *Namer {
	return &Namer{used: allNames(g), next: make(map[string]int)}
}

// Reserve marks name as taken.
func (nm *Namer) Reserve(name string) {
	if nm.used == nil {
		nm.used = make(map[string]bool)
	}
	nm.used[name] = true
}

// Name returns prefix if it is free, else prefix_1, prefix_2, ... the first
// that is free, and reserves it. An empty prefix counts as "v".
func (nm *Namer) Name(prefix string) string {
	if nm.used == nil {
		nm.used = make(map[string]bool)
	}
	if nm.next == nil {
		nm.next = make(map[string]int)
	}
	if prefix == "" {
		prefix = "v"
	}
	name := prefix
	for k := nm.next[prefix]; nm.used[name]; {
		k++
		name = prefix + "_" + strconv.Itoa(k)
		nm.next[prefix] = k
	}
	nm.used[name] = true
	return name
}

// UniqueName returns a name based on prefix that appears nowhere in g or
// its subgraphs. Use a Namer to make several names.
func UniqueName(g *onnxpb.GraphProto, prefix string) string {
	return NewNamer(g).Name(prefix)
}

// CloneSharingInitializers deep-copies m except the main graph's
// initializer tensors, which the copy shares: passes that replace
// initializers (never modifying one in place) then leave m intact without
// holding a large model twice.
//
// m is only read (it used to be edited for a moment, which raced with
// another reader of the same model).
func CloneSharingInitializers(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	g := m.GetGraph()
	if g == nil {
		return proto.Clone(m).(*onnxpb.ModelProto)
	}
	shell := ShallowCopy(m)
	shell.Graph = nil
	c := proto.Clone(shell).(*onnxpb.ModelProto)
	gs := ShallowCopy(g)
	gs.Initializer = nil
	c.Graph = proto.Clone(gs).(*onnxpb.GraphProto)
	c.Graph.Initializer = slices.Clone(g.Initializer)
	return c
}

// ShallowCopy copies a message's populated fields by reference: a new
// message whose fields may be replaced without touching src, but whose
// lists and sub-messages are src's until replaced.
func ShallowCopy[T proto.Message](src T) T {
	r := src.ProtoReflect()
	dst := r.New()
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	return dst.Interface().(T)
}
