package quantize

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// DynamicOpTypes are what dynamic quantization rewrites.
var DynamicOpTypes = []string{"MatMul", "Gemm"}

// ApplyDynamic rewrites MatMul and Gemm nodes with constant float32 weights
// (in place) into
//
//	DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zp, W_zp) → Cast
//	→ Mul(x_scale · W_scale) [→ Add(bias)]
//
// with int8 weights (per output column when perChannel), the pattern ONNX
// Runtime fuses into its dynamically quantized MatMul kernels. Activation
// ranges are computed at run time, so no calibration data is needed.
// Gemm is rewritten only when alpha = beta = 1 and transA = 0; a transposed
// weight is stored pre-transposed. It returns the decisions per node.
func ApplyDynamic(m *onnxpb.ModelProto, opts PlanOptions) ([]NodeDecision, *ApplyStats, error) {
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	namer := graph.NewNamer(g)
	types := valueTypes(g)
	st := &ApplyStats{}
	excluded := map[string]bool{}
	for _, n := range opts.ExcludeNodes {
		excluded[n] = true
	}
	wantOps := map[string]bool{"MatMul": true, "Gemm": true}
	if opts.OpTypes != nil {
		wantOps = map[string]bool{}
		for _, op := range opts.OpTypes {
			if op != "MatMul" && op != "Gemm" {
				return nil, nil, fmt.Errorf("dynamic quantization handles MatMul and Gemm, not %s (use --data for static quantization)", op)
			}
			wantOps[op] = true
		}
	}
	for _, op := range opts.ExcludeOpTypes {
		delete(wantOps, op)
	}
	var decisions []NodeDecision
	var out []*onnxpb.NodeProto
	for _, n := range g.Node {
		d := NodeDecision{Name: n.GetName(), OpType: n.GetOpType()}
		var repl []*onnxpb.NodeProto
		var reason string
		switch {
		case n.GetOpType() != "MatMul" && n.GetOpType() != "Gemm":
			reason = "dynamic quantization covers MatMul and Gemm only"
		case n.GetName() != "" && excluded[n.GetName()]:
			reason = "excluded by --exclude-nodes"
		case n.GetName() != "" && opts.KeepFloat[n.GetName()] != "":
			reason = opts.KeepFloat[n.GetName()]
		case !wantOps[n.GetOpType()]:
			reason = "op type not selected"
		default:
			repl, reason = dynamicNode(g, ix, namer, types, n, opts.PerChannel)
		}
		if reason == "" {
			d.Quantized = true
			out = append(out, repl...)
			st.Weights++
		} else {
			d.Reason = reason
			out = append(out, n)
		}
		decisions = append(decisions, d)
	}
	g.Node = out
	if _, err := graph.EliminateDeadCode(g); err != nil {
		return nil, nil, err
	}
	if err := graph.SortNodes(g); err != nil {
		return nil, nil, err
	}
	return decisions, st, nil
}

