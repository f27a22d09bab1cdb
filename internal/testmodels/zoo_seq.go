package testmodels

import (
	"cmp"
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// EncoderConfig shapes Encoder. Zero fields take the defaults noted;
// EncoderBenchmark gives the benchmark size.
type EncoderConfig struct {
	Layers       int   // encoder layers; default 2
	D            int64 // model width; default 64
	Heads        int64 // attention heads, dividing D; default 4
	FF           int64 // feed-forward width; default 4·D
	Vocab        int64 // word embeddings; default 1000
	MaxPositions int64 // rows of the position table, the longest sequence; default 512
	// Opset defaults to 13, where LayerNorm is decomposed into ReduceMean,
	// Sub, Pow, … as exporters write it below 17; from 17 on the model uses
	// the LayerNormalization operator instead.
	Opset int64
	Seed  uint64 // weight seed (0 is a valid seed)
}

// EncoderBenchmark is a 4-layer BERT-style encoder with D=256, 4 heads and
// FF=1024, run at sequence 128.
func EncoderBenchmark() EncoderConfig {
	return EncoderConfig{Layers: 4, D: 256, Heads: 4, FF: 1024}
}

// bertLayerNormEps is BERT's LayerNorm epsilon, which exporters carry over.
const bertLayerNormEps = 1e-12

// Encoder returns a BERT-like transformer encoder as Hugging Face models
// export: inputs "input_ids" and "attention_mask", int64 [batch, sequence]
// → Gather of the word table + Gather of the position table indexed by a
// Slice of a constant position_ids [1, MaxPositions] up to the sequence
// length (Shape → Gather → Unsqueeze) → Add → LayerNorm → post-norm
// layers (Q/K/V MatMul+Add, Reshape [0, 0, Heads, D/Heads] + Transpose,
// MatMul, Div by √(D/Heads), + (1 − mask)·(−10000) broadcast from
// [batch, 1, 1, sequence], Softmax, MatMul, Transpose + Reshape [0, 0, D],
// MatMul+Add, residual Add, LayerNorm, feed-forward with GELU spelled
// x·½·(1 + erf(x/√2)), residual Add, LayerNorm) → Identity → output
// "last_hidden_state" [batch, sequence, D] float. Any ids below Vocab, any
// mask values and sequences up to MaxPositions run. It panics if Heads
// does not divide D or Opset is below 13.
func Encoder(cfg EncoderConfig) *onnxpb.ModelProto {
	cfg.defaults()
	b := NewBuilder(fmt.Sprintf("encoder_d%d", cfg.D), cfg.Opset)
	r := NewRand(cfg.Seed)
	ids := b.Input("input_ids", tensor.Int64, "batch", "sequence")
	mask := b.Input("attention_mask", tensor.Int64, "batch", "sequence")

	x := b.Op("Add", []string{embedWords(b, r, ids, cfg), embedPositions(b, r, ids, cfg)})
	x = encoderLayerNorm(b, r, "embeddings.LayerNorm", x, cfg.D)
	bias := attentionBias(b, mask)
	for l := range cfg.Layers {
		x = encoderLayer(b, r, fmt.Sprintf("encoder.layer.%d", l), x, bias, cfg)
	}
	b.Node("Identity", []string{x}, []string{"last_hidden_state"})
	b.Output("last_hidden_state", tensor.Float32, "batch", "sequence", cfg.D)
	return b.Model()
}

func (cfg *EncoderConfig) defaults() {
	if cfg.Layers == 0 {
		cfg.Layers = 2
	}
	if cfg.D == 0 {
		cfg.D = 64
	}
	if cfg.Heads == 0 {
		cfg.Heads = 4
	}
	if cfg.FF == 0 {
		cfg.FF = 4 * cfg.D
	}
	if cfg.Vocab == 0 {
		cfg.Vocab = 1000
	}
	if cfg.MaxPositions == 0 {
		cfg.MaxPositions = 512
	}
	if cfg.Opset == 0 {
		cfg.Opset = 13
	}
	if cfg.D%cfg.Heads != 0 {
		panic(fmt.Sprintf("testmodels: Encoder: %d heads do not divide width %d", cfg.Heads, cfg.D))
	}
	if cfg.Opset < 13 {
		panic(fmt.Sprintf("testmodels: Encoder: opset %d; want 13 or later", cfg.Opset))
	}
}

// embedWords adds the word-embedding Gather; BERT draws its tables from
// N(0, 0.02²).
func embedWords(b *Builder, r *Rand, ids string, cfg EncoderConfig) string {
	shape := []int64{cfg.Vocab, cfg.D}
	table := b.Initializer("embeddings.word_embeddings.weight", shape, r.Normal(shape, 0.02))
	return b.Op("Gather", []string{table, ids}, AttrInt("axis", 0))
}

// embedPositions adds position embeddings the way Hugging Face exports
// them: a constant position_ids buffer sliced to the sequence length read
// from Shape(ids) at run time, then a Gather of the position table.
func embedPositions(b *Builder, r *Rand, ids string, cfg EncoderConfig) string {
	n := cfg.MaxPositions
	positions := make([]int64, n)
	for i := range positions {
		positions[i] = int64(i)
	}
	posIDs := b.InitializerInt64("embeddings.position_ids", []int64{1, n}, positions)
	seq := b.Op("Gather", []string{b.Op("Shape", []string{ids}), b.InitializerInt64(b.Unique("const"), nil, []int64{1})}, AttrInt("axis", 0))
	end := axesOp(b, cfg.Opset, "Unsqueeze", seq, []int64{0})
	start := b.InitializerInt64(b.Unique("const"), []int64{1}, []int64{0})
	axis := b.InitializerInt64(b.Unique("const"), []int64{1}, []int64{1})
	sliced := b.Op("Slice", []string{posIDs, start, end, axis}) // [1, sequence]
	shape := []int64{n, cfg.D}
	table := b.Initializer("embeddings.position_embeddings.weight", shape, r.Normal(shape, 0.02))
	return b.Op("Gather", []string{table, sliced}, AttrInt("axis", 0))
}

// attentionBias turns the int64 mask [batch, sequence] into the additive
// bias (1 − mask)·(−10000) shaped [batch, 1, 1, sequence], as BERT's
// get_extended_attention_mask exports.
func attentionBias(b *Builder, mask string) string {
	m := axesOp(b, b.Opset(), "Unsqueeze", mask, []int64{1})
	m = axesOp(b, b.Opset(), "Unsqueeze", m, []int64{2})
	m = b.Op("Cast", []string{m}, AttrInt("to", int64(tensor.Float32)))
	m = b.Op("Sub", []string{scalar(b, "const", 1), m})
	return b.Op("Mul", []string{m, scalar(b, "const", -10000)})
}

// encoderLayer adds one post-norm BERT layer.
func encoderLayer(b *Builder, r *Rand, prefix, x, bias string, cfg EncoderConfig) string {
	d, h := cfg.D, cfg.Heads
	dh := d / h
	q := linear(b, r, prefix+".attention.self.query", x, d, d)
	k := linear(b, r, prefix+".attention.self.key", x, d, d)
	v := linear(b, r, prefix+".attention.self.value", x, d, d)
	split := func(t string, perm ...int64) string {
		return b.Op("Transpose", []string{reshapeTo(b, t, 0, 0, h, dh)}, AttrInts("perm", perm...))
	}
	scores := b.Op("MatMul", []string{split(q, 0, 2, 1, 3), split(k, 0, 2, 3, 1)})
	scores = b.Op("Div", []string{scores, scalar(b, "const", float32(math.Sqrt(float64(dh))))})
	probs := b.Op("Softmax", []string{b.Op("Add", []string{scores, bias})}, AttrInt("axis", -1))
	ctx := b.Op("MatMul", []string{probs, split(v, 0, 2, 1, 3)})
	ctx = reshapeTo(b, b.Op("Transpose", []string{ctx}, AttrInts("perm", 0, 2, 1, 3)), 0, 0, d)
	attn := linear(b, r, prefix+".attention.output.dense", ctx, d, d)
	x = encoderLayerNorm(b, r, prefix+".attention.output.LayerNorm", b.Op("Add", []string{attn, x}), d)

	up := gelu(b, linear(b, r, prefix+".intermediate.dense", x, d, cfg.FF))
	down := linear(b, r, prefix+".output.dense", up, cfg.FF, d)
	return encoderLayerNorm(b, r, prefix+".output.LayerNorm", b.Op("Add", []string{down, x}), d)
}

// encoderLayerNorm adds LayerNorm over the last axis: the operator from
// opset 17, before that the decomposition exporters write (mean, centred,
// squared, mean, + eps, sqrt, divide, scale, shift).
func encoderLayerNorm(b *Builder, r *Rand, prefix, x string, d int64) string {
	shape := []int64{d}
	gamma := b.Initializer(prefix+".weight", shape, r.Uniform(shape, 0.9, 1.1))
	beta := b.Initializer(prefix+".bias", shape, r.Normal(shape, 0.02))
	if b.Opset() >= 17 {
		return b.Op("LayerNormalization", []string{x, gamma, beta}, AttrInt("axis", -1), AttrFloat("epsilon", bertLayerNormEps))
	}
	keep := AttrInt("keepdims", 1)
	mean := axesOp(b, b.Opset(), "ReduceMean", x, []int64{-1}, keep)
	centred := b.Op("Sub", []string{x, mean})
	variance := axesOp(b, b.Opset(), "ReduceMean", b.Op("Pow", []string{centred, scalar(b, "const", 2)}), []int64{-1}, keep)
	std := b.Op("Sqrt", []string{b.Op("Add", []string{variance, scalar(b, "const", bertLayerNormEps)})})
	y := b.Op("Div", []string{centred, std})
	return b.Op("Add", []string{b.Op("Mul", []string{y, gamma}), beta})
}

func encoderArch(cfg EncoderConfig) Arch {
	ln := "LayerNorm decomposed (ReduceMean, Sub, Pow, Sqrt, Div)"
	if cfg.Opset >= 17 {
		ln = "LayerNormalization op"
	}
	return Arch{
		Name:  "encoder",
		Model: Encoder(cfg),
		ShapeA: map[string][]int64{
			"input_ids": {1, 16}, "attention_mask": {1, 16},
		},
		ShapeB: map[string][]int64{
			"input_ids": {2, 24}, "attention_mask": {2, 24},
		},
		Idioms: []string{fmt.Sprintf("opset %d", cmp.Or(cfg.Opset, 13)), "dim_param dims (batch, sequence)", "int64 inputs", "Gather embeddings",
			"Shape→Gather→Unsqueeze→Slice of position_ids", "mask (1−m)·(−10000) broadcast Add", ln,
			"Reshape with 0 dims", "Transpose", "GELU as Erf", "Softmax axis -1", "residual Add"},
	}
}

// VADConfig shapes VAD. Zero fields take the defaults noted; VADBenchmark
// gives Silero's size.
type VADConfig struct {
	Features int64  // features per 64-sample frame; default 32
	Hidden   int64  // LSTM state size; default 32
	Seed     uint64 // weight seed (0 is a valid seed)
}

// VADBenchmark has Silero VAD's 128-wide state and features.
func VADBenchmark() VADConfig { return VADConfig{Features: 128, Hidden: 128} }

// vadFrame is the number of audio samples per frame.
const vadFrame = 64

// VAD returns a stateful voice-activity detector shaped like Silero VAD at
// opset 16: inputs "input" [N, T] float (audio, T a multiple of 64),
// "state" [2, N, Hidden] float (batch on axis 1) and "sr" int64 scalar
// (the sample rate, 16000 or 8000) → Reshape to frames [N, T/64, 64] →
// MatMul+Add+Relu → Transpose to [frames, N, Features] → LSTM whose
// initial_h is Slice(state, 0:1) and initial_c Unsqueeze(Gather(state, 1))
// → outputs "output" [N, 1] = Sigmoid(MatMul(Relu(last hidden), W_sr) + b)
// and "stateN" [2, N, Hidden] = Concat(Y_h, Y_c). W_sr comes out of an If on
// Equal(sr, 16000) whose branches hold different Constant weights, as
// Silero switches its 16 kHz and 8 kHz models; any sr other than 16000
// takes the 8 kHz branch.
func VAD(cfg VADConfig) *onnxpb.ModelProto {
	if cfg.Features == 0 {
		cfg.Features = 32
	}
	if cfg.Hidden == 0 {
		cfg.Hidden = 32
	}
	f, hs := cfg.Features, cfg.Hidden
	b := NewBuilder("vad", 16)
	r := NewRand(cfg.Seed)
	audio := b.Input("input", tensor.Float32, "N", "T")
	state := b.Input("state", tensor.Float32, 2, "N", hs)
	sr := b.Input("sr", tensor.Int64)

	frames := reshapeTo(b, audio, 0, -1, vadFrame)
	w := b.Initializer("encoder.weight", []int64{vadFrame, f}, r.He([]int64{vadFrame, f}, vadFrame))
	feat := b.Op("Relu", []string{b.Op("Add", []string{b.Op("MatMul", []string{frames, w}),
		b.Initializer("encoder.bias", []int64{f}, r.Normal([]int64{f}, 0.01))})})
	seq := b.Op("Transpose", []string{feat}, AttrInts("perm", 1, 0, 2))

	zero := b.InitializerInt64(b.Unique("const"), []int64{1}, []int64{0})
	one := b.InitializerInt64(b.Unique("const"), []int64{1}, []int64{1})
	h0 := b.Op("Slice", []string{state, zero, one, zero}) // [1, N, H]
	c0 := b.Op("Gather", []string{state, b.InitializerInt64(b.Unique("const"), nil, []int64{1})}, AttrInt("axis", 0))
	c0 = axesOp(b, 16, "Unsqueeze", c0, []int64{0})
	lw, lr, lb := lstmWeights(b, r, "decoder.rnn", 1, f, hs)
	lstm := b.Unique("LSTM")
	yh, yc := lstm+"_Y_h", lstm+"_Y_c"
	b.Node("LSTM", []string{seq, lw, lr, lb, "", h0, c0}, []string{"", yh, yc}, AttrInt("hidden_size", hs))
	b.Node("Concat", []string{yh, yc}, []string{"stateN"}, AttrInt("axis", 0))

	last := b.Op("Relu", []string{axesOp(b, 16, "Squeeze", yh, []int64{0})})
	logit := b.Op("Add", []string{b.Op("MatMul", []string{last, vadDecoderWeight(b, r, sr, hs)}),
		b.Initializer("decoder.bias", []int64{1}, []float32{0.1})})
	b.Node("Sigmoid", []string{logit}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 1)
	b.Output("stateN", tensor.Float32, 2, "N", hs)
	return b.Model()
}

// vadDecoderWeight adds If(Equal(sr, 16000)) choosing between two Constant
// decoder weights [hidden, 1] and returns the chosen one.
func vadDecoderWeight(b *Builder, r *Rand, sr string, hidden int64) string {
	rate := b.InitializerInt64(b.Unique("const"), nil, []int64{16000})
	cond := b.Op("Equal", []string{sr, rate})
	branch := func(name string) *onnxpb.GraphProto {
		g := NewSubgraph(name).WeightsAsConstants()
		shape := []int64{hidden, 1}
		w := g.Initializer(name+"/decoder.weight", shape, r.Xavier(shape, hidden, 1))
		g.Output(w, tensor.Float32, hidden, 1)
		return g.Graph()
	}
	out := b.Unique("If") + "_out"
	b.Node("If", []string{cond}, []string{out}, AttrGraph("then_branch", branch("sr16k")), AttrGraph("else_branch", branch("sr8k")))
	return out
}

func vadArch(cfg VADConfig) Arch {
	hs := cmp.Or(cfg.Hidden, 32)
	return Arch{
		Name:  "vad",
		Model: VAD(cfg),
		ShapeA: map[string][]int64{
			"input": {1, 512}, "state": {2, 1, hs},
		},
		ShapeB: map[string][]int64{
			"input": {2, 1024}, "state": {2, 2, hs},
		},
		Values: map[string]float64{"sr": 16000},
		Idioms: []string{"opset 16", "dim_param dims", "rank-0 int64 input (sr)", "state input with batch on axis 1",
			"Reshape audio into frames", "LSTM with initial_h/initial_c from Slice/Gather of state",
			"If on Equal(sr, 16000) choosing Constant weights", "Concat of Y_h and Y_c as new state", "two outputs"},
	}
}
