package onnx

import (
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Tensors calls fn for every TensorProto held by the model: initializers,
// sparse initializers' values and indices, tensor attributes (Constant
// values, If/Loop/Scan subgraphs, function bodies) at any depth. where
// describes the tensor's place ("initializer", "node \"x\" attribute
// \"value\"", ...) for messages. It spells out where for every tensor;
// TensorsAt spells it out only on demand.
func Tensors(m *onnxpb.ModelProto, fn func(t *onnxpb.TensorProto, where string) error) error {
	return TensorsAt(m, func(t *onnxpb.TensorProto, loc *Location) error { return fn(t, loc.String()) })
}

// TensorsAt is Tensors with each tensor's place as a Location, which costs
// one small link per node attribute walked: the place is spelt out only
// when fn asks (for an error message), so the walk stays linear in the
// subgraph nesting depth.
func TensorsAt(m *onnxpb.ModelProto, fn func(t *onnxpb.TensorProto, loc *Location) error) error {
	if g := m.GetGraph(); g != nil {
		if err := graphTensors(g, nil, fn); err != nil {
			return err
		}
	}
	for _, f := range m.GetFunctions() {
		loc := &Location{part: "function " + f.GetName() + ": "}
		for _, n := range f.GetNode() {
			if err := nodeTensors(n, loc, fn); err != nil {
				return err
			}
		}
	}
	training := &Location{part: "training graph: "}
	for _, ti := range m.GetTrainingInfo() {
		for _, g := range []*onnxpb.GraphProto{ti.GetInitialization(), ti.GetAlgorithm()} {
			if g != nil {
				if err := graphTensors(g, training, fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Location is a tensor's place in a model: a chain of parts from the
// model down, spelt out by String.
type Location struct {
	parent *Location
	part   string
}

// String spells out the place, e.g. `node "a" attribute "then_branch"
// subgraph: initializer`; a nil Location is "".
func (l *Location) String() string {
	var parts []string
	for ; l != nil; l = l.parent {
		parts = append(parts, l.part)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "")
}

// at returns the place part within l.
func (l *Location) at(part string) *Location { return &Location{parent: l, part: part} }

func graphTensors(g *onnxpb.GraphProto, prefix *Location, fn func(*onnxpb.TensorProto, *Location) error) error {
	if len(g.GetInitializer()) > 0 {
		loc := prefix.at("initializer")
		for _, t := range g.GetInitializer() {
			if err := fn(t, loc); err != nil {
				return err
			}
		}
	}
	if len(g.GetSparseInitializer()) > 0 {
		loc := prefix.at("sparse initializer")
		for _, st := range g.GetSparseInitializer() {
			for _, t := range []*onnxpb.TensorProto{st.GetValues(), st.GetIndices()} {
				if t != nil {
					if err := fn(t, loc); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, n := range g.GetNode() {
		if err := nodeTensors(n, prefix, fn); err != nil {
			return err
		}
	}
	return nil
}

func nodeTensors(n *onnxpb.NodeProto, prefix *Location, fn func(*onnxpb.TensorProto, *Location) error) error {
	for _, a := range n.GetAttribute() {
		where := prefix.at("node " + quote(n.GetName()) + " attribute " + quote(a.GetName()))
		ts := append([]*onnxpb.TensorProto{}, a.GetTensors()...)
		if a.GetT() != nil {
			ts = append(ts, a.GetT())
		}
		if st := a.GetSparseTensor(); st != nil {
			ts = append(ts, st.GetValues(), st.GetIndices())
		}
		for _, st := range a.GetSparseTensors() {
			ts = append(ts, st.GetValues(), st.GetIndices())
		}
		for _, t := range ts {
			if t == nil {
				continue
			}
			if err := fn(t, where); err != nil {
				return err
			}
		}
		gs := append([]*onnxpb.GraphProto{}, a.GetGraphs()...)
		if a.GetG() != nil {
			gs = append(gs, a.GetG())
		}
		if len(gs) > 0 {
			sub := where.at(" subgraph: ")
			for _, g := range gs {
				if err := graphTensors(g, sub, fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func quote(s string) string { return "\"" + s + "\"" }