func dynamicNode(g *onnxpb.GraphProto, ix *graph.Index, namer *graph.Namer, types map[string]tensor.DType, n *onnxpb.NodeProto, perChannel bool) ([]*onnxpb.NodeProto, string) {
	in := n.GetInput()
	x, wname := in[0], in[1]
	init := ix.Initializer(wname)
	if init == nil {
		return nil, "weights are not constant"
	}
	if tensor.DType(init.GetDataType()) != tensor.Float32 || len(init.GetDims()) != 2 {
		return nil, "weights are not a float32 matrix"
	}
	// MatMul and Gemm take inputs of one type, so x is float32 like the
	// weight; a declared other type means the graph is invalid.
	if t, ok := types[x]; ok && t != tensor.Float32 {
		return nil, fmt.Sprintf("input %q is %s", x, t)
	}
	if len(ix.Consumers(wname)) != 1 {
		return nil, fmt.Sprintf("weight %q is shared", wname)
	}
	w, err := tensor.FromProto(init)
	if err != nil {
		return nil, err.Error()
	}
	bias, transB := "", false
	if n.GetOpType() == "Gemm" {
		for _, a := range n.GetAttribute() {
			switch a.GetName() {
			case "alpha", "beta":
				if a.GetF() != 1 {
					return nil, "alpha or beta is not 1"
				}
			case "transA":
				if a.GetI() != 0 {
					return nil, "transA is set"
				}
			case "transB":
				transB = a.GetI() != 0
			}
		}
		if len(in) > 2 && in[2] != "" {
			bias = in[2]
		}
	}
	// Output channels are columns of B [K, N], rows of a transposed
	// Gemm weight [N, K]. A transposed weight is quantized as it is stored
	// and its int8 form transposed: a quarter of the bytes to move.
	axis := 1
	if transB {
		axis = 0
	}
	if !perChannel {
		axis = -1
	}
	_, dq, err := quantizeWeightTensor(g, namer, namer.Name(wname+"_matrix"), w, axis, tensor.Int8)
	if err != nil {
		return nil, err.Error()
	}
	if transB {
		for _, t := range g.Initializer {
			if t.GetName() == dq.Input[0] {
				transposeBytes(t)
			}
		}
	}
	// MatMulInteger reads the int8 weight directly; the DequantizeLinear is
	// not used.
	wq, wscale := dq.Input[0], dq.Input[1]
	xq, xs, xzp := namer.Name(x+"_quantized"), namer.Name(x+"_scale"), namer.Name(x+"_zero_point")
	acc, accf, sc, y := namer.Name(n.GetName()+"_int32"), namer.Name(n.GetName()+"_float"), namer.Name(n.GetName()+"_scale"), n.GetOutput()[0]
	mulOut := y
	if bias != "" {
		mulOut = namer.Name(n.GetName() + "_nobias")
	}
	nodes := []*onnxpb.NodeProto{
		{OpType: "DynamicQuantizeLinear", Name: namer.Name(n.GetName() + "_DynamicQuantizeLinear"), Input: []string{x}, Output: []string{xq, xs, xzp}},
		// The int8 weight's zero point is 0, MatMulInteger's default.
		{OpType: "MatMulInteger", Name: namer.Name(n.GetName() + "_MatMulInteger"), Input: []string{xq, wq, xzp}, Output: []string{acc}},
		{OpType: "Cast", Name: namer.Name(n.GetName() + "_Cast"), Input: []string{acc}, Output: []string{accf}, Attribute: []*onnxpb.AttributeProto{{Name: "to", Type: onnxpb.AttributeProto_INT, I: int64(tensor.Float32)}}},
		{OpType: "Mul", Name: namer.Name(n.GetName() + "_scales"), Input: []string{xs, wscale}, Output: []string{sc}},
		{OpType: "Mul", Name: namer.Name(n.GetName() + "_rescale"), Input: []string{accf, sc}, Output: []string{mulOut}},
	}
	if bias != "" {
		nodes = append(nodes, &onnxpb.NodeProto{OpType: "Add", Name: namer.Name(n.GetName() + "_bias"), Input: []string{mulOut, bias}, Output: []string{y}})
	}
	return nodes, ""
}

// transposeBytes transposes a 2-D tensor of one-byte elements held in
// raw_data.
func transposeBytes(t *onnxpb.TensorProto) {
	r, c := int(t.Dims[0]), int(t.Dims[1])
	v := t.RawData
	out := make([]byte, len(v))
	// Tiles keep both sides in cache for large matrices.
	const tile = 64
	for i0 := 0; i0 < r; i0 += tile {
		for j0 := 0; j0 < c; j0 += tile {
			for i := i0; i < min(i0+tile, r); i++ {
				row := v[i*c : i*c+c]
				for j := j0; j < min(j0+tile, c); j++ {
					out[j*r+i] = row[j]
				}
			}
		}
	}
	t.RawData = out
	t.Dims = []int64{int64(c), int64(r)}
}
