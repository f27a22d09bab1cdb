package graph

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// ConstantsToInitializers brings m into the "weights are initializers"
// normal form: every Constant node of the default domain, in the main
// graph and in subgraphs at any depth, is replaced by an initializer of
// the same graph named after the node's output. All of Constant's value
// attributes are handled: value (a copy of the tensor), sparse_value
// (made dense), value_float, value_int and value_string (0-D tensors of
// FLOAT, INT64 and STRING), value_floats, value_ints and value_strings
// (1-D). It returns how many nodes it replaced. Function bodies are left
// alone: functions cannot hold initializers.
//
// IR versions below 4 require every initializer to be listed among the
// graph inputs too, which would add model inputs that callers then see
// and must not feed. Instead, when it replaces at least one node and
// m.IrVersion < 4, it sets m.IrVersion to 4: version 4 only lifts that
// rule, so the model means the same and every runtime that reads IR 3
// reads IR 4.
//
// It returns an error, changing nothing, for a Constant node without an
// output, without exactly one value attribute, with an unreadable sparse
// value, or whose output name is already an initializer or graph input.
func ConstantsToInitializers(m *onnxpb.ModelProto) (int, error) {
	g := m.GetGraph()
	if g == nil {
		return 0, errors.New("constants to initializers: model has no graph")
	}
	type change struct {
		g     *onnxpb.GraphProto
		drop  map[*onnxpb.NodeProto]bool
		inits []*onnxpb.TensorProto
	}
	var changes []*change
	count := 0
	var plan func(g *onnxpb.GraphProto, where string) error
	plan = func(g *onnxpb.GraphProto, where string) error {
		var c *change
		taken := make(map[string]bool)
		for _, t := range g.GetInitializer() {
			taken[t.GetName()] = true
		}
		for _, v := range g.GetInput() {
			taken[v.GetName()] = true
		}
		for i, n := range g.GetNode() {
			if n == nil {
				return fmt.Errorf("%snode #%d is nil", where, i)
			}
			for _, a := range subgraphAttrs(n) {
				for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
					if sg == nil {
						continue
					}
					if err := plan(sg, fmt.Sprintf("%s%s attribute %q: ", where, describeNode(n, i), a.GetName())); err != nil {
						return err
					}
				}
			}
			if n.GetOpType() != "Constant" || !IsDefaultDomain(n.GetDomain()) {
				continue
			}
			t, err := constantTensor(n)
			if err != nil {
				return fmt.Errorf("%s%s: %w", where, describeNode(n, i), err)
			}
			if taken[t.GetName()] {
				return fmt.Errorf("%s%s: output %q is already an initializer or graph input", where, describeNode(n, i), t.GetName())
			}
			taken[t.GetName()] = true
			if c == nil {
				c = &change{g: g, drop: make(map[*onnxpb.NodeProto]bool)}
				changes = append(changes, c)
			}
			c.drop[n] = true
			c.inits = append(c.inits, t)
			count++
		}
		return nil
	}
	if err := plan(g, ""); err != nil {
		return 0, err
	}
	for _, c := range changes {
		kept := c.g.Node[:0:0]
		for _, n := range c.g.Node {
			if !c.drop[n] {
				kept = append(kept, n)
			}
		}
		c.g.Node = kept
		c.g.Initializer = append(c.g.Initializer, c.inits...)
	}
	if count > 0 && m.IrVersion < 4 {
		m.IrVersion = 4
	}
	return count, nil
}

// constantTensor returns the value of a Constant node as a tensor named
// after its output.
func constantTensor(n *onnxpb.NodeProto) (*onnxpb.TensorProto, error) {
	if len(n.GetOutput()) != 1 || n.Output[0] == "" {
		return nil, fmt.Errorf("Constant must have one named output, has %q", n.GetOutput())
	}
	name := n.Output[0]
	if len(n.GetAttribute()) != 1 {
		return nil, fmt.Errorf("Constant must have exactly one value attribute, has %d", len(n.GetAttribute()))
	}
	a := n.Attribute[0]
	if a.GetRefAttrName() != "" {
		return nil, fmt.Errorf("Constant attribute %q refers to a function attribute (%q) outside a function", a.GetName(), a.GetRefAttrName())
	}
	switch a.GetName() {
	case "value":
		if a.GetT() == nil {
			return nil, errors.New(`Constant attribute "value" holds no tensor`)
		}
		t := proto.Clone(a.GetT()).(*onnxpb.TensorProto)
		t.Name = name
		return t, nil
	case "sparse_value":
		if a.GetSparseTensor() == nil {
			return nil, errors.New(`Constant attribute "sparse_value" holds no sparse tensor`)
		}
		return densify(a.GetSparseTensor(), name)
	case "value_float":
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_FLOAT), Dims: []int64{}, FloatData: []float32{a.GetF()}}, nil
	case "value_floats":
		v := append([]float32{}, a.GetFloats()...)
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_FLOAT), Dims: []int64{int64(len(v))}, FloatData: v}, nil
	case "value_int":
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_INT64), Dims: []int64{}, Int64Data: []int64{a.GetI()}}, nil
	case "value_ints":
		v := append([]int64{}, a.GetInts()...)
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_INT64), Dims: []int64{int64(len(v))}, Int64Data: v}, nil
	case "value_string":
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_STRING), Dims: []int64{}, StringData: [][]byte{append([]byte{}, a.GetS()...)}}, nil
	case "value_strings":
		var v [][]byte
		for _, s := range a.GetStrings() {
			v = append(v, append([]byte{}, s...))
		}
		return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_STRING), Dims: []int64{int64(len(v))}, StringData: v}, nil
	}
	return nil, fmt.Errorf("Constant has unknown value attribute %q", a.GetName())
}
