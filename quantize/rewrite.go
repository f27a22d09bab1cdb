package quantize

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// int8Form returns a copy of the pre-processed float model (sharing its
// initializers) with the activations ONNX Runtime has no int8 kernel for
// spelled in ops it has one for, so that a MobileNet block stays int8 from
// one convolution to the next instead of leaving int8 around every
// hardswish (docs/quantize.md, "hardswish"):
//
//   - HardSigmoid(x) → Mul(Clip(Add(x, β/α), 0, 1/α), α): QLinearAdd with
//     the Clip folded into its output range, then QLinearMul;
//   - HardSwish(x) → Mul(x, HardSigmoid(x)) spelled the same way;
//   - Div(x, c) with a constant scalar c → Mul(x, 1/c): QLinearMul.
//
// Each rewrite computes the same function up to float rounding (1/c is
// rounded once). It returns the copy and how many nodes it rewrote.
func int8Form(m *onnxpb.ModelProto) (*onnxpb.ModelProto, int, error) {
	out := graph.CloneSharingInitializers(m)
	g := out.GetGraph()
	ix := graph.NewIndex(g)
	namer := graph.NewNamer(g)
	constant := func(v float32) string {
		name := namer.Name("c")
		g.Initializer = append(g.Initializer, scalarFloat(name, v))
		return name
	}
	node := func(op, name string, in []string, outName string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: op, Name: namer.Name(name), Input: in, Output: []string{outName}}
	}
	// New values take the type and shape of the activation they are
	// computed from, so that planning knows them as float tensors.
	like := func(name, of string) {
		if vi := ix.ValueInfo(of); vi != nil {
			c := proto.Clone(vi).(*onnxpb.ValueInfoProto)
			c.Name = name
			g.ValueInfo = append(g.ValueInfo, c)
		}
	}
	var nodes []*onnxpb.NodeProto
	n := 0
	for _, nd := range g.GetNode() {
		if !graph.IsDefaultDomain(nd.GetDomain()) {
			nodes = append(nodes, nd)
			continue
		}
		switch nd.GetOpType() {
		case "HardSigmoid", "HardSwish":
			alpha, beta := float32(0.2), float32(0.5)
			if nd.GetOpType() == "HardSwish" {
				alpha, beta = 1.0/6, 0.5
			}
			for _, a := range nd.GetAttribute() {
				switch a.GetName() {
				case "alpha":
					alpha = a.GetF()
				case "beta":
					beta = a.GetF()
				}
			}
			if alpha <= 0 {
				nodes = append(nodes, nd)
				continue
			}
			x, y, base := nd.GetInput()[0], nd.GetOutput()[0], nd.GetName()
			if base == "" {
				base = y
			}
			shifted, clipped := namer.Name(base+"_shift"), namer.Name(base+"_clip")
			like(shifted, x)
			like(clipped, x)
			nodes = append(nodes,
				node("Add", base+"_add", []string{x, constant(beta / alpha)}, shifted),
				node("Clip", base+"_clip", []string{shifted, constant(0), constant(1 / alpha)}, clipped))
			if nd.GetOpType() == "HardSigmoid" {
				nodes = append(nodes, node("Mul", base+"_scale", []string{clipped, constant(alpha)}, y))
			} else {
				gate := namer.Name(base + "_gate")
				like(gate, x)
				nodes = append(nodes,
					node("Mul", base+"_scale", []string{clipped, constant(alpha)}, gate),
					node("Mul", base+"_mul", []string{x, gate}, y))
			}
			n++
		case "Div":
			c := ix.Initializer(nd.GetInput()[1])
			if c == nil || tensor.DType(c.GetDataType()) != tensor.Float32 || len(c.GetDims()) != 0 {
				nodes = append(nodes, nd)
				continue
			}
			t, err := tensor.FromProto(c)
			if err != nil {
				return nil, 0, fmt.Errorf("divisor %q: %w", c.GetName(), err)
			}
			v := tensor.Values[float32](t)[0]
			if v == 0 || v != v {
				nodes = append(nodes, nd)
				continue
			}
			mul := proto.Clone(nd).(*onnxpb.NodeProto)
			mul.OpType = "Mul"
			mul.Input = []string{nd.GetInput()[0], constant(1 / v)}
			nodes = append(nodes, mul)
			n++
		default:
			nodes = append(nodes, nd)
		}
	}
	g.Node = nodes
	if n > 0 {
		if err := graph.SortNodes(g); err != nil {
			return nil, 0, err
		}
	}
	return out, n, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// StaticPlan is the plan static quantization makes for a pre-processed
// model, after the rewrites Quantize applies first (see staticForm), made
// on a copy; it returns the notes those rewrites leave. It is what
// --dry-run shows (the latency and accuracy searches, which need data, are
// not run).
func StaticPlan(float *onnxpb.ModelProto, opts PlanOptions) (*Plan, []string, error) {
	_, p, notes, err := staticForm(float, opts)
	return p, notes, err
}

// staticForm returns a copy of the pre-processed model as static
// quantization plans it — int8Form, then MaxPool moved before the Relu of
// a convolution that stays float (exact) — with its plan and a note per
// rewrite.
func staticForm(float *onnxpb.ModelProto, opts PlanOptions) (*onnxpb.ModelProto, *Plan, []string, error) {
	f, n, err := int8Form(float)
	if err != nil {
		return nil, nil, nil, err
	}
	var notes []string
	if n > 0 {
		notes = append(notes, fmt.Sprintf("spelled %d HardSigmoid/HardSwish/Div-by-constant %s with ops that have int8 kernels (Add, Clip, Mul)", n, plural(n, "node", "nodes")))
	}
	p, err := BuildPlan(f, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	if k := poolBeforeRelu(f, p); k > 0 {
		notes = append(notes, fmt.Sprintf("moved %d MaxPool before the Relu of a convolution that stays float", k))
		if p, err = BuildPlan(f, opts); err != nil {
			return nil, nil, nil, err
		}
	}
	return f, p, notes, nil
}
