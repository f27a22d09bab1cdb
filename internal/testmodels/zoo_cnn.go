package testmodels

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// MobileNetV3Config shapes MobileNetV3. Zero fields take the defaults
// noted; MobileNetV3Benchmark gives the benchmark size.
type MobileNetV3Config struct {
	// Width multiplies every channel count of MobileNetV3-Small (rounded
	// to a multiple of 8); default 0.35.
	Width   float64
	Classes int64 // default 10
	// Softmax appends a Softmax to the logits, as deployment exports do;
	// the output is then "probs" instead of "logits".
	Softmax bool
	Seed    uint64 // weight seed (0 is a valid seed)
}

// MobileNetV3Benchmark is MobileNetV3-Small itself: width 1.0, 1000
// classes (2.5 M parameters), run at 224×224.
func MobileNetV3Benchmark() MobileNetV3Config {
	return MobileNetV3Config{Width: 1, Classes: 1000}
}

// mbBlock is one inverted-residual block of MobileNetV3-Small's table.
type mbBlock struct {
	kernel, expand, out int64
	se                  bool
	hardSwish           bool // else Relu
	stride              int64
}

// mobileNetV3Small is the block table of MobileNetV3-Small (Howard et al.,
// 2019, table 2) before the width multiplier.
var mobileNetV3Small = []mbBlock{
	{3, 16, 16, true, false, 2},
	{3, 72, 24, false, false, 2},
	{3, 88, 24, false, false, 1},
	{5, 96, 40, true, true, 2},
	{5, 240, 40, true, true, 1},
	{5, 240, 40, true, true, 1},
	{5, 120, 48, true, true, 1},
	{5, 144, 48, true, true, 1},
	{5, 288, 96, true, true, 2},
	{5, 576, 96, true, true, 1},
	{5, 576, 96, true, true, 1},
}

// makeDivisible rounds c to the nearest multiple of 8, never below 8 nor
// more than 10% under c: MobileNet's channel rounding.
func makeDivisible(c float64) int64 {
	v := max(8, int64(c+4)/8*8)
	if float64(v) < 0.9*c {
		v += 8
	}
	return v
}

