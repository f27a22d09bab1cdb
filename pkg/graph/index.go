package graph

import "github.com/infer-ml/infer/pkg/onnx/onnxpb"

// Implicit is the Use.Input of a node that reads a value inside one of its
// subgraphs rather than through its own input list.
const Implicit = -1

// Use is one read of a value.
type Use struct {
	Node *onnxpb.NodeProto
	// Input is the position in Node.Input, or Implicit when a subgraph of
	// Node reads the value from this graph's scope.
	Input int
}

// Index is a snapshot of one graph's def-use structure. It does not follow
// later edits: rebuild it with NewIndex (one pass over the graph and its
// subgraphs). Its methods never modify the graph.
//
// When a value has several producers (a graph that fails Validate),
// Producer reports the first in node order.
type Index struct {
	g            *onnxpb.GraphProto
	producer     map[string]producerRef
	consumers    map[string][]Use
	initializers map[string]*onnxpb.TensorProto
	sparse       map[string]*onnxpb.SparseTensorProto
	inputs       map[string]*onnxpb.ValueInfoProto
	outputs      map[string]*onnxpb.ValueInfoProto
	valueInfo    map[string]*onnxpb.ValueInfoProto
	position     map[*onnxpb.NodeProto]int
	implicit     map[*onnxpb.NodeProto][]string
}

type producerRef struct {
	node   *onnxpb.NodeProto
	output int
}

// NewIndex indexes g. A nil g gives an empty index.
func NewIndex(g *onnxpb.GraphProto) *Index {
	x := &Index{
		g:            g,
		producer:     make(map[string]producerRef),
		consumers:    make(map[string][]Use),
		initializers: make(map[string]*onnxpb.TensorProto),
		sparse:       make(map[string]*onnxpb.SparseTensorProto),
		inputs:       make(map[string]*onnxpb.ValueInfoProto),
		outputs:      make(map[string]*onnxpb.ValueInfoProto),
		valueInfo:    make(map[string]*onnxpb.ValueInfoProto),
		position:     make(map[*onnxpb.NodeProto]int),
		implicit:     make(map[*onnxpb.NodeProto][]string),
	}
	for _, v := range g.GetInput() {
		if _, dup := x.inputs[v.GetName()]; !dup {
			x.inputs[v.GetName()] = v
		}
	}
	for _, v := range g.GetOutput() {
		if _, dup := x.outputs[v.GetName()]; !dup {
			x.outputs[v.GetName()] = v
		}
	}
	for _, v := range g.GetValueInfo() {
		if _, dup := x.valueInfo[v.GetName()]; !dup {
			x.valueInfo[v.GetName()] = v
		}
	}
	for _, t := range g.GetInitializer() {
		if _, dup := x.initializers[t.GetName()]; !dup {
			x.initializers[t.GetName()] = t
		}
	}
	for _, st := range g.GetSparseInitializer() {
		if name := st.GetValues().GetName(); name != "" {
			x.sparse[name] = st
		}
	}
	for i, n := range g.GetNode() {
		if n == nil {
			continue
		}
		x.position[n] = i
		for j, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, dup := x.producer[o]; !dup {
				x.producer[o] = producerRef{n, j}
			}
		}
		for j, in := range n.GetInput() {
			if in != "" {
				x.consumers[in] = append(x.consumers[in], Use{n, j})
			}
		}
		if hasSubgraphs(n) {
			imp := ImplicitInputs(n)
			x.implicit[n] = imp
			for _, name := range imp {
				x.consumers[name] = append(x.consumers[name], Use{n, Implicit})
			}
		}
	}
	return x
}

// Graph returns the indexed graph.
func (x *Index) Graph() *onnxpb.GraphProto { return x.g }

// Producer returns the node of this graph that outputs name and the
// output's position, or (nil, -1) when no node does (a graph input, an
// initializer, an outer-scope value or an undefined name).
func (x *Index) Producer(name string) (*onnxpb.NodeProto, int) {
	if p, ok := x.producer[name]; ok {
		return p.node, p.output
	}
	return nil, -1
}

// Consumers returns the reads of name by this graph's nodes, explicit and
// implicit, in node order. Graph outputs are not listed: see IsOutput.
// The caller must not modify the returned slice.
func (x *Index) Consumers(name string) []Use { return x.consumers[name] }

// Used reports whether name is read by a node or is a graph output.
func (x *Index) Used(name string) bool {
	_, out := x.outputs[name]
	return out || len(x.consumers[name]) > 0
}

// Initializer returns the dense initializer called name, or nil.
func (x *Index) Initializer(name string) *onnxpb.TensorProto { return x.initializers[name] }

// SparseInitializer returns the sparse initializer called name, or nil.
func (x *Index) SparseInitializer(name string) *onnxpb.SparseTensorProto { return x.sparse[name] }

// Input returns the graph input called name, or nil.
func (x *Index) Input(name string) *onnxpb.ValueInfoProto { return x.inputs[name] }

// IsInput reports whether name is a graph input.
func (x *Index) IsInput(name string) bool { _, ok := x.inputs[name]; return ok }

// IsOutput reports whether name is a graph output.
func (x *Index) IsOutput(name string) bool { _, ok := x.outputs[name]; return ok }

// ValueInfo returns the declared type of name from the graph's inputs,
// outputs or value_info, in that order of preference, or nil.
func (x *Index) ValueInfo(name string) *onnxpb.ValueInfoProto {
	if v := x.inputs[name]; v != nil {
		return v
	}
	if v := x.outputs[name]; v != nil {
		return v
	}
	return x.valueInfo[name]
}

// Defined reports whether this graph defines name itself: as an input, an
// initializer (dense or sparse) or a node output.
func (x *Index) Defined(name string) bool {
	if name == "" {
		return false
	}
	if _, ok := x.producer[name]; ok {
		return true
	}
	if _, ok := x.initializers[name]; ok {
		return true
	}
	if _, ok := x.sparse[name]; ok {
		return true
	}
	_, ok := x.inputs[name]
	return ok
}

// Position returns the node's index in the graph's node list, or -1.
func (x *Index) Position(n *onnxpb.NodeProto) int {
	if i, ok := x.position[n]; ok {
		return i
	}
	return -1
}

// ImplicitInputs returns the outer values n's subgraphs read (see the
// package function ImplicitInputs), computed when the index was built.
func (x *Index) ImplicitInputs(n *onnxpb.NodeProto) []string { return x.implicit[n] }
