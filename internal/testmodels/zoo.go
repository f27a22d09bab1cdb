package testmodels

import (
	"fmt"
	"maps"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Arch is one architecture of the zoo: a model shaped like a real export
// (PyTorch, paddle2onnx, tf2onnx) with the shapes and values a sweep needs
// to run it.
type Arch struct {
	Name  string // short id, e.g. "mobilenetv3"
	Model *onnxpb.ModelProto
	// ShapeA and ShapeB are two realistic full input shapes for every
	// tensor input with a rank ≥ 1 (name → dims), differing from each other
	// in every dynamic dim (a dynamic batch dim is 1 in A and 2 in B).
	// Scalars are omitted.
	ShapeA, ShapeB map[string][]int64
	// Values gives a value for inputs random data cannot invent (a scalar
	// int64 sample rate "sr" → 16000); nil when none.
	Values map[string]float64
	// Idioms lists the exporter idioms it carries, for docs.
	Idioms []string
}

// Zoo returns every architecture at its small default size: each runs at
// ShapeA in a few milliseconds and holds under about 2 MB of weights
// (mlp_fixed, whose sizes are fixed by what it stands for, holds 2.6 MB).
func Zoo() []Arch {
	return []Arch{
		mobileNetV3Arch(MobileNetV3Config{}),
		resNetArch(ResNetConfig{}),
		dbNetArch(DBNetConfig{}),
		crnnArch(CRNNConfig{}),
		encoderArch(EncoderConfig{}),
		vadArch(VADConfig{}),
		ifBodyArch(IfBodyConfig{}),
		mlpFixedArch(MLPFixedConfig{}),
		mlpTorchArch(MLPTorchConfig{}),
	}
}

// ZooBenchmark returns the same architectures, in the same order, at the
// sizes benchmarks use: MobileNetV3-Small and ResNet-18 at 224×224, DB with
// a ResNet-18 backbone at 640×640, a PaddleOCR-sized CRNN at 48×320, a
// 4-layer D=256 encoder at sequence 128, Silero-sized VAD, a wider
// mlp_torch; ifbody and mlp_fixed are their defaults. ShapeA is the
// benchmark shape; ShapeB differs from it in every dynamic dim. Weights
// reach tens of MB and some take a second or more to run: build them only
// where needed.
func ZooBenchmark() []Arch {
	return []Arch{
		mobileNetV3Arch(MobileNetV3Benchmark()).withShapes("x", []int64{1, 3, 224, 224}, []int64{2, 3, 256, 192}),
		resNetArch(ResNetBenchmark()).withShapes("input", []int64{1, 3, 224, 224}, []int64{2, 3, 256, 192}),
		dbNetArch(DBNetBenchmark()).withShapes("x", []int64{1, 3, 640, 640}, []int64{2, 3, 480, 736}),
		crnnArch(CRNNBenchmark()).withShapes("x", []int64{1, 3, 48, 320}, []int64{2, 3, 48, 480}),
		encoderArch(EncoderBenchmark()).
			withShapes("input_ids", []int64{1, 128}, []int64{2, 96}).
			withShapes("attention_mask", []int64{1, 128}, []int64{2, 96}),
		vadArch(VADBenchmark()),
		ifBodyArch(IfBodyConfig{}),
		mlpFixedArch(MLPFixedConfig{}),
		mlpTorchArch(MLPTorchBenchmark()),
	}
}

// withShapes returns a with input's ShapeA and ShapeB replaced (the maps
// are copied, so other Archs sharing them are unaffected).
func (a Arch) withShapes(input string, shapeA, shapeB []int64) Arch {
	a.ShapeA = maps.Clone(a.ShapeA)
	a.ShapeB = maps.Clone(a.ShapeB)
	a.ShapeA[input], a.ShapeB[input] = shapeA, shapeB
	return a
}

// convSpec describes a 2-D convolution beyond its channel counts. Fields
// given as [height, width] let CRNN-style models use asymmetric kernels.
type convSpec struct {
	kernel [2]int64
	stride [2]int64 // zero means 1
	pad    [2]int64 // the same on both sides of each axis
	group  int64    // zero means 1; the input channels for depthwise
	bias   bool
	// gain sets the weights' variance to gain/fanIn; zero means 2 (He's,
	// for a Conv before a Relu). A Conv feeding no activation (FPN
	// laterals) takes 1, so that sums of such outputs keep their scale.
	gain float64
	// gamma is the scale of the BatchNormalization convBN puts after the
	// Conv; zero means 1 (see bn).
	gamma float64
}

// square returns a k×k convolution with the given stride and "same"
// padding (k/2), the common case.
func square(k, stride int64) convSpec {
	return convSpec{kernel: [2]int64{k, k}, stride: [2]int64{stride, stride}, pad: [2]int64{k / 2, k / 2}}
}

// conv2d adds a Conv with weights "<prefix>.weight" [cout, cin/group, kh,
// kw] drawn at s.gain (and "<prefix>.bias" with s.bias) and returns its
// output. It panics if s.group does not divide both channel counts.
func conv2d(b *Builder, r *Rand, prefix, x string, cin, cout int64, s convSpec) string {
	group := max(s.group, 1)
	if cin%group != 0 || cout%group != 0 {
		panic(fmt.Sprintf("testmodels: conv %s: group %d does not divide %d→%d channels", prefix, group, cin, cout))
	}
	stride := [2]int64{max(s.stride[0], 1), max(s.stride[1], 1)}
	shape := []int64{cout, cin / group, s.kernel[0], s.kernel[1]}
	fanIn := cin / group * s.kernel[0] * s.kernel[1]
	gain := s.gain
	if gain == 0 {
		gain = 2
	}
	w := r.Normal(shape, math.Sqrt(gain/float64(fanIn)))
	in := []string{x, b.Initializer(prefix+".weight", shape, w)}
	if s.bias {
		in = append(in, b.Initializer(prefix+".bias", []int64{cout}, r.Normal([]int64{cout}, 0.01)))
	}
	attrs := []*onnxpb.AttributeProto{
		AttrInts("dilations", 1, 1),
		AttrInt("group", group),
		AttrInts("kernel_shape", s.kernel[0], s.kernel[1]),
		AttrInts("pads", s.pad[0], s.pad[1], s.pad[0], s.pad[1]),
		AttrInts("strides", stride[0], stride[1]),
	}
	return b.Op("Conv", in, attrs...)
}

// convBN adds Conv (no bias, as exporters write a Conv followed by
// BatchNormalization) + BatchNormalization with scales near 1.
func convBN(b *Builder, r *Rand, prefix, x string, cin, cout int64, s convSpec) string {
	s.bias = false
	gamma := s.gamma
	if gamma == 0 {
		gamma = 1
	}
	return bn(b, r, prefix+".bn", conv2d(b, r, prefix+".conv", x, cin, cout, s), cout, gamma)
}

// bn adds an inference BatchNormalization under PyTorch's parameter names
// with scales near gamma and statistics near the identity. A gamma below 1
// on the last BN of a residual branch stands in for what training does
// (and zero-initialised residual gammas start): it keeps each block's
// addition small, so that activations do not grow with depth, which
// untrained statistics could not undo.
func bn(b *Builder, r *Rand, prefix, x string, c int64, gamma float64) string {
	shape := []int64{c}
	in := []string{
		x,
		b.Initializer(prefix+".weight", shape, r.Uniform(shape, 0.8*gamma, 1.2*gamma)),
		b.Initializer(prefix+".bias", shape, r.Normal(shape, 0.05)),
		b.Initializer(prefix+".running_mean", shape, r.Normal(shape, 0.05)),
		b.Initializer(prefix+".running_var", shape, r.Uniform(shape, 0.5, 1.5)),
	}
	return b.Op("BatchNormalization", in, AttrFloat("epsilon", 1e-5))
}

// axesInputSince is the opset from which each operator takes its axes as
// an input instead of an attribute.
var axesInputSince = map[string]int64{
	"Squeeze": 13, "Unsqueeze": 13, "ReduceSum": 13,
	"ReduceMean": 18, "ReduceMax": 18, "ReduceMin": 18, "ReduceProd": 18,
}

// axesOp adds Squeeze, Unsqueeze or a Reduce* over axes in the signature of
// opset (the model's; subgraphs have none of their own), as an exporter at
// that opset writes it.
func axesOp(b *Builder, opset int64, op, x string, axes []int64, attrs ...*onnxpb.AttributeProto) string {
	since, ok := axesInputSince[op]
	if !ok {
		panic(fmt.Sprintf("testmodels: axesOp: %s has no axes", op))
	}
	if opset >= since {
		a := b.InitializerInt64(b.Unique(op+".axes"), []int64{int64(len(axes))}, axes)
		return b.Op(op, []string{x, a}, attrs...)
	}
	return b.Op(op, []string{x}, append([]*onnxpb.AttributeProto{AttrInts("axes", axes...)}, attrs...)...)
}

// scalar adds a float32 scalar constant with a unique name.
func scalar(b *Builder, prefix string, v float32) string {
	return b.Initializer(b.Unique(prefix), nil, []float32{v})
}

// hardSwishClip adds hardswish spelled x·Clip(x+3, 0, 6)/6, as PyTorch
// before opset 14 and paddle2onnx export it; Clip takes min and max as
// inputs from opset 11.
func hardSwishClip(b *Builder, x string) string {
	three := scalar(b, "hardswish.three", 3)
	clipped := b.Op("Clip", []string{b.Op("Add", []string{x, three}), scalar(b, "hardswish.min", 0), scalar(b, "hardswish.max", 6)})
	return b.Op("Div", []string{b.Op("Mul", []string{x, clipped}), scalar(b, "hardswish.six", 6)})
}

// hardSwishSigmoid adds hardswish spelled HardSigmoid(x)·x, the other
// spelling exporters use.
func hardSwishSigmoid(b *Builder, x string) string {
	return b.Op("Mul", []string{b.Op("HardSigmoid", []string{x}, AttrFloat("alpha", 1.0/6), AttrFloat("beta", 0.5)), x})
}

// reshapeTo adds a Reshape to a constant shape (0 copies the input's dim,
// −1 infers one), as exporters write it.
func reshapeTo(b *Builder, x string, shape ...int64) string {
	s := b.InitializerInt64(b.Unique("shape"), []int64{int64(len(shape))}, shape)
	return b.Op("Reshape", []string{x, s})
}

// lstmWeights adds ONNX LSTM weights for directions directions with
// PyTorch's initialisation, U(±1/√hidden): W [dirs, 4H, in], R [dirs, 4H,
// H], B [dirs, 8H] (gates i, o, f, c).
func lstmWeights(b *Builder, r *Rand, prefix string, dirs, in, hidden int64) (w, rw, bias string) {
	a := 1 / math.Sqrt(float64(hidden))
	wShape := []int64{dirs, 4 * hidden, in}
	rShape := []int64{dirs, 4 * hidden, hidden}
	bShape := []int64{dirs, 8 * hidden}
	w = b.Initializer(prefix+".W", wShape, r.Uniform(wShape, -a, a))
	rw = b.Initializer(prefix+".R", rShape, r.Uniform(rShape, -a, a))
	bias = b.Initializer(prefix+".B", bShape, r.Uniform(bShape, -a, a))
	return w, rw, bias
}
