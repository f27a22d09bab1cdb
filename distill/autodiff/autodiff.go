// Package autodiff is reverse-mode automatic differentiation over ONNX
// graphs: Gradients appends to a graph the nodes that compute the gradient
// of a scalar loss with respect to chosen values (trainable weights), made
// only of standard ONNX operators, so ONNX Runtime runs the forward pass,
// the loss and the backward pass in one session on any provider.
//
// Each operator's derivative is a Rule registered by op type (rules_*.go).
// Gradients walks the nodes on a path from a chosen value to the loss in
// reverse topological order, sums the gradient contributions of each value
// (Sum), and asks the node's rule for its inputs' gradients. An operator
// without a rule on such a path is an error naming the op and the node.
//
// The training graph's default-domain opset is at least MinOpset (17: ReduceSum
// and Split take axes as inputs, ScatterElements accumulates, and
// LayerNormalization exists); Builder's helpers emit forms valid at every
// opset from 17 to 22. Rules that need static shapes read them from the
// value_info the caller recorded (pkg/prep's shape completion); -1 marks a
// dimension that varies (the batch).
package autodiff

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// MinOpset is the lowest default-domain opset of a training graph.
const MinOpset = 17

// Rule computes the gradients of node n's inputs. dY[i] is the name of the
// gradient of n.Output[i], or "" when none flows back to it; need[j] says
// whether input j needs a gradient. It returns one name per input (""
// where none is needed or none exists). Rules add nodes through b and may
// add outputs to n itself (MaxPool's Indices).
type Rule func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error)

var rules = map[string]Rule{}

// Register adds the rule of a default-domain op type. It panics on a
// duplicate (a programming error).
func Register(op string, r Rule) {
	if _, dup := rules[op]; dup {
		panic("autodiff: two rules for " + op)
	}
	rules[op] = r
}

// Supported lists the op types with a rule, sorted.
func Supported() []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrNoRule is wrapped by the error for an op without a gradient rule on
// the path from a trainable value to the loss.
var ErrNoRule = errors.New("no gradient rule")

// Gradients appends to m's main graph the nodes computing d loss / d w for
// every w in wrt (values of the graph: inputs or initializers) and returns
// the gradient value names by w. A w the loss does not depend on maps to
// "". loss must be a scalar (or single-element) float value. m's
// default-domain opset must be at least MinOpset.
func Gradients(m *onnxpb.ModelProto, loss string, wrt []string) (map[string]string, error) {
	g := m.GetGraph()
	if v := graph.DefaultOpset(m); v < MinOpset {
		return nil, fmt.Errorf("autodiff: the graph's opset %d is below %d", v, MinOpset)
	}
	nodes, err := graph.Topo(g)
	if err != nil {
		return nil, err
	}
	b := newBuilder(m)
	idx := graph.NewIndex(g)
	if !idx.Defined(loss) {
		return nil, fmt.Errorf("autodiff: the loss %q is not a value of the graph", loss)
	}
	// Values that depend on wrt (forward), and nodes the loss depends on
	// (backward).
	dep := map[string]bool{}
	for _, w := range wrt {
		if !idx.Defined(w) {
			return nil, fmt.Errorf("autodiff: %q is not a value of the graph", w)
		}
		dep[w] = true
	}
	for _, n := range nodes {
		for _, in := range append(slices.Clone(n.GetInput()), graph.ImplicitInputs(n)...) {
			if in != "" && dep[in] {
				for _, o := range n.GetOutput() {
					if o != "" {
						dep[o] = true
					}
				}
				break
			}
		}
	}
	needed := map[string]bool{loss: true}
	var path []*onnxpb.NodeProto
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		on := false
		for _, o := range n.GetOutput() {
			if o != "" && needed[o] && dep[o] {
				on = true
			}
		}
		if !on {
			continue
		}
		path = append(path, n)
		for _, in := range n.GetInput() {
			if in != "" && dep[in] {
				needed[in] = true
			}
		}
		if len(graph.ImplicitInputs(n)) > 0 {
			for _, in := range graph.ImplicitInputs(n) {
				if dep[in] {
					return nil, fmt.Errorf("autodiff: %w for %s: node %s reads a trainable value inside a subgraph", ErrNoRule, n.GetOpType(), nodeName(n))
				}
			}
		}
	}
	contrib := map[string][]string{loss: {b.Float(1)}}
	sum := func(v string) string {
		c := contrib[v]
		switch len(c) {
		case 0:
			return ""
		case 1:
			return c[0]
		}
		s := b.Op("Sum", c)
		contrib[v] = []string{s}
		return s
	}
	for _, n := range path { // already reverse topological order
		dY := make([]string, len(n.GetOutput()))
		flows := false
		for i, o := range n.GetOutput() {
			if o != "" {
				dY[i] = sum(o)
				flows = flows || dY[i] != ""
			}
		}
		if !flows {
			continue
		}
		if !graph.IsDefaultDomain(n.GetDomain()) {
			return nil, fmt.Errorf("autodiff: %w for %s.%s (node %s)", ErrNoRule, n.GetDomain(), n.GetOpType(), nodeName(n))
		}
		r := rules[n.GetOpType()]
		if r == nil {
			return nil, fmt.Errorf("autodiff: %w for %s (node %s) on the path from a trainable weight to the loss", ErrNoRule, n.GetOpType(), nodeName(n))
		}
		need := make([]bool, len(n.GetInput()))
		for j, in := range n.GetInput() {
			need[j] = in != "" && dep[in]
		}
		b.node = n
		dX, err := r(b, n, dY, need)
		if err != nil {
			return nil, fmt.Errorf("autodiff: gradient of %s (node %s): %w", n.GetOpType(), nodeName(n), err)
		}
		for j, d := range dX {
			if j < len(need) && need[j] && d != "" {
				contrib[n.GetInput()[j]] = append(contrib[n.GetInput()[j]], d)
			}
		}
	}
	out := map[string]string{}
	for _, w := range wrt {
		out[w] = sum(w)
	}
	g.Node = append(g.Node, b.nodes...)
	g.Initializer = append(g.Initializer, b.inits...)
	return out, nil
}

