package testmodels

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The models in this file are shaped like real exports that tools trip
// over, for loader and graph-rewrite tests. Their seeds are fixed.

// IfConstantBranches returns a model at opset 17 whose weights live only
// inside the branches of an If: input "input" [N, 8] float; the If takes
// its then-branch (MatMul by a Constant [8, 4], then Relu) when the sum of
// all input values is positive, else its else-branch (MatMul by another
// Constant [8, 4], plus a Constant bias); output "output" [N, 4]. Both
// branches read "input" from the enclosing graph.
func IfConstantBranches() *onnxpb.ModelProto {
	r := NewRand(7)
	b := NewBuilder("if_constant_branches", 17)
	x := b.Input("input", tensor.Float32, "N", 8)
	zero := b.Initializer("zero", nil, []float32{0})
	sum := b.Op("ReduceSum", []string{x}, AttrInt("keepdims", 0))
	cond := b.Op("Greater", []string{sum, zero})

	weight := func(g *Builder, name string) string {
		shape := []int64{8, 4}
		return g.AddTensor(FloatTensor(g.prefix+name, shape, r.Xavier(shape, 8, 4)))
	}
	then := NewSubgraph("then_branch").WeightsAsConstants()
	then.Node("Relu", []string{then.Op("MatMul", []string{x, weight(then, "weight")})}, []string{"then_branch/y"})
	then.Output("then_branch/y", tensor.Float32, "N", 4)

	els := NewSubgraph("else_branch").WeightsAsConstants()
	bias := els.AddTensor(FloatTensor("else_branch/bias", []int64{4}, r.Normal([]int64{4}, 0.1)))
	els.Node("Add", []string{els.Op("MatMul", []string{x, weight(els, "weight")}), bias}, []string{"else_branch/y"})
	els.Output("else_branch/y", tensor.Float32, "N", 4)

	b.Node("If", []string{cond}, []string{"output"},
		AttrGraph("then_branch", then.Graph()), AttrGraph("else_branch", els.Graph()))
	b.Output("output", tensor.Float32, "N", 4)
	return b.Model()
}

// Legacy returns a small CNN at opset 7 or 9 that uses operator signatures
// later opsets changed: Unsqueeze with an axes attribute, BatchNormalization
// with spatial (opset 7), Clip with min/max attributes, Pad with a pads
// attribute, Upsample (scales attribute at 7, input at 9) and Dropout with
// a ratio attribute. Opset 7 means IR 3, so its initializers are also
// graph inputs. Input "input" [N, 8, 8] float → Unsqueeze to [N, 1, 8, 8]
// → Conv 3×3 (4 channels) → BatchNormalization → Clip [0, 6] → Pad 1 →
// MaxPool 2×2 → Upsample ×2 → Dropout → Flatten → Gemm → output "logits"
// [N, 10]. It panics for other opsets.
func Legacy(opset int64) *onnxpb.ModelProto {
	if opset != 7 && opset != 9 {
		panic(fmt.Sprintf("testmodels: Legacy: opset %d; want 7 or 9", opset))
	}
	r := NewRand(uint64(opset))
	b := NewBuilder(fmt.Sprintf("legacy_opset%d", opset), opset)
	x := b.Input("input", tensor.Float32, "N", 8, 8)
	x = b.Op("Unsqueeze", []string{x}, AttrInts("axes", 1))
	x = conv(b, r, "conv1", x, 1, 4, 3, 1)
	if opset == 7 {
		x = batchNorm(b, r, "bn1", x, 4, AttrInt("spatial", 1))
	} else {
		x = batchNorm(b, r, "bn1", x, 4)
	}
	x = b.Op("Clip", []string{x}, AttrFloat("min", 0), AttrFloat("max", 6))
	x = b.Op("Pad", []string{x}, AttrInts("pads", 0, 0, 1, 1, 0, 0, 1, 1), AttrString("mode", "constant"), AttrFloat("value", 0))
	x = b.Op("MaxPool", []string{x}, AttrInts("kernel_shape", 2, 2), AttrInts("strides", 2, 2))
	if opset == 7 {
		x = b.Op("Upsample", []string{x}, AttrString("mode", "nearest"), AttrFloats("scales", 1, 1, 2, 2))
	} else {
		scales := b.Initializer("upsample.scales", []int64{4}, []float32{1, 1, 2, 2})
		x = b.Op("Upsample", []string{x, scales}, AttrString("mode", "nearest"))
	}
	x = b.Op("Dropout", []string{x}, AttrFloat("ratio", 0.25))
	x = b.Op("Flatten", []string{x}, AttrInt("axis", 1))
	gemm(b, r, "fc", x, "logits", 4*10*10, 10, false)
	b.Output("logits", tensor.Float32, "N", 10)
	return b.Model()
}

// Contrib returns a model at opset 17 with ONNX Runtime contrib operators
// (domain com.microsoft, version 1) over two dynamic dimensions: input
// "input" [N, T, 16] float → MatMul [16, 32] → com.microsoft BiasGelu →
// com.microsoft FusedMatMul [32, 8] → Add → output "output" [N, T, 8].
func Contrib() *onnxpb.ModelProto {
	r := NewRand(11)
	b := NewBuilder("contrib", 17).Import(MSDomain, 1)
	x := b.Input("input", tensor.Float32, "N", "T", 16)
	w1 := b.Initializer("fc1.weight", []int64{16, 32}, r.He([]int64{16, 32}, 16))
	b1 := b.Initializer("fc1.bias", []int64{32}, r.Normal([]int64{32}, 0.02))
	w2 := b.Initializer("fc2.weight", []int64{32, 8}, r.Xavier([]int64{32, 8}, 32, 8))
	b2 := b.Initializer("fc2.bias", []int64{8}, r.Normal([]int64{8}, 0.02))

	h := b.DomainOp(MSDomain, "BiasGelu", []string{b.Op("MatMul", []string{x, w1}), b1})
	y := b.DomainOp(MSDomain, "FusedMatMul", []string{h, w2}, AttrFloat("alpha", 1))
	b.Node("Add", []string{y, b2}, []string{"output"})
	b.Output("output", tensor.Float32, "N", "T", 8)
	return b.Model()
}

// SampleRate returns a model that runs only with its scalar int64 input
// "sr" at 16000, as an audio model checking its sample rate would: input
// "x" [N, T] float, "sr" []; an If passes x through to "y" [N, T] when sr
// is 16000 and otherwise reshapes it to an impossible shape. Random data
// cannot invent sr; a tool must ask for it.
func SampleRate() *onnxpb.ModelProto {
	b := NewBuilder("sample_rate", 13)
	x := b.Input("x", tensor.Float32, "N", "T")
	sr := b.Input("sr", tensor.Int64)
	then := NewSubgraph("then")
	then.Node("Identity", []string{x}, []string{"ok"})
	then.Output("ok", tensor.Float32, "N", "T")
	other := NewSubgraph("else")
	other.Node("Reshape", []string{x, other.InitializerInt64("bad", []int64{3}, []int64{7, 0, -1})}, []string{"bad_out"})
	other.Output("bad_out", tensor.Float32, "N", "T")
	cond := b.Op("Equal", []string{sr, b.InitializerInt64("rate", nil, []int64{16000})})
	b.Node("If", []string{cond}, []string{"y"}, AttrGraph("then_branch", then.Graph()), AttrGraph("else_branch", other.Graph()))
	b.Output("y", tensor.Float32, "N", "T")
	return b.Model()
}
