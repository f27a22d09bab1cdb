package half

import (
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// cpuBFloat16Ops are the default-domain operators ONNX Runtime 1.30's CPU
// provider runs on bfloat16 tensors, found by running one-node models
// (TestCPUCoverage): data movement, Cast, LayerNormalization, Sign, IsNaN
// (from opset 20) and the control-flow operators, which have no element
// type of their own.
// Everything else either has no bfloat16 kernel ("Could not find an
// implementation") or no bfloat16 signature in ONNX, and ONNX Runtime does
// not fall back to float32 for bfloat16 as it does for float16.
var cpuBFloat16Ops = setOf(
	"Cast", "Concat", "Constant", "ConstantOfShape", "Flatten", "Gather", "GatherElements",
	"GatherND", "Identity", "If", "IsNaN", "LayerNormalization", "Loop", "Reshape", "Scan",
	"ScatterElements", "ScatterND", "Shape", "Sign", "Slice", "Split", "Squeeze", "Transpose",
	"Unsqueeze",
)

// CPUBlockOps returns the operator types of m, subgraphs included, that
// ONNX Runtime 1.30's CPU provider cannot run in t, sorted, for
// Options.BlockOps when the converted model is to run on CPU.
//
// For float16 it returns none: ONNX Runtime runs float16 operators that
// lack a CPU kernel in float32 between Casts it inserts itself, and the
// operators ONNX gives no float16 signature are in DefaultBlockOps. For
// bfloat16 it returns nearly every compute operator (see cpuBFloat16Ops),
// so on CPU a bfloat16 model computes in float32 and keeps the weights of
// blocked operators float32: bfloat16 is a target for GPUs.
func CPUBlockOps(m *onnxpb.ModelProto, t tensor.DType) []string {
	if t != tensor.BFloat16Type {
		return nil
	}
	opset := graph.DefaultOpset(m)
	seen := make(map[string]bool)
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.GetNode() {
			op := n.GetOpType()
			if graph.IsDefaultDomain(n.GetDomain()) && (!cpuBFloat16Ops[op] || (op == "IsNaN" && opset < 20)) {
				seen[op] = true
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG())
				}
				for _, sg := range a.GetGraphs() {
					walk(sg)
				}
			}
		}
	}
	walk(m.GetGraph())
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// CPUBlockNodes returns the names of main-graph nodes of m that must stay
// float32 for a t model to load in ONNX Runtime 1.30's CPU provider, for
// Options.BlockNodes (nodes must be named; prep.Run names them).
//
// For float16 they are the MatMuls with a constant B whose A comes from a
// Transpose that keeps the last axis in place ([T, N, C] → [N, T, C], as
// a CRNN's sequence head does), and that Transpose: at graph optimization
// level all, session creation crashes the process (SIGSEGV) when the
// Transpose runs in float16, whether the MatMul does or computes in
// float32 behind a Cast; a B that is not constant, a Transpose that moves
// the last axis, or a float32 Transpose all load (TestCPUTransposeMatMul).
// For bfloat16, CPUBlockOps already keeps MatMul float32, so it returns
// none.
func CPUBlockNodes(m *onnxpb.ModelProto, t tensor.DType) []string {
	if t != tensor.Float16 {
		return nil
	}
	g := m.GetGraph()
	constant := make(map[string]bool)
	for _, init := range g.GetInitializer() {
		constant[init.GetName()] = true
	}
	producer := make(map[string]*onnxpb.NodeProto)
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
		if n.GetOpType() == "Constant" && len(n.GetOutput()) == 1 {
			constant[n.GetOutput()[0]] = true
		}
	}
	var names []string
	for _, n := range g.GetNode() {
		if n.GetOpType() != "MatMul" || !graph.IsDefaultDomain(n.GetDomain()) || len(n.GetInput()) != 2 || !constant[n.GetInput()[1]] {
			continue
		}
		tr := producer[n.GetInput()[0]]
		if tr == nil || tr.GetOpType() != "Transpose" || !graph.IsDefaultDomain(tr.GetDomain()) {
			continue
		}
		if perm := attrOf(tr, "perm").GetInts(); len(perm) > 0 && perm[len(perm)-1] == int64(len(perm)-1) {
			names = append(names, tr.GetName(), n.GetName())
		}
	}
	return names
}
