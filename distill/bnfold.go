package distill

import (
	"math"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

// foldBatchNormsForTraining rewrites each Conv → BatchNormalization pair
// of g that prep.FoldBatchNorm could fold (inference mode, frozen running
// statistics) into one Conv whose weight and bias are computed in the
// graph from the trainable tensors:
//
//	a = scale · inv       (inv = 1/√(var + ε), a constant)
//	W′ = W · a            (per output channel)
//	b′ = (b − mean) · a + B
//	y = Conv(x, W′, b′)
//
// The function is the same; W, b, scale and B stay separate trainable
// weights (their gradients flow back through the small ops on [M]-sized
// and weight-sized tensors), but the forward and backward passes no longer
// touch the activations twice for the normalisation: no
// BatchNormalization pass, and no per-element scale, x̂ and reductions in
// its gradient. The running mean and var are read into distill_ constants,
// so the originals get no gradient. It returns how many pairs it
// rewrote; pairs whose statistics make a non-finite inv are left alone.
func foldBatchNormsForTraining(g *onnxpb.GraphProto, nm *graph.Namer) (int, error) {
	pairs := prep.ConvBatchNorms(g)
	if len(pairs) == 0 {
		return 0, nil
	}
	idx := graph.NewIndex(g)
	before := map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}
	drop := map[*onnxpb.NodeProto]bool{}
	floats := func(name string) ([]float32, error) {
		t, err := tensor.FromProto(idx.Initializer(name))
		if err != nil {
			return nil, err
		}
		return tensor.Values[float32](t), nil
	}
	folded := 0
	for _, p := range pairs {
		conv, bn := p.Conv, p.BN
		wShape := idx.Initializer(conv.Input[1]).GetDims() // only the shape: W stays a trainable input
		mean, err := floats(bn.Input[3])
		if err != nil {
			return 0, err
		}
		variance, err := floats(bn.Input[4])
		if err != nil {
			return 0, err
		}
		m := wShape[0]
		inv := make([]float32, m)
		ok := true
		for i, v := range variance {
			x := 1 / math.Sqrt(float64(v)+p.Epsilon)
			if math.IsNaN(x) || math.IsInf(x, 0) {
				ok = false
			}
			inv[i] = float32(x)
		}
		if !ok {
			continue
		}
		var nodes []*onnxpb.NodeProto
		values := map[string][]int64{}
		op := func(opType string, shape []int64, inputs ...string) string {
			o := nm.Name("distill_bnfold_" + opType)
			nodes = append(nodes, &onnxpb.NodeProto{Name: nm.Name("distill_bnfold_node"), OpType: opType, Input: inputs, Output: []string{o}})
			values[o] = shape
			return o
		}
		constant := func(hint string, dims []int64, v []float32) string {
			n := nm.Name("distill_bnfold_" + hint)
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: n, DataType: int32(tensor.Float32), Dims: dims, FloatData: v})
			return n
		}
		perChannel := make([]int64, len(wShape))
		for i := range perChannel {
			perChannel[i] = 1
		}
		perChannel[0] = m
		shapeName := nm.Name("distill_bnfold_shape")
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: shapeName, DataType: int32(tensor.Int64), Dims: []int64{int64(len(perChannel))}, Int64Data: perChannel})
		vec := []int64{m}
		a := op("Mul", vec, bn.Input[1], constant("inv_std", vec, inv))
		w := op("Mul", slices.Clone(wShape), conv.Input[1], op("Reshape", perChannel, a, shapeName))
		shift := constant("mean", vec, mean)
		var centred string
		if len(conv.Input) > 2 && conv.Input[2] != "" {
			centred = op("Sub", vec, conv.Input[2], shift)
		} else {
			neg := make([]float32, m)
			for i, v := range mean {
				neg[i] = -v
			}
			centred = constant("neg_mean", vec, neg)
		}
		bias := op("Add", vec, op("Mul", vec, centred, a), bn.Input[2])
		for _, n := range nodes {
			g.ValueInfo = append(g.ValueInfo, valueInfo(n.Output[0], values[n.Output[0]]))
		}
		old := conv.Output[0]
		conv.Input = []string{conv.Input[0], w, bias}
		conv.Output = []string{bn.Output[0]}
		g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == old })
		before[conv] = nodes
		drop[bn] = true
		folded++
	}
	var out []*onnxpb.NodeProto
	for _, n := range g.Node {
		if drop[n] {
			continue
		}
		out = append(out, before[n]...)
		out = append(out, n)
	}
	g.Node = out
	return folded, nil
}
