package onnx

import "github.com/infer-ml/infer/pkg/onnx/onnxpb"

// Tensors calls fn for every TensorProto held by the model: initializers,
// sparse initializers' values and indices, tensor attributes (Constant
// values, If/Loop/Scan subgraphs, function bodies) at any depth. where
// describes the tensor's place ("initializer", "node \"x\" attribute
// \"value\"", ...) for messages.
func Tensors(m *onnxpb.ModelProto, fn func(t *onnxpb.TensorProto, where string) error) error {
	if g := m.GetGraph(); g != nil {
		if err := graphTensors(g, "", fn); err != nil {
			return err
		}
	}
	for _, f := range m.GetFunctions() {
		for _, n := range f.GetNode() {
			if err := nodeTensors(n, "function "+f.GetName()+": ", fn); err != nil {
				return err
			}
		}
	}
	for _, ti := range m.GetTrainingInfo() {
		for _, g := range []*onnxpb.GraphProto{ti.GetInitialization(), ti.GetAlgorithm()} {
			if g != nil {
				if err := graphTensors(g, "training graph: ", fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func graphTensors(g *onnxpb.GraphProto, prefix string, fn func(*onnxpb.TensorProto, string) error) error {
	for _, t := range g.GetInitializer() {
		if err := fn(t, prefix+"initializer"); err != nil {
			return err
		}
	}
	for _, st := range g.GetSparseInitializer() {
		for _, t := range []*onnxpb.TensorProto{st.GetValues(), st.GetIndices()} {
			if t != nil {
				if err := fn(t, prefix+"sparse initializer"); err != nil {
					return err
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

func nodeTensors(n *onnxpb.NodeProto, prefix string, fn func(*onnxpb.TensorProto, string) error) error {
	for _, a := range n.GetAttribute() {
		where := prefix + "node " + quote(n.GetName()) + " attribute " + quote(a.GetName())
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
		for _, g := range gs {
			if err := graphTensors(g, where+" subgraph: ", fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func quote(s string) string { return "\"" + s + "\"" }
