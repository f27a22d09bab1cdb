package testmodels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// MSDomain is the operator domain of ONNX Runtime's contrib operators.
const MSDomain = "com.microsoft"

// Producer is the producer_name written into every model.
const Producer = "infer-testmodels"

// Builder assembles one ONNX graph. Create it with NewBuilder for a model or
// NewSubgraph for an If/Loop body; add inputs, initializers, nodes (in
// topological order) and outputs; finish with Model or Graph.
//
// Methods panic on programmer errors; see the package documentation.
type Builder struct {
	prefix       string // of node and value names; "<name>/" in subgraphs
	name         string
	irVersion    int64
	opsets       []*onnxpb.OperatorSetIdProto
	inputs       []*onnxpb.ValueInfoProto
	outputs      []*onnxpb.ValueInfoProto
	initializers []*onnxpb.TensorProto
	nodes        []*onnxpb.NodeProto
	constants    bool
	unnamed      bool
	seen         map[string]int
}

// NewBuilder returns a builder for a model named name that imports the
// default ONNX domain at opset. The IR version defaults to the lowest that
// ONNX pairs with opset (opset 7 → IR 3, 9 → 4, 17 → 8, 20 → 9, …); change
// it with SetIRVersion.
func NewBuilder(name string, opset int64) *Builder {
	return &Builder{
		name:      name,
		irVersion: irVersionFor(opset),
		opsets:    []*onnxpb.OperatorSetIdProto{{Domain: "", Version: opset}},
		seen:      map[string]int{},
	}
}

// NewSubgraph returns a builder for a graph attribute (an If branch, a Loop
// body). Its nodes may read values of the enclosing graph by name. Finish it
// with Graph and attach it with AttrGraph. Names it generates start with
// "<name>/", so they cannot collide with the enclosing graph's.
func NewSubgraph(name string) *Builder {
	return &Builder{name: name, prefix: name + "/", seen: map[string]int{}}
}

// irVersionFor returns the IR version released together with opset, the
// lowest one whose checkers accept it.
func irVersionFor(opset int64) int64 { return graph.IRVersionForOpset(int(opset)) }

// SetIRVersion overrides the model's IR version. Below IR 4 the model lists
// its initializers among the graph inputs, as the format then required.
func (b *Builder) SetIRVersion(v int64) *Builder {
	b.irVersion = v
	return b
}

// Import adds an operator set import, for example Import(MSDomain, 1).
func (b *Builder) Import(domain string, version int64) *Builder {
	b.opsets = append(b.opsets, &onnxpb.OperatorSetIdProto{Domain: domain, Version: version})
	return b
}

// WeightsAsConstants makes later Initializer calls emit a Constant node
// holding the tensor instead of a graph initializer, as some exporters do.
func (b *Builder) WeightsAsConstants() *Builder {
	b.constants = true
	return b
}

// Unnamed makes later nodes carry an empty name (on) or their unique
// generated one again (off), since exporters such as PyTorch's and
// paddle2onnx leave NodeProto.name empty and tools must not key on it.
// Output names stay unique either way.
func (b *Builder) Unnamed(on bool) *Builder {
	b.unnamed = on
	return b
}

// Opset returns the version of the default domain the builder imports, 0
// for a subgraph (which inherits its model's), so that model functions can
// pick the operator signature of their opset (Unsqueeze axes as an
// attribute or an input, and so on).
func (b *Builder) Opset() int64 {
	for _, o := range b.opsets {
		if graph.IsDefaultDomain(o.Domain) {
			return o.Version
		}
	}
	return 0
}

// nodeName returns the name a new node of type op gets: a unique one, or
// "" after Unnamed(true).
func (b *Builder) nodeName(op string) string {
	name := b.Unique(op)
	if b.unnamed {
		return ""
	}
	return name
}

// Input declares a graph input and returns its name. Each dim is an int or
// int64 (a fixed size) or a string (a symbolic dim_param such as "N"); no
// dims at all declares a scalar (rank 0), such as a sample rate.
func (b *Builder) Input(name string, dtype tensor.DType, dims ...any) string {
	b.inputs = append(b.inputs, ValueInfo(name, dtype, dims...))
	return name
}

// Output declares a graph output and returns its name; dims as for Input.
func (b *Builder) Output(name string, dtype tensor.DType, dims ...any) string {
	b.outputs = append(b.outputs, ValueInfo(name, dtype, dims...))
	return name
}

// Initializer adds a float32 weight and returns its name. It panics if
// len(data) is not the product of shape.
func (b *Builder) Initializer(name string, shape []int64, data []float32) string {
	return b.AddTensor(FloatTensor(name, shape, data))
}

// InitializerInt64 adds an int64 constant (a Reshape shape, axes) and
// returns its name. It panics if len(data) is not the product of shape.
func (b *Builder) InitializerInt64(name string, shape []int64, data []int64) string {
	return b.AddTensor(Int64Tensor(name, shape, data))
}

// AddTensor adds t as an initializer, or as a Constant node after
// WeightsAsConstants, and returns its name.
func (b *Builder) AddTensor(t *onnxpb.TensorProto) string {
	if b.constants {
		b.Node("Constant", nil, []string{t.Name}, AttrTensor("value", t))
		return t.Name
	}
	b.initializers = append(b.initializers, t)
	return t.Name
}

// Node appends a node of the default domain and returns it, so the caller
// can set Domain (e.g. MSDomain) or a doc string. Missing optional inputs
// are written as "". Nodes get unique names "<op>_<k>" (see Unique).
func (b *Builder) Node(op string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{
		Name:      b.nodeName(op),
		OpType:    op,
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	}
	b.nodes = append(b.nodes, n)
	return n
}