// MobileNetV3 returns a MobileNetV3-Small classifier exported like
// paddle2onnx and PyTorch do at opset 11: input "x" [N, 3, H, W] float (H
// and W at least 32) → stem Conv 3×3 stride 2 + BatchNormalization +
// hardswish → eleven inverted-residual blocks (1×1 expand Conv+BN+act,
// depthwise Conv (group = channels, stride 1 or 2)+BN+act, optional
// squeeze-excitation GlobalAveragePool → Conv 1×1 → Relu → Conv 1×1 →
// HardSigmoid → Mul, 1×1 project Conv+BN, residual Add where shapes allow)
// → Conv 1×1+BN+hardswish → GlobalAveragePool → Conv 1×1 + hardswish →
// Reshape [0, −1] → Gemm → output "logits" [N, Classes] (or "probs" after
// a Softmax). Hardswish is spelled x·Clip(x+3, 0, 6)/6 in the stem, the
// head and every other block, HardSigmoid(x)·x in the rest (the first
// three blocks use Relu). The squeeze-excitation modules and residual
// Adds are unnamed nodes.
func MobileNetV3(cfg MobileNetV3Config) *onnxpb.ModelProto {
	if cfg.Width == 0 {
		cfg.Width = 0.35
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	ch := func(c int64) int64 { return makeDivisible(float64(c) * cfg.Width) }
	b := NewBuilder("mobilenetv3", 11)
	r := NewRand(cfg.Seed)
	x := b.Input("x", tensor.Float32, "N", 3, "H", "W")
	cin := ch(16)
	x = hardSwishClip(b, convBN(b, r, "features.0", x, 3, cin, square(3, 2)))
	for i, blk := range mobileNetV3Small {
		x = invertedResidual(b, r, fmt.Sprintf("features.%d", i+1), x, cin, ch(blk.expand), ch(blk.out), blk, i%2 == 0)
		cin = ch(blk.out)
	}
	last := ch(576)
	x = hardSwishClip(b, convBN(b, r, "features.12", x, cin, last, square(1, 1)))
	x = b.Op("GlobalAveragePool", []string{x})
	hidden := makeDivisible(1024 * cfg.Width)
	x = hardSwishClip(b, conv2d(b, r, "last_conv", x, last, hidden, convSpec{kernel: [2]int64{1, 1}, bias: true}))
	x = reshapeTo(b, x, 0, -1)
	if !cfg.Softmax {
		gemm(b, r, "classifier", x, "logits", hidden, cfg.Classes, false)
		b.Output("logits", tensor.Float32, "N", cfg.Classes)
		return b.Model()
	}
	logits := gemm(b, r, "classifier", x, "", hidden, cfg.Classes, false)
	b.Node("Softmax", []string{logits}, []string{"probs"}, AttrInt("axis", 1))
	b.Output("probs", tensor.Float32, "N", cfg.Classes)
	return b.Model()
}

// invertedResidual adds one MobileNetV3 block; clipForm picks the
// x·Clip(x+3,0,6)/6 spelling of hardswish over HardSigmoid(x)·x.
func invertedResidual(b *Builder, r *Rand, prefix, x string, cin, expand, out int64, blk mbBlock, clipForm bool) string {
	act := func(x string) string {
		switch {
		case !blk.hardSwish:
			return b.Op("Relu", []string{x})
		case clipForm:
			return hardSwishClip(b, x)
		}
		return hardSwishSigmoid(b, x)
	}
	h := x
	if expand != cin {
		h = act(convBN(b, r, prefix+".expand", h, cin, expand, square(1, 1)))
	}
	dw := square(blk.kernel, blk.stride)
	dw.group = expand
	h = act(convBN(b, r, prefix+".depthwise", h, expand, expand, dw))
	if blk.se {
		h = squeezeExcite(b, r, prefix+".se", h, expand)
	}
	// The project Conv feeds no activation, but hardswish near 0 passes
	// less than a Relu does: gain 1.5 keeps the trunk's scale from block
	// to block. A residual branch adds a fraction of the trunk instead of
	// doubling it, as trained statistics would.
	project := square(1, 1)
	project.gain = 1.5
	residual := blk.stride == 1 && cin == out
	if residual {
		project.gamma = 0.5
	}
	h = convBN(b, r, prefix+".project", h, expand, out, project)
	if !residual {
		return h
	}
	b.Unnamed(true)
	defer b.Unnamed(false)
	return b.Op("Add", []string{x, h})
}

// squeezeExcite adds GlobalAveragePool → Conv 1×1 → Relu → Conv 1×1 →
// HardSigmoid → Mul with the trunk, all as unnamed nodes, as paddle2onnx
// writes them. The second Conv's bias opens the gates near 1, as trained
// ones mostly are: gates near ½ would quarter the trunk's variance in
// every block.
func squeezeExcite(b *Builder, r *Rand, prefix, x string, c int64) string {
	b.Unnamed(true)
	defer b.Unnamed(false)
	squeeze := makeDivisible(float64(c) / 4)
	s := b.Op("GlobalAveragePool", []string{x})
	s = b.Op("Relu", []string{conv2d(b, r, prefix+".fc1", s, c, squeeze, convSpec{kernel: [2]int64{1, 1}, bias: true})})
	shape := []int64{c, squeeze, 1, 1}
	w := b.Initializer(prefix+".fc2.weight", shape, r.He(shape, squeeze))
	bias := b.Initializer(prefix+".fc2.bias", []int64{c}, r.Uniform([]int64{c}, 1.5, 2.5))
	s = b.Op("Conv", []string{s, w, bias}, AttrInts("kernel_shape", 1, 1))
	s = b.Op("HardSigmoid", []string{s}, AttrFloat("alpha", 0.2), AttrFloat("beta", 0.5))
	return b.Op("Mul", []string{x, s})
}

func mobileNetV3Arch(cfg MobileNetV3Config) Arch {
	return Arch{
		Name:   "mobilenetv3",
		Model:  MobileNetV3(cfg),
		ShapeA: map[string][]int64{"x": {1, 3, 96, 96}},
		ShapeB: map[string][]int64{"x": {2, 3, 128, 160}},
		Idioms: []string{"opset 11", "dim_param dims", "unnamed nodes", "depthwise Conv (group > 1)",
			"BatchNormalization", "hardswish as Add+Clip(min/max inputs)+Mul+Div", "hardswish as HardSigmoid·x",
			"squeeze-excitation (GlobalAveragePool, HardSigmoid, Mul)", "residual Add", "Reshape [0,-1]", "Gemm transB=1"},
	}
}

// ResNetConfig shapes ResNet. Zero fields take the defaults noted;
// ResNetBenchmark gives ResNet-18.
type ResNetConfig struct {
	Widths  []int64 // channels of the four stages; default {16, 32, 64, 128}
	Blocks  []int   // basic blocks per stage; default 1 each
	Classes int64   // default 10
	Seed    uint64  // weight seed (0 is a valid seed)
}

// ResNetBenchmark is ResNet-18: widths 64…512, two blocks per stage, 1000
// classes (11.7 M parameters), run at 224×224.
func ResNetBenchmark() ResNetConfig {
	return ResNetConfig{Widths: []int64{64, 128, 256, 512}, Blocks: []int{2, 2, 2, 2}, Classes: 1000}
}

func (cfg *ResNetConfig) defaults() {
	if cfg.Widths == nil {
		cfg.Widths = []int64{16, 32, 64, 128}
	}
	if cfg.Blocks == nil {
		cfg.Blocks = []int{1, 1, 1, 1}
	}
	if cfg.Classes == 0 {
		cfg.Classes = 10
	}
	if len(cfg.Blocks) != len(cfg.Widths) {
		panic(fmt.Sprintf("testmodels: ResNet: %d block counts for %d stages", len(cfg.Blocks), len(cfg.Widths)))
	}
}

// ResNet returns a ResNet classifier exported like PyTorch 1.x at opset 9
// (IR 4), every node unnamed: input "input" [N, 3, H, W] float (H and W at
// least 32) → Conv 7×7 stride 2 + BatchNormalization + Relu → MaxPool 3×3
// stride 2 → basic blocks (Conv 3×3+BN+Relu, Conv 3×3+BN, residual Add,
// Relu; a stage's first block strides 2 from the second stage on, with a
// 1×1 Conv+BN projection on its shortcut) → GlobalAveragePool → Flatten →
// Gemm (transB=1) → output "logits" [N, Classes]. Convolutions have no
// bias. It panics if Blocks and Widths differ in length.
func ResNet(cfg ResNetConfig) *onnxpb.ModelProto {
	cfg.defaults()
	b := NewBuilder("resnet", 9).Unnamed(true)
	r := NewRand(cfg.Seed)
	x := b.Input("input", tensor.Float32, "N", 3, "H", "W")
	features := resNetBackbone(b, r, x, cfg.Widths, cfg.Blocks)
	x = b.Op("GlobalAveragePool", []string{features[len(features)-1]})
	x = b.Op("Flatten", []string{x}, AttrInt("axis", 1))
	gemm(b, r, "fc", x, "logits", cfg.Widths[len(cfg.Widths)-1], cfg.Classes, false)
	b.Output("logits", tensor.Float32, "N", cfg.Classes)
	return b.Model()
}

// resNetBackbone adds a ResNet stem and stages and returns each stage's
// output (strides 4, 8, 16, 32 for four stages), which detectors tap.
func resNetBackbone(b *Builder, r *Rand, x string, widths []int64, blocks []int) []string {
	stem := convSpec{kernel: [2]int64{7, 7}, stride: [2]int64{2, 2}, pad: [2]int64{3, 3}}
	x = b.Op("Relu", []string{convBN(b, r, "conv1", x, 3, widths[0], stem)})
	x = b.Op("MaxPool", []string{x}, AttrInts("kernel_shape", 3, 3), AttrInts("pads", 1, 1, 1, 1), AttrInts("strides", 2, 2))
	var features []string
	cin := widths[0]
	for s, w := range widths {
		for k := range blocks[s] {
			stride := int64(1)
			if s > 0 && k == 0 {
				stride = 2
			}
			x = basicBlock(b, r, fmt.Sprintf("layer%d.%d", s+1, k), x, cin, w, stride)
			cin = w
		}
		features = append(features, x)
	}
	return features
}

// basicBlock adds one ResNet basic block.
func basicBlock(b *Builder, r *Rand, prefix, x string, cin, cout, stride int64) string {
	h := b.Op("Relu", []string{convBN(b, r, prefix+".conv1", x, cin, cout, square(3, stride))})
	second := square(3, 1)
	second.gamma = 0.3
	h = convBN(b, r, prefix+".conv2", h, cout, cout, second)
	shortcut := x
	if stride != 1 || cin != cout {
		shortcut = convBN(b, r, prefix+".downsample", x, cin, cout, square(1, stride))
	}
	return b.Op("Relu", []string{b.Op("Add", []string{h, shortcut})})
}

func resNetArch(cfg ResNetConfig) Arch {
	return Arch{
		Name:   "resnet",
		Model:  ResNet(cfg),
		ShapeA: map[string][]int64{"input": {1, 3, 96, 96}},
		ShapeB: map[string][]int64{"input": {2, 3, 128, 112}},
		Idioms: []string{"opset 9", "IR 4", "dim_param dims", "unnamed nodes", "Conv without bias + BatchNormalization",
			"MaxPool with pads", "residual Add", "1×1 projection shortcut", "Flatten", "Gemm transB=1"},
	}
}

// DBNetConfig shapes DBNet. Zero fields take the defaults noted;
// DBNetBenchmark gives the benchmark size.
type DBNetConfig struct {
	// Widths of the backbone's four stages (strides 4, 8, 16, 32); default
	// {16, 24, 32, 48}.
	Widths []int64
	Blocks []int  // basic blocks per stage; default 1 each
	Inner  int64  // FPN width, a multiple of 4; default 32
	Seed   uint64 // weight seed (0 is a valid seed)
}

// DBNetBenchmark is DB with its ResNet-18 backbone and a 256-wide FPN, as
// PaddleOCR's det_r18 (12 M parameters), run at 640×640.
func DBNetBenchmark() DBNetConfig {
	return DBNetConfig{Widths: []int64{64, 128, 256, 512}, Blocks: []int{2, 2, 2, 2}, Inner: 256}
}

// DBNet returns a DB text detector (Liao et al., 2020) exported at opset
// 11: input "x" [N, 3, H, W] float (H and W multiples of 32) → ResNet
// backbone with four stages → FPN (1×1 lateral Convs; top-down Resize
// nearest ×2 + Add; a 3×3 Conv per level; Resize of each level to 1/4
// scale; Concat on axis 1) → Conv 3×3+BN+Relu → ConvTranspose 2×2 stride 2
// +BN+Relu → ConvTranspose 2×2 stride 2 → Sigmoid → output "maps"
// [N, 1, H, W]. Resize takes the opset-11 inputs (X, an empty roi,
// scales), with asymmetric coordinates and floor rounding as PyTorch's
// nearest upsampling exports. It panics if Inner is not a multiple of 4
// or Widths does not have four stages.
func DBNet(cfg DBNetConfig) *onnxpb.ModelProto {
	if cfg.Widths == nil {
		cfg.Widths = []int64{16, 24, 32, 48}
	}
	if cfg.Blocks == nil {
		cfg.Blocks = []int{1, 1, 1, 1}
	}
	if cfg.Inner == 0 {
		cfg.Inner = 32
	}
	if cfg.Inner%4 != 0 || len(cfg.Widths) != 4 || len(cfg.Blocks) != 4 {
		panic(fmt.Sprintf("testmodels: DBNet: want 4 stages and an FPN width divisible by 4; have %v stages, %v blocks, width %d", cfg.Widths, cfg.Blocks, cfg.Inner))
	}
	b := NewBuilder("dbnet", 11)
	r := NewRand(cfg.Seed)
	x := b.Input("x", tensor.Float32, "N", 3, "H", "W")
	fused := dbFPN(b, r, resNetBackbone(b, r, x, cfg.Widths, cfg.Blocks), cfg.Widths, cfg.Inner)

	c := cfg.Inner / 4
	h := b.Op("Relu", []string{convBN(b, r, "head.conv1", fused, cfg.Inner, c, square(3, 1))})
	h = b.Op("Relu", []string{bn(b, r, "head.bn2", convTranspose2x(b, r, "head.conv2", h, c, c, true), c, 1)})
	h = convTranspose2x(b, r, "head.conv3", h, c, 1, false)
	b.Node("Sigmoid", []string{h}, []string{"maps"})
	b.Output("maps", tensor.Float32, "N", 1, "H", "W")
	return b.Model()
}

// dbFPN adds DB's feature pyramid over the backbone's four stage outputs
// and returns the fused [N, inner, H/4, W/4] features.
func dbFPN(b *Builder, r *Rand, features []string, widths []int64, inner int64) string {
	one := convSpec{kernel: [2]int64{1, 1}, gain: 1}
	smooth := square(3, 1)
	smooth.gain = 1
	lateral := make([]string, 4)
	for i, f := range features {
		lateral[i] = conv2d(b, r, fmt.Sprintf("neck.in%d_conv", i+2), f, widths[i], inner, one)
	}
	// Top-down: each level adds the upsampled coarser one.
	for i := 2; i >= 0; i-- {
		lateral[i] = b.Op("Add", []string{lateral[i], resizeNearest(b, lateral[i+1], 2)})
	}
	levels := make([]string, 4)
	for i, l := range lateral {
		p := conv2d(b, r, fmt.Sprintf("neck.p%d_conv", i+2), l, inner, inner/4, smooth)
		if i > 0 {
			p = resizeNearest(b, p, float32(int(1)<<i))
		}
		levels[3-i] = p // DB concatenates coarsest first
	}
	return b.Op("Concat", levels, AttrInt("axis", 1))
}

// resizeNearest adds an opset-11 Resize by factor on H and W, with the
// empty roi exporters pass.
func resizeNearest(b *Builder, x string, factor float32) string {
	roi := b.Initializer(b.Unique("resize.roi"), []int64{0}, nil)
	scales := b.Initializer(b.Unique("resize.scales"), []int64{4}, []float32{1, 1, factor, factor})
	return b.Op("Resize", []string{x, roi, scales},
		AttrString("coordinate_transformation_mode", "asymmetric"),
		AttrString("mode", "nearest"),
		AttrString("nearest_mode", "floor"))
}

// convTranspose2x adds a ConvTranspose 2×2 stride 2 with bias, which
// doubles H and W. Each output pixel sees one input pixel per channel, so
// the fan-in is cin: He weights when a Relu follows, else a std of
// ½/√cin, so that a following Sigmoid stays off its flat ends.
func convTranspose2x(b *Builder, r *Rand, prefix, x string, cin, cout int64, relu bool) string {
	shape := []int64{cin, cout, 2, 2}
	w := r.Normal(shape, 0.5/math.Sqrt(float64(cin)))
	if relu {
		w = r.He(shape, cin)
	}
	in := []string{x,
		b.Initializer(prefix+".weight", shape, w),
		b.Initializer(prefix+".bias", []int64{cout}, r.Normal([]int64{cout}, 0.01)),
	}
	return b.Op("ConvTranspose", in, AttrInts("kernel_shape", 2, 2), AttrInts("strides", 2, 2))
}

func dbNetArch(cfg DBNetConfig) Arch {
	return Arch{
		Name:   "dbnet",
		Model:  DBNet(cfg),
		ShapeA: map[string][]int64{"x": {1, 3, 64, 96}},
		ShapeB: map[string][]int64{"x": {2, 3, 96, 128}},
		Idioms: []string{"opset 11", "dim_param dims", "Resize nearest (roi, scales inputs)", "FPN top-down Add",
			"Concat on channels", "ConvTranspose stride 2", "BatchNormalization", "Sigmoid map output"},
	}
}

// CRNNConfig shapes CRNN. Zero fields take the defaults noted;
// CRNNBenchmark gives the benchmark size.
type CRNNConfig struct {
	Channels []int64 // widths of the four conv stages; default {16, 32, 48, 64}
	Hidden   int64   // LSTM hidden size per direction; default 32
	Classes  int64   // characters plus the CTC blank; default 37
	Seed     uint64  // weight seed (0 is a valid seed)
}

// CRNNBenchmark is a PaddleOCR-sized recognizer: widths 32…256, hidden 96
// and 6625 classes (the Chinese dictionary and the blank), run at 48×320.
func CRNNBenchmark() CRNNConfig {
	return CRNNConfig{Channels: []int64{32, 64, 128, 256}, Hidden: 96, Classes: 6625}
}

// CRNN returns a text recognizer shaped like PaddleOCR's CRNN export at
// opset 11, every weight in a Constant node: input "x" [N, 3, 48, W] float
// (W a multiple of 4) → four Conv 3×3+BN+Relu stages with MaxPool 2×2
// stride 2 after the first two and, as CRNNs do, MaxPool 2×2 stride (2, 1)
// padded on the right after the last two (height ÷2, width kept) → Conv
// (3, 1)+BN+Relu to height 1 → Squeeze axis 2 → [N, C, T] (T = W/4) →
// Transpose [N, T, C] → Transpose [T, N, C] → bidirectional LSTM → Y [T, 2,
// N, Hidden] → Transpose [T, N, 2, Hidden] → Reshape [0, 0, −1] →
// Transpose [N, T, 2·Hidden] → MatMul + Add → Softmax on axis 2 → output
// "probs" [N, T, Classes]. It panics unless Channels has four entries.
func CRNN(cfg CRNNConfig) *onnxpb.ModelProto {
	if cfg.Channels == nil {
		cfg.Channels = []int64{16, 32, 48, 64}
	}
	if cfg.Hidden == 0 {
		cfg.Hidden = 32
	}
	if cfg.Classes == 0 {
		cfg.Classes = 37
	}
	if len(cfg.Channels) != 4 {
		panic(fmt.Sprintf("testmodels: CRNN: %d conv stages, want 4", len(cfg.Channels)))
	}
	b := NewBuilder("crnn", 11).WeightsAsConstants()
	r := NewRand(cfg.Seed)
	x := b.Input("x", tensor.Float32, "N", 3, 48, "W")
	cin := int64(3)
	for i, c := range cfg.Channels {
		x = b.Op("Relu", []string{convBN(b, r, fmt.Sprintf("backbone.conv%d", i+1), x, cin, c, square(3, 1))})
		if i < 2 {
			x = b.Op("MaxPool", []string{x}, AttrInts("kernel_shape", 2, 2), AttrInts("strides", 2, 2))
		} else {
			x = b.Op("MaxPool", []string{x}, AttrInts("kernel_shape", 2, 2), AttrInts("pads", 0, 0, 0, 1), AttrInts("strides", 2, 1))
		}
		cin = c
	}
	// Height is 3 now; a (3, 1) kernel folds it to 1.
	x = b.Op("Relu", []string{convBN(b, r, "backbone.conv5", x, cin, cin, convSpec{kernel: [2]int64{3, 1}})})
	x = axesOp(b, b.Opset(), "Squeeze", x, []int64{2})               // [N, C, T]
	x = b.Op("Transpose", []string{x}, AttrInts("perm", 0, 2, 1))    // [N, T, C]
	seq := b.Op("Transpose", []string{x}, AttrInts("perm", 1, 0, 2)) // [T, N, C]
	y := bidirectionalLSTM(b, r, "neck.lstm", seq, cin, cfg.Hidden)  // [T, N, 2H]
	y = b.Op("Transpose", []string{y}, AttrInts("perm", 1, 0, 2))    // [N, T, 2H]
	logits := crnnHead(b, r, y, 2*cfg.Hidden, cfg.Classes)           // [N, T, classes]
	b.Node("Softmax", []string{logits}, []string{"probs"}, AttrInt("axis", 2))
	b.Output("probs", tensor.Float32, "N", "T", cfg.Classes)
	return b.Model()
}

// crnnHead adds the classifier MatMul+Add. The LSTM's outputs are small
// (|y| < 1, std about 0.3), so Xavier weights would give near-uniform
// probabilities; weights of std 4/√in spread the logits to a std of about
// 1.5, peaked without being one-hot, as a trained recognizer's are.
func crnnHead(b *Builder, r *Rand, x string, in, classes int64) string {
	shape := []int64{in, classes}
	w := b.Initializer("head.fc.weight", shape, r.Normal(shape, 4/math.Sqrt(float64(in))))
	bias := b.Initializer("head.fc.bias", []int64{classes}, r.Normal([]int64{classes}, 0.02))
	return b.Op("Add", []string{b.Op("MatMul", []string{x, w}), bias})
}

// bidirectionalLSTM adds an LSTM over x [T, N, in] and the Transpose and
// Reshape exporters emit to turn its Y [T, 2, N, H] into [T, N, 2H].
func bidirectionalLSTM(b *Builder, r *Rand, prefix, x string, in, hidden int64) string {
	w, rw, bias := lstmWeights(b, r, prefix, 2, in, hidden)
	y := b.Unique("LSTM") + "_Y"
	b.Node("LSTM", []string{x, w, rw, bias}, []string{y},
		AttrString("direction", "bidirectional"), AttrInt("hidden_size", hidden))
	y = b.Op("Transpose", []string{y}, AttrInts("perm", 0, 2, 1, 3))
	return reshapeTo(b, y, 0, 0, -1)
}

func crnnArch(cfg CRNNConfig) Arch {
	return Arch{
		Name:   "crnn",
		Model:  CRNN(cfg),
		ShapeA: map[string][]int64{"x": {1, 3, 48, 160}},
		ShapeB: map[string][]int64{"x": {2, 3, 48, 256}},
		Idioms: []string{"opset 11", "dim_param dims", "Constant-node weights", "asymmetric MaxPool (2,1) stride",
			"Squeeze axes attribute", "Transpose around LSTM", "bidirectional LSTM", "Reshape [0,0,-1]", "Softmax axis 2"},
	}
}