func nodeName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return "<" + n.GetOpType() + " → " + n.GetOutput()[0] + ">"
	}
	return "<" + n.GetOpType() + ">"
}

// Builder adds backward nodes and constants, and answers shape questions.
type Builder struct {
	g      *onnxpb.GraphProto
	opset  int64
	names  *graph.Namer
	nodes  []*onnxpb.NodeProto
	inits  []*onnxpb.TensorProto
	shapes map[string][]int64
	types  map[string]tensor.DType
	consts map[string]*onnxpb.TensorProto
	node   *onnxpb.NodeProto // the node whose rule runs (for names)
}

func newBuilder(m *onnxpb.ModelProto) *Builder {
	g := m.GetGraph()
	b := &Builder{g: g, opset: graph.DefaultOpset(m), names: graph.NewNamer(g), shapes: map[string][]int64{}, types: map[string]tensor.DType{}, consts: map[string]*onnxpb.TensorProto{}}
	record := func(v *onnxpb.ValueInfoProto) {
		tt := v.GetType().GetTensorType()
		if tt == nil {
			return
		}
		b.types[v.GetName()] = tensor.DType(tt.GetElemType())
		if tt.GetShape() == nil {
			return
		}
		s := make([]int64, len(tt.GetShape().GetDim()))
		for i, d := range tt.GetShape().GetDim() {
			s[i] = -1
			if d.GetDimParam() == "" && d.GetDimValue() > 0 {
				s[i] = d.GetDimValue()
			}
		}
		b.shapes[v.GetName()] = s
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetValueInfo(), g.GetOutput()} {
		for _, v := range vs {
			record(v)
		}
	}
	for _, t := range g.GetInitializer() {
		b.shapes[t.GetName()] = slices.Clone(t.GetDims())
		b.types[t.GetName()] = tensor.DType(t.GetDataType())
		b.consts[t.GetName()] = t
	}
	return b
}

// Opset is the graph's default-domain opset.
func (b *Builder) Opset() int64 { return b.opset }

// Shape returns the static shape of a value (-1 for dimensions that vary)
// and whether its rank is known.
func (b *Builder) Shape(v string) ([]int64, bool) {
	s, ok := b.shapes[v]
	return s, ok
}

// Rank is the rank of v, or -1 when unknown.
func (b *Builder) Rank(v string) int {
	if s, ok := b.shapes[v]; ok {
		return len(s)
	}
	return -1
}

// SetShape records the static shape of a value the rule created.
func (b *Builder) SetShape(v string, shape []int64) { b.shapes[v] = slices.Clone(shape) }

// Type is the element type of v (Undefined when unknown).
func (b *Builder) Type(v string) tensor.DType { return b.types[v] }

// Constant returns the initializer named v, or nil.
func (b *Builder) Constant(v string) *onnxpb.TensorProto { return b.consts[v] }

// Name returns a fresh value name.
func (b *Builder) Name(hint string) string {
	base := "grad"
	if b.node != nil && len(b.node.GetOutput()) > 0 {
		base = b.node.GetOutput()[0] + "_grad"
	}
	if hint != "" {
		base += "_" + hint
	}
	return b.names.Name(base)
}

// OpN adds a node with nOut fresh outputs and returns them.
func (b *Builder) OpN(op string, inputs []string, nOut int, attrs ...*onnxpb.AttributeProto) []string {
	outs := make([]string, nOut)
	for i := range outs {
		outs[i] = b.Name(op)
	}
	b.nodes = append(b.nodes, &onnxpb.NodeProto{OpType: op, Input: inputs, Output: outs, Attribute: attrs, Name: b.names.Name("grad_" + op)})
	return outs
}

// Op adds a single-output node and returns its output.
func (b *Builder) Op(op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.OpN(op, inputs, 1, attrs...)[0]
}

func (b *Builder) addInit(t *onnxpb.TensorProto) string {
	b.inits = append(b.inits, t)
	b.consts[t.GetName()] = t
	b.shapes[t.GetName()] = slices.Clone(t.GetDims())
	b.types[t.GetName()] = tensor.DType(t.GetDataType())
	return t.GetName()
}

