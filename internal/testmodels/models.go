package testmodels

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// MLPConfig shapes MLP. Zero fields take the defaults noted.
type MLPConfig struct {
	In      int64   // input features; default 64
	Hidden  []int64 // hidden widths, each followed by Relu; default {128, 64}
	Classes int64   // output logits; default 10
	Seed    uint64  // weight seed (0 is a valid seed)
	// WeightsAsConstants stores every weight in a Constant node instead of
	// an initializer, as some exporters do.
	WeightsAsConstants bool
}

// MLP returns a classifier at opset 17: input "input" [N, In] float →
// (Gemm + Relu) per hidden width → Gemm → output "logits" [N, Classes].
// Layer k's weights are "fc<k>.weight" [out, in] (transB=1) and
// "fc<k>.bias" [out].
func MLP(cfg MLPConfig) *onnxpb.ModelProto {
	if cfg.In == 0 {
		cfg.In = 64
	}
	if cfg.Hidden == nil {
		cfg.Hidden = []int64{128, 64}
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	name := "mlp"
	if cfg.WeightsAsConstants {
		name = "mlp_constants"
	}
	b := NewBuilder(name, 17)
	if cfg.WeightsAsConstants {
		b.WeightsAsConstants()
	}
	r := NewRand(cfg.Seed)
	x := b.Input("input", tensor.Float32, "N", cfg.In)
	in := cfg.In
	for i, h := range cfg.Hidden {
		x = b.Op("Relu", []string{gemm(b, r, fmt.Sprintf("fc%d", i+1), x, "", in, h, true)})
		in = h
	}
	gemm(b, r, fmt.Sprintf("fc%d", len(cfg.Hidden)+1), x, "logits", in, cfg.Classes, false)
	b.Output("logits", tensor.Float32, "N", cfg.Classes)
	return b.Model()
}

// gemm adds Gemm(x, W[out,in]ᵀ, bias) with He weights before a ReLU and
// Xavier weights otherwise, and returns its output, named y or, when y is
// "", after the node.
func gemm(b *Builder, r *Rand, prefix, x, y string, in, out int64, relu bool) string {
	shape := []int64{out, in}
	var w []float32
	if relu {
		w = r.He(shape, in)
	} else {
		w = r.Xavier(shape, in, out)
	}
	wn := b.Initializer(prefix+".weight", shape, w)
	bn := b.Initializer(prefix+".bias", []int64{out}, r.Normal([]int64{out}, 0.01))
	if y == "" {
		return b.Op("Gemm", []string{x, wn, bn}, AttrInt("transB", 1))
	}
	b.Node("Gemm", []string{x, wn, bn}, []string{y}, AttrInt("transB", 1))
	return y
}

// CNNConfig shapes CNN. Zero fields take the defaults noted.
type CNNConfig struct {
	InputSize int64   // input height and width; default 32
	Channels  []int64 // output channels of each conv stage; default {16, 32, 64}
	Classes   int64   // output logits; default 10
	Seed      uint64  // weight seed (0 is a valid seed)
}

// CNN224Config is the wider CNN used by prune benchmarks: 224×224 input and
// 32/64/128 channels (about 0.5 GFLOP per image).
func CNN224Config() CNNConfig {
	return CNNConfig{InputSize: 224, Channels: []int64{32, 64, 128}}
}

// CNN returns a convolutional classifier at opset 17: input "input"
// [N, 3, InputSize, InputSize] float → per stage Conv 3×3 pad 1 (with bias)
// + BatchNormalization + Relu, then MaxPool 2×2 between stages →
// GlobalAveragePool → Flatten → Gemm → output "logits" [N, Classes].
// Stage k's weights are "conv<k>.weight" [c_out, c_in, 3, 3], "conv<k>.bias"
// and "bn<k>.{scale,bias,mean,var}"; the classifier is "fc.weight"/"fc.bias".
func CNN(cfg CNNConfig) *onnxpb.ModelProto {
	if cfg.InputSize == 0 {
		cfg.InputSize = 32
	}
	if cfg.Channels == nil {
		cfg.Channels = []int64{16, 32, 64}
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	b := NewBuilder(fmt.Sprintf("cnn%d", cfg.InputSize), 17)
	r := NewRand(cfg.Seed)
	x := b.Input("input", tensor.Float32, "N", 3, cfg.InputSize, cfg.InputSize)
	cin := int64(3)
	for i, c := range cfg.Channels {
		k := i + 1
		if i > 0 {
			x = b.Op("MaxPool", []string{x}, AttrInts("kernel_shape", 2, 2), AttrInts("strides", 2, 2))
		}
		x = conv(b, r, fmt.Sprintf("conv%d", k), x, cin, c, 3, 1)
		x = batchNorm(b, r, fmt.Sprintf("bn%d", k), x, c)
		x = b.Op("Relu", []string{x})
		cin = c
	}
	x = b.Op("GlobalAveragePool", []string{x})
	x = b.Op("Flatten", []string{x}, AttrInt("axis", 1))
	gemm(b, r, "fc", x, "logits", cin, cfg.Classes, false)
	b.Output("logits", tensor.Float32, "N", cfg.Classes)
	return b.Model()
}

// conv adds a square Conv with bias, stride 1 and He weights.
func conv(b *Builder, r *Rand, prefix, x string, cin, cout, k, pad int64) string {
	shape := []int64{cout, cin, k, k}
	w := b.Initializer(prefix+".weight", shape, r.He(shape, cin*k*k))
	bias := b.Initializer(prefix+".bias", []int64{cout}, r.Normal([]int64{cout}, 0.01))
	return b.Op("Conv", []string{x, w, bias},
		AttrInts("kernel_shape", k, k), AttrInts("pads", pad, pad, pad, pad), AttrInts("strides", 1, 1))
}

// batchNorm adds an inference BatchNormalization with statistics near the
// identity, so activations keep their scale.
func batchNorm(b *Builder, r *Rand, prefix, x string, c int64, attrs ...*onnxpb.AttributeProto) string {
	shape := []int64{c}
	scale := r.Uniform(shape, 0.8, 1.2)
	bias := r.Normal(shape, 0.05)
	mean := r.Normal(shape, 0.05)
	variance := r.Uniform(shape, 0.5, 1.5)
	in := []string{
		x,
		b.Initializer(prefix+".scale", shape, scale),
		b.Initializer(prefix+".bias", shape, bias),
		b.Initializer(prefix+".mean", shape, mean),
		b.Initializer(prefix+".var", shape, variance),
	}
	return b.Op("BatchNormalization", in, append([]*onnxpb.AttributeProto{AttrFloat("epsilon", 1e-5)}, attrs...)...)
}

// TransformerConfig shapes Transformer. Zero fields take the defaults noted.
type TransformerConfig struct {
	D     int64  // model width; default 64 (benchmarks use 512)
	Heads int64  // attention heads, dividing D; default 4
	FF    int64  // feed-forward width; default 4·D
	Seq   int64  // fixed sequence length; default 0, a symbolic "S"
	Opset int64  // default 20, which has Gelu; below 20 GELU is spelled with Erf
	Seed  uint64 // weight seed (0 is a valid seed)
}

// Transformer returns one pre-norm encoder block: input "input" [N, S, D]
// float → LayerNormalization → Q/K/V MatMul+Add → heads → softmax(QKᵀ/√d)V →
// merged heads → MatMul+Add out projection → residual Add →
// LayerNormalization → MatMul(FF)+Add → GELU → MatMul(D)+Add → residual Add
// → output "output" [N, S, D]. Projection weights are "<name>.weight"
// [in, out] for MatMul, with "<name>.bias"; names are attn.{q,k,v,out},
// ffn.{up,down}, ln1, ln2. It panics if Heads does not divide D or Opset is
// below 17 (LayerNormalization).
func Transformer(cfg TransformerConfig) *onnxpb.ModelProto {
	if cfg.D == 0 {
		cfg.D = 64
	}
	if cfg.Heads == 0 {
		cfg.Heads = 4
	}
	if cfg.FF == 0 {
		cfg.FF = 4 * cfg.D
	}
	if cfg.Opset == 0 {
		cfg.Opset = 20
	}
	if cfg.D%cfg.Heads != 0 {
		panic(fmt.Sprintf("testmodels: Transformer: %d heads do not divide width %d", cfg.Heads, cfg.D))
	}
	if cfg.Opset < 17 {
		panic(fmt.Sprintf("testmodels: Transformer: opset %d lacks LayerNormalization (17)", cfg.Opset))
	}
	var seq any = "S"
	if cfg.Seq > 0 {
		seq = cfg.Seq
	}
	d, h := cfg.D, cfg.Heads
	dh := d / h
	b := NewBuilder(fmt.Sprintf("transformer_d%d", d), cfg.Opset)
	r := NewRand(cfg.Seed)
	x := b.Input("input", tensor.Float32, "N", seq, d)

	ln1 := layerNorm(b, r, "ln1", x, d)
	q := linear(b, r, "attn.q", ln1, d, d)
	k := linear(b, r, "attn.k", ln1, d, d)
	v := linear(b, r, "attn.v", ln1, d, d)
	// [N, S, D] → [N, S, H, dh]; Reshape's 0 copies N and S.
	heads := b.InitializerInt64("attn.heads_shape", []int64{4}, []int64{0, 0, h, dh})
	split := func(t string, perm ...int64) string {
		return b.Op("Transpose", []string{b.Op("Reshape", []string{t, heads})}, AttrInts("perm", perm...))
	}
	qh := split(q, 0, 2, 1, 3) // [N, H, S, dh]
	kt := split(k, 0, 2, 3, 1) // [N, H, dh, S]
	vh := split(v, 0, 2, 1, 3) // [N, H, S, dh]
	scale := b.Initializer("attn.scale", nil, []float32{float32(math.Sqrt(float64(dh)))})
	scores := b.Op("Div", []string{b.Op("MatMul", []string{qh, kt}), scale})
	probs := b.Op("Softmax", []string{scores}, AttrInt("axis", -1))
	ctx := b.Op("MatMul", []string{probs, vh}) // [N, H, S, dh]
	merged := b.Op("Reshape", []string{
		b.Op("Transpose", []string{ctx}, AttrInts("perm", 0, 2, 1, 3)),
		b.InitializerInt64("attn.merge_shape", []int64{3}, []int64{0, 0, d}),
	})
	x1 := b.Op("Add", []string{x, linear(b, r, "attn.out", merged, d, d)})

	ln2 := layerNorm(b, r, "ln2", x1, d)
	up := linear(b, r, "ffn.up", ln2, d, cfg.FF)
	down := linear(b, r, "ffn.down", gelu(b, up), cfg.FF, d)
	b.Node("Add", []string{x1, down}, []string{"output"})
	b.Output("output", tensor.Float32, "N", seq, d)
	return b.Model()
}

// layerNorm adds LayerNormalization over the last axis with scale near 1.
func layerNorm(b *Builder, r *Rand, prefix, x string, d int64) string {
	shape := []int64{d}
	scale := b.Initializer(prefix+".weight", shape, r.Uniform(shape, 0.9, 1.1))
	bias := b.Initializer(prefix+".bias", shape, r.Normal(shape, 0.02))
	return b.Op("LayerNormalization", []string{x, scale, bias}, AttrInt("axis", -1), AttrFloat("epsilon", 1e-5))
}

// linear adds MatMul(x, W[in,out]) + bias with Xavier weights.
func linear(b *Builder, r *Rand, prefix, x string, in, out int64) string {
	w := b.Initializer(prefix+".weight", []int64{in, out}, r.Xavier([]int64{in, out}, in, out))
	bias := b.Initializer(prefix+".bias", []int64{out}, r.Normal([]int64{out}, 0.02))
	return b.Op("Add", []string{b.Op("MatMul", []string{x, w}), bias})
}

// gelu adds the exact GELU: the Gelu op from opset 20, before that
// x·½·(1 + erf(x/√2)) as PyTorch exports it (ORT fuses that back to Gelu).
func gelu(b *Builder, x string) string {
	if b.opsets[0].Version >= 20 {
		return b.Op("Gelu", []string{x})
	}
	sqrt2 := b.Initializer(b.Unique("gelu.sqrt2"), nil, []float32{math.Sqrt2})
	one := b.Initializer(b.Unique("gelu.one"), nil, []float32{1})
	half := b.Initializer(b.Unique("gelu.half"), nil, []float32{0.5})
	erf := b.Op("Erf", []string{b.Op("Div", []string{x, sqrt2})})
	return b.Op("Mul", []string{b.Op("Mul", []string{x, b.Op("Add", []string{erf, one})}), half})
}

// GRUConfig shapes GRU. Zero fields take the defaults noted.
type GRUConfig struct {
	Input  int64  // input features; default 8
	Hidden int64  // hidden size; default 16
	Seed   uint64 // weight seed (0 is a valid seed)
}

// GRU returns a one-layer forward GRU at opset 17: input "input" [S, N,
// Input] float (sequence first, ONNX's layout) → output "h_n" [1, N,
// Hidden], the last hidden state (the GRU's Y_h). Weights are "gru.W"
// [1, 3·Hidden, Input], "gru.R" [1, 3·Hidden, Hidden] and "gru.B"
// [1, 6·Hidden], in ONNX's z, r, h gate order.
func GRU(cfg GRUConfig) *onnxpb.ModelProto {
	if cfg.Input == 0 {
		cfg.Input = 8
	}
	if cfg.Hidden == 0 {
		cfg.Hidden = 16
	}
	hs := cfg.Hidden
	b := NewBuilder("gru", 17)
	r := NewRand(cfg.Seed)
	x := b.Input("input", tensor.Float32, "S", "N", cfg.Input)
	// PyTorch's initialisation: U(±1/√hidden) for every weight and bias.
	a := 1 / math.Sqrt(float64(hs))
	wShape := []int64{1, 3 * hs, cfg.Input}
	rShape := []int64{1, 3 * hs, hs}
	bShape := []int64{1, 6 * hs}
	w := b.Initializer("gru.W", wShape, r.Uniform(wShape, -a, a))
	rw := b.Initializer("gru.R", rShape, r.Uniform(rShape, -a, a))
	bias := b.Initializer("gru.B", bShape, r.Uniform(bShape, -a, a))
	b.Node("GRU", []string{x, w, rw, bias}, []string{"", "h_n"}, AttrInt("hidden_size", hs))
	b.Output("h_n", tensor.Float32, 1, "N", hs)
	return b.Model()
}
