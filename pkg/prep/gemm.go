package prep

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// FuseMatMulAdd rewrites MatMul(A, B) → Add(·, C) as Gemm(A, B, C) in
// m's main graph and returns how many pairs it fused. ONNX Runtime fuses
// a quantized Gemm (DQ → Gemm → Q) into one integer kernel, bias
// included, where a quantized MatMul leaves the Add in float. The Gemm
// takes over the Add's output name, so readers of the sum are untouched.
//
// A pair is fused only when all of these hold, and skipped otherwise:
//   - the model imports the default domain at opset 7 or later (where
//     Gemm broadcasts C);
//   - MatMul and Add are default-domain nodes without attributes, and the
//     MatMul's output is read by the Add alone and is not a graph output;
//   - B is a float32 initializer [K, N] that is not a graph input;
//   - A is known to be a matrix: an initializer, or a value whose declared
//     type (graph input or output, value_info) gives rank 2 and, if it
//     names one, element type float32. A MatMul on a batch of matrices or
//     a vector computes what no Gemm does, and an undeclared rank may be
//     either, so the infer-shapes pass goes first;
//   - the Add's other input is a float32 initializer of shape [N] or
//     [1, N] that is not a graph input.
//
// C is given to the Gemm with shape [N]: a [1, N] tensor is replaced by
// a reshaped copy of the same name when nothing else reads it, and
// otherwise copied under a new name. The value_info of the MatMul's
// output goes with it. The Gemm is placed where the MatMul was, so a
// sorted graph stays sorted.
//
// It returns an error, changing nothing, if m or its graph is nil or the
// graph holds a nil node.
func FuseMatMulAdd(m *onnxpb.ModelProto) (int, error) {
	g := m.GetGraph()
	if g == nil {
		return 0, errors.New("fuse matmul add: nil graph")
	}
	for i, n := range g.GetNode() {
		if n == nil {
			return 0, fmt.Errorf("fuse matmul add: node #%d is nil", i)
		}
	}
	if graph.DefaultOpset(m) < 7 {
		return 0, nil
	}
	idx := graph.NewIndex(g)
	refs := newRefCounter(idx)
	nm := graph.NewNamer(g)
	type fusion struct {
		matmul, add, gemm *onnxpb.NodeProto
		c                 *onnxpb.TensorProto // a reshaped bias, nil when it is [N] already
		replace           bool
	}
	var fusions []fusion
	for _, mm := range g.GetNode() {
		add, cName := matMulAdd(idx, mm)
		if add == nil {
			continue
		}
		f := fusion{matmul: mm, add: add}
		if t := idx.Initializer(cName); len(t.GetDims()) == 2 {
			f.c = proto.Clone(t).(*onnxpb.TensorProto)
			f.c.Dims = []int64{t.GetDims()[1]}
			if refs.count(cName) == 1 {
				f.replace = true
			} else {
				refs.release(cName)
				f.c.Name = nm.Name(cName + "_gemm")
			}
			cName = f.c.Name
		}
		f.gemm = &onnxpb.NodeProto{
			Name:   mm.GetName(),
			OpType: "Gemm",
			Domain: mm.GetDomain(),
			Input:  []string{mm.Input[0], mm.Input[1], cName},
			Output: []string{add.Output[0]},
		}
		fusions = append(fusions, f)
	}
	if len(fusions) == 0 {
		return 0, nil
	}
	g.Initializer = slices.Clone(g.Initializer)
	drop := make(map[*onnxpb.NodeProto]bool)
	gone := make(map[string]bool)
	nodes := slices.Clone(g.Node)
	for _, f := range fusions {
		if f.c != nil {
			putInitializer(g, f.c, f.replace)
			if f.replace {
				gone[f.c.Name] = true // its shape changed
			}
		}
		nodes[idx.Position(f.matmul)] = f.gemm
		drop[f.add] = true
		gone[f.matmul.Output[0]] = true
	}
	g.Node = nodes
	removeNodes(g, drop)
	dropValueInfo(g, gone)
	return len(fusions), nil
}

// matMulAdd returns the Add that mm and it fuse into a Gemm and the name
// of the Add's bias, or nil.
func matMulAdd(idx *graph.Index, mm *onnxpb.NodeProto) (*onnxpb.NodeProto, string) {
	in, out := mm.GetInput(), mm.GetOutput()
	if mm.GetOpType() != "MatMul" || !graph.IsDefaultDomain(mm.GetDomain()) || len(mm.GetAttribute()) != 0 ||
		len(in) != 2 || len(out) != 1 || out[0] == "" || idx.IsOutput(out[0]) || len(idx.Consumers(out[0])) != 1 {
		return nil, ""
	}
	b := floatWeight(idx, in[1])
	if b == nil || len(b.GetDims()) != 2 || !isMatrix(idx, in[0]) {
		return nil, ""
	}
	n := b.GetDims()[1]
	use := idx.Consumers(out[0])[0]
	add, ai := use.Node, use.Node.GetInput()
	if add.GetOpType() != "Add" || !graph.IsDefaultDomain(add.GetDomain()) || len(add.GetAttribute()) != 0 ||
		use.Input == graph.Implicit || len(ai) != 2 || ai[0] == ai[1] || len(add.GetOutput()) != 1 || add.GetOutput()[0] == "" {
		return nil, ""
	}
	cName := ai[1-use.Input]
	c := floatWeight(idx, cName)
	if d := c.GetDims(); c == nil || !slices.Equal(d, []int64{n}) && !slices.Equal(d, []int64{1, n}) {
		return nil, ""
	}
	return add, cName
}

// isMatrix reports whether name is known to be a rank-2 tensor that is
// float32 or of undeclared element type.
func isMatrix(idx *graph.Index, name string) bool {
	if t := idx.Initializer(name); t != nil {
		return len(t.GetDims()) == 2 && t.GetDataType() == int32(onnxpb.TensorProto_FLOAT)
	}
	tt := idx.ValueInfo(name).GetType().GetTensorType()
	if et := tt.GetElemType(); et != 0 && et != int32(onnxpb.TensorProto_FLOAT) {
		return false
	}
	return tt.GetShape() != nil && len(tt.GetShape().GetDim()) == 2
}
