package testmodels

import (
	"cmp"
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// IfBodyConfig shapes IfBody. Zero fields take the defaults noted.
type IfBodyConfig struct {
	Tokens   int64  // fixed axis 1 of the input; default 16
	Features int64  // fixed axis 2 of the input; default 96
	Hidden   int64  // width of both branches' hidden layer; default 64
	Classes  int64  // default 10
	Seed     uint64 // weight seed (0 is a valid seed)
}

// IfBody returns a model whose whole body sits inside the branches of an
// If, as tf2onnx exports a tf.cond, at opset 13: input "x.1" [N, Tokens,
// Features] float; cond = ReduceSum(x) > 0 over every element, known only
// at run time; the then-branch is MatMul+Add+Relu per token → ReduceMean
// over tokens → MatMul+Add, the else-branch Flatten → MatMul+Add+Tanh →
// MatMul+Add; output "output_0" [N, Classes]. Every weight is an
// initializer of the outer graph that the branches read by name, under
// TensorFlow-style names ("model/dense/kernel:0").
func IfBody(cfg IfBodyConfig) *onnxpb.ModelProto {
	if cfg.Tokens == 0 {
		cfg.Tokens = 16
	}
	if cfg.Features == 0 {
		cfg.Features = 96
	}
	if cfg.Hidden == 0 {
		cfg.Hidden = 64
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	b := NewBuilder("ifbody", 13)
	r := NewRand(cfg.Seed)
	x := b.Input("x.1", tensor.Float32, "N", cfg.Tokens, cfg.Features)
	sum := b.Op("ReduceSum", []string{x}, AttrInt("keepdims", 0))
	cond := b.Op("Greater", []string{sum, scalar(b, "const", 0)})

	// dense adds an outer-graph kernel [in, out] and bias and returns a
	// function applying them inside a branch.
	dense := func(name string, in, out int64, relu bool) func(g *Builder, h string) string {
		shape := []int64{in, out}
		w := r.Xavier(shape, in, out)
		if relu {
			w = r.He(shape, in)
		}
		kernel := b.Initializer(fmt.Sprintf("model/%s/kernel:0", name), shape, w)
		bias := b.Initializer(fmt.Sprintf("model/%s/bias:0", name), []int64{out}, r.Normal([]int64{out}, 0.02))
		return func(g *Builder, h string) string {
			return g.Op("Add", []string{g.Op("MatMul", []string{h, kernel}), bias})
		}
	}
	tokenDense := dense("token_dense", cfg.Features, cfg.Hidden, true)
	tokenOut := dense("token_logits", cfg.Hidden, cfg.Classes, false)
	flatDense := dense("flat_dense", cfg.Tokens*cfg.Features, cfg.Hidden, false)
	flatOut := dense("flat_logits", cfg.Hidden, cfg.Classes, false)

	then := NewSubgraph("then_branch")
	h := then.Op("Relu", []string{tokenDense(then, x)})
	h = axesOp(then, 13, "ReduceMean", h, []int64{1}, AttrInt("keepdims", 0))
	then.Output(tokenOut(then, h), tensor.Float32, "N", cfg.Classes)

	els := NewSubgraph("else_branch")
	h = els.Op("Flatten", []string{x}, AttrInt("axis", 1))
	h = els.Op("Tanh", []string{flatDense(els, h)})
	els.Output(flatOut(els, h), tensor.Float32, "N", cfg.Classes)

	b.Node("If", []string{cond}, []string{"output_0"},
		AttrGraph("then_branch", then.Graph()), AttrGraph("else_branch", els.Graph()))
	b.Output("output_0", tensor.Float32, "N", cfg.Classes)
	return b.Model()
}

func ifBodyArch(cfg IfBodyConfig) Arch {
	return Arch{
		Name:   "ifbody",
		Model:  IfBody(cfg),
		ShapeA: map[string][]int64{"x.1": {1, 16, 96}},
		ShapeB: map[string][]int64{"x.1": {2, 16, 96}},
		Idioms: []string{"opset 13", "dim_param batch", "whole body inside If branches",
			"branches read outer-graph initializers", "data-dependent If condition (ReduceSum > 0)",
			"dotted input name", "TensorFlow-style weight names"},
	}
}

// MLPFixedConfig shapes MLPFixed. Zero fields take the defaults noted,
// which are also its benchmark size (the batch-64, width-1024 MatMuls of
// the design notes).
type MLPFixedConfig struct {
	Batch   int64   // fixed batch; default 64
	In      int64   // default 1024
	Hidden  []int64 // Gemm+Relu widths; default {512, 256}
	Classes int64   // default 10
	Seed    uint64  // weight seed (0 is a valid seed)
}

// MLPFixed returns an MLP at opset 13 with no dynamic dim at all: input
// "x" [Batch, In] float → (Gemm transB=1 + Relu) per hidden width → Gemm
// → output "logits" [Batch, Classes]. Tools that assume a symbolic batch
// must cope with it.
func MLPFixed(cfg MLPFixedConfig) *onnxpb.ModelProto {
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	if cfg.In == 0 {
		cfg.In = 1024
	}
	if cfg.Hidden == nil {
		cfg.Hidden = []int64{512, 256}
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	b := NewBuilder("mlp_fixed", 13)
	r := NewRand(cfg.Seed)
	x := b.Input("x", tensor.Float32, cfg.Batch, cfg.In)
	in := cfg.In
	for i, h := range cfg.Hidden {
		x = b.Op("Relu", []string{gemm(b, r, fmt.Sprintf("fc%d", i+1), x, "", in, h, true)})
		in = h
	}
	gemm(b, r, fmt.Sprintf("fc%d", len(cfg.Hidden)+1), x, "logits", in, cfg.Classes, false)
	b.Output("logits", tensor.Float32, cfg.Batch, cfg.Classes)
	return b.Model()
}

// mlpFixedArch: ShapeA and ShapeB are the same, since the model has no
// dynamic dim to vary.
func mlpFixedArch(cfg MLPFixedConfig) Arch {
	shape := []int64{cmp.Or(cfg.Batch, 64), cmp.Or(cfg.In, 1024)}
	return Arch{
		Name:   "mlp_fixed",
		Model:  MLPFixed(cfg),
		ShapeA: map[string][]int64{"x": shape},
		ShapeB: map[string][]int64{"x": shape},
		Idioms: []string{"opset 13", "no dynamic dim (fixed batch 64)", "Gemm transB=1", "Relu"},
	}
}

// MLPTorchConfig shapes MLPTorch. Zero fields take the defaults noted.
type MLPTorchConfig struct {
	In      int64   // input features; default 256
	Hidden  []int64 // four or any number of MatMul+Add+Relu widths; default {512, 256, 256, 128}
	Classes int64   // default 10
	Seed    uint64  // weight seed (0 is a valid seed)
}

// MLPTorchBenchmark is a wider MLP: input 1024, hidden {2048, 2048, 1024,
// 512} (8.4 M parameters).
func MLPTorchBenchmark() MLPTorchConfig {
	return MLPTorchConfig{In: 1024, Hidden: []int64{2048, 2048, 1024, 512}}
}

// MLPTorch returns an MLP as torch.onnx.export writes nn.Linear layers at
// opset 13, every node unnamed: input "x" [batch, In] float → per hidden
// width MatMul by a pre-transposed weight "onnx::MatMul_<k>" [in, out] →
// Add "fc<i>.bias" → Relu → final MatMul+Add → Identity → output "y"
// [batch, Classes]. Intermediate values carry PyTorch's scope names
// ("/fc1/MatMul_output_0", "/fc1/Add_output_0", "/relu/Relu_output_0",
// "/relu_1/Relu_output_0", …).
func MLPTorch(cfg MLPTorchConfig) *onnxpb.ModelProto {
	if cfg.In == 0 {
		cfg.In = 256
	}
	if cfg.Hidden == nil {
		cfg.Hidden = []int64{512, 256, 256, 128}
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	b := NewBuilder("main_graph", 13).Unnamed(true)
	r := NewRand(cfg.Seed)
	x := b.Input("x", tensor.Float32, "batch", cfg.In)
	widths := append(append([]int64{}, cfg.Hidden...), cfg.Classes)
	in := cfg.In
	for i, out := range widths {
		last := i == len(widths)-1
		shape := []int64{in, out}
		w := r.He(shape, in)
		if last {
			w = r.Xavier(shape, in, out)
		}
		weight := b.Initializer(fmt.Sprintf("onnx::MatMul_%d", 12+i), shape, w)
		bias := b.Initializer(fmt.Sprintf("fc%d.bias", i+1), []int64{out}, r.Normal([]int64{out}, 0.01))
		scope := fmt.Sprintf("/fc%d/", i+1)
		b.Node("MatMul", []string{x, weight}, []string{scope + "MatMul_output_0"})
		b.Node("Add", []string{scope + "MatMul_output_0", bias}, []string{scope + "Add_output_0"})
		x = scope + "Add_output_0"
		if !last {
			relu := "/relu/Relu_output_0" // one nn.ReLU module called repeatedly
			if i > 0 {
				relu = fmt.Sprintf("/relu_%d/Relu_output_0", i)
			}
			b.Node("Relu", []string{x}, []string{relu})
			x = relu
		}
		in = out
	}
	b.Node("Identity", []string{x}, []string{"y"})
	b.Output("y", tensor.Float32, "batch", cfg.Classes)
	return b.Model()
}

func mlpTorchArch(cfg MLPTorchConfig) Arch {
	in := cmp.Or(cfg.In, 256)
	return Arch{
		Name:   "mlp_torch",
		Model:  MLPTorch(cfg),
		ShapeA: map[string][]int64{"x": {1, in}},
		ShapeB: map[string][]int64{"x": {3, in}},
		Idioms: []string{"opset 13", "dim_param batch", "unnamed nodes", "PyTorch value names (onnx::MatMul_N, /fc1/Add_output_0)",
			"MatMul + Add instead of Gemm", "Identity before the graph output"},
	}
}