// Float adds a float32 scalar constant.
func (b *Builder) Float(v float32) string {
	return b.addInit(&onnxpb.TensorProto{Name: b.names.Name("grad_const"), DataType: int32(tensor.Float32), FloatData: []float32{v}})
}

// Floats adds a float32 constant of the given shape.
func (b *Builder) Floats(shape []int64, v []float32) string {
	return b.addInit(&onnxpb.TensorProto{Name: b.names.Name("grad_const"), DataType: int32(tensor.Float32), Dims: slices.Clone(shape), FloatData: slices.Clone(v)})
}

// Ints adds an int64 vector constant (for shapes, axes, pads, starts).
func (b *Builder) Ints(v ...int64) string {
	return b.addInit(&onnxpb.TensorProto{Name: b.names.Name("grad_ints"), DataType: int32(tensor.Int64), Dims: []int64{int64(len(v))}, Int64Data: slices.Clone(v)})
}

// Int adds an int64 scalar constant.
func (b *Builder) Int(v int64) string {
	return b.addInit(&onnxpb.TensorProto{Name: b.names.Name("grad_int"), DataType: int32(tensor.Int64), Int64Data: []int64{v}})
}

// ReduceSum sums x over axes (keepdims 0 or 1); no axes returns x.
func (b *Builder) ReduceSum(x string, axes []int64, keepdims bool) string {
	if len(axes) == 0 {
		return x
	}
	k := int64(0)
	if keepdims {
		k = 1
	}
	return b.Op("ReduceSum", []string{x, b.Ints(axes...)}, AttrInt("keepdims", k))
}

// ShapeOf adds Shape(x).
func (b *Builder) ShapeOf(x string) string { return b.Op("Shape", []string{x}) }

// ReshapeLike reshapes x to the (run-time) shape of like.
func (b *Builder) ReshapeLike(x, like string) string {
	return b.Op("Reshape", []string{x, b.ShapeOf(like)})
}

// SumTo reduces a gradient of a broadcast result (shape of out) to the
// shape of the operand like: sums the leading axes like lacks and the axes
// where like has size 1 and out does not. Both ranks must be known.
func (b *Builder) SumTo(grad, out, like string) (string, error) {
	os, ok1 := b.Shape(out)
	ls, ok2 := b.Shape(like)
	if !ok1 || !ok2 {
		return "", fmt.Errorf("the rank of %q or %q is unknown, so the broadcast cannot be undone", out, like)
	}
	if len(ls) > len(os) {
		return "", fmt.Errorf("operand %q has a higher rank than the result", like)
	}
	lead := len(os) - len(ls)
	var axes []int64
	for i := range os {
		if i < lead {
			axes = append(axes, int64(i))
			continue
		}
		if ls[i-lead] == 1 && os[i] != 1 {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) == 0 {
		return grad, nil
	}
	r := b.ReduceSum(grad, axes, true)
	if lead > 0 {
		r = b.ReshapeLike(r, like)
	}
	return r, nil
}

// ZerosLike adds a float32 tensor of zeros with x's run-time shape.
func (b *Builder) ZerosLike(x string) string {
	return b.Op("ConstantOfShape", []string{b.ShapeOf(x)}, &onnxpb.AttributeProto{
		Name: "value", Type: onnxpb.AttributeProto_TENSOR,
		T: &onnxpb.TensorProto{DataType: int32(tensor.Float32), Dims: []int64{1}, FloatData: []float32{0}},
	})
}

// EnsureOutput gives output i of the forward node n a name (adding the
// output when n has fewer), records it, and returns it.
func (b *Builder) EnsureOutput(n *onnxpb.NodeProto, i int) string {
	for len(n.Output) <= i {
		n.Output = append(n.Output, "")
	}
	if n.Output[i] == "" {
		n.Output[i] = b.names.Name(nodeName(n) + "_out")
	}
	return n.Output[i]
}

// Attribute helpers.

// AttrInt builds an int attribute.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

// AttrInts builds an ints attribute.
func AttrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: slices.Clone(v)}
}

// AttrFloat builds a float attribute.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

// AttrString builds a string attribute.
func AttrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

// GetInt reads an int attribute of n.
func GetInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

// GetInts reads an ints attribute of n (nil when absent).
func GetInts(n *onnxpb.NodeProto, name string) []int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return slices.Clone(a.GetInts())
		}
	}
	return nil
}

// GetFloat reads a float attribute of n.
func GetFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetF()
		}
	}
	return def
}

// GetString reads a string attribute of n.
func GetString(n *onnxpb.NodeProto, name, def string) string {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return string(a.GetS())
		}
	}
	return def
}

// ConstInts reads an int64 initializer input (Reshape's shape, Slice's
// starts, ReduceSum's axes); ok is false when v is not one.
func (b *Builder) ConstInts(v string) ([]int64, bool) {
	t := b.consts[v]
	if t == nil {
		return nil, false
	}
	x, err := tensor.FromProto(t)
	if err != nil || x.DType() != tensor.Int64 {
		return nil, false
	}
	return slices.Clone(tensor.Values[int64](x)), true
}