// Op appends a node with one output, named after the node, and returns the
// output's name. It is the short form for chains:
//
//	h := b.Op("Relu", []string{b.Op("Gemm", []string{x, w, bias}, AttrInt("transB", 1))})
func (b *Builder) Op(op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.DomainOp("", op, inputs, attrs...)
}

// DomainOp is Op for an operator of another domain, such as MSDomain; the
// model must Import that domain.
func (b *Builder) DomainOp(domain, op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	name := b.Unique(op)
	out := name + "_out"
	if b.unnamed {
		name = ""
	}
	b.nodes = append(b.nodes, &onnxpb.NodeProto{
		Name:      name,
		OpType:    op,
		Domain:    domain,
		Input:     inputs,
		Output:    []string{out},
		Attribute: attrs,
	})
	return out
}

// Unique returns prefix followed by "_<k>", k counting from 0 per prefix
// within this builder (and, in a subgraph, led by "<graph name>/").
func (b *Builder) Unique(prefix string) string {
	k := b.seen[prefix]
	b.seen[prefix] = k + 1
	return fmt.Sprintf("%s%s_%d", b.prefix, prefix, k)
}

// Graph returns the graph built so far. It does not check that node inputs
// are defined, since a subgraph may read its enclosing graph's values.
func (b *Builder) Graph() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:        b.name,
		Node:        b.nodes,
		Initializer: b.initializers,
		Input:       b.inputs,
		Output:      b.outputs,
	}
}

// Model returns the finished model. It panics if a node reads a value that
// no graph input, initializer or earlier node defines, if two things define
// the same value, or if a graph output is never defined.
func (b *Builder) Model() *onnxpb.ModelProto {
	if len(b.opsets) == 0 {
		panic(fmt.Sprintf("testmodels: %q was made by NewSubgraph; use Graph", b.name))
	}
	g := b.Graph()
	if b.irVersion < 4 {
		g.Input = append([]*onnxpb.ValueInfoProto(nil), b.inputs...)
		for _, t := range b.initializers {
			dims := make([]any, len(t.Dims))
			for i, d := range t.Dims {
				dims[i] = d
			}
			g.Input = append(g.Input, ValueInfo(t.Name, tensor.DType(t.DataType), dims...))
		}
	}
	if err := checkGraph(g); err != nil {
		panic(fmt.Sprintf("testmodels: model %q: %v", b.name, err))
	}
	return &onnxpb.ModelProto{
		IrVersion:    b.irVersion,
		OpsetImport:  b.opsets,
		ProducerName: Producer,
		Graph:        g,
	}
}

func checkGraph(g *onnxpb.GraphProto) error {
	defined := map[string]bool{}
	define := func(name, by string) error {
		if defined[name] {
			return fmt.Errorf("%s defines %q, which is already defined", by, name)
		}
		defined[name] = true
		return nil
	}
	for _, t := range g.Initializer {
		if err := define(t.Name, "initializer"); err != nil {
			return err
		}
	}
	for _, in := range g.Input {
		if defined[in.Name] { // IR 3: initializers are listed as inputs too
			continue
		}
		if err := define(in.Name, "input"); err != nil {
			return err
		}
	}
	for i, n := range g.Node {
		for _, in := range n.Input {
			if in != "" && !defined[in] {
				return fmt.Errorf("node %d (%s %s) reads %q, which nothing defines before it", i, n.OpType, n.Name, in)
			}
		}
		for _, out := range n.Output {
			if out == "" {
				continue
			}
			if err := define(out, fmt.Sprintf("node %d (%s %s)", i, n.OpType, n.Name)); err != nil {
				return err
			}
		}
	}
	for _, out := range g.Output {
		if !defined[out.Name] {
			return fmt.Errorf("graph output %q is never defined", out.Name)
		}
	}
	return nil
}

// Marshal serializes m deterministically: the same model gives the same
// bytes.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// ValueInfo returns a tensor value description; dims as for Builder.Input.
func ValueInfo(name string, dtype tensor.DType, dims ...any) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch v := d.(type) {
		case int:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}
		case int64:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}
		case string:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}
		default:
			panic(fmt.Sprintf("testmodels: %s: dimension %v has type %T; want int, int64 or string", name, d, d))
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: int32(dtype),
			Shape:    shape,
		}}},
	}
}

// FloatTensor returns a float32 tensor with its data in raw_data. An empty
// shape is a scalar. It panics if len(data) is not the product of shape.
func FloatTensor(name string, shape []int64, data []float32) *onnxpb.TensorProto {
	checkLen(name, shape, len(data))
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: name, Dims: shape, DataType: int32(tensor.Float32), RawData: raw}
}

// Int64Tensor returns an int64 tensor with its data in raw_data. An empty
// shape is a scalar. It panics if len(data) is not the product of shape.
func Int64Tensor(name string, shape []int64, data []int64) *onnxpb.TensorProto {
	checkLen(name, shape, len(data))
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &onnxpb.TensorProto{Name: name, Dims: shape, DataType: int32(tensor.Int64), RawData: raw}
}

func checkLen(name string, shape []int64, n int) {
	if want := Numel(shape); int64(n) != want {
		panic(fmt.Sprintf("testmodels: tensor %q: %d values for shape %v (%d elements)", name, n, shape, want))
	}
}

// Numel returns the number of elements of shape (1 for a scalar).
func Numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

// AttrTensor returns a TENSOR attribute (a Constant's "value").
func AttrTensor(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_TENSOR, T: t}
}

// AttrGraph returns a GRAPH attribute (an If branch, a Loop body).
func AttrGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_GRAPH, G: g}
}
