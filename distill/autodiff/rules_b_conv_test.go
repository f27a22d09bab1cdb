package autodiff

import (
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The rules_b tests use defaultCheck (central differences, eps 1e-2, on
// float32 forward runs; an element passes when |analytic − numeric| ≤
// 2e-3 + 2e-2·max(|analytic|, |numeric|)) unless a test says otherwise.
// Conv, pooling and normalization are linear or smooth in every input, so
// only MaxPool needs care (distinct input values, see nnDistinct).

// nnFullCheck is defaultCheck over every element (the models are small).
var nnFullCheck = gradCheck{eps: defaultCheck.eps, rtol: defaultCheck.rtol, atol: defaultCheck.atol, maxElems: 1 << 20}

// nnAny turns a static shape into testmodels dims.
func nnAny(s []int64) []any {
	out := make([]any, len(s))
	for i, d := range s {
		out[i] = d
	}
	return out
}

// nnConvCase is one Conv configuration to check.
type nnConvCase struct {
	name              string
	x                 []int64 // [N, C, spatial…]
	m                 int64   // output channels
	k                 []int64
	group             int64
	strides, dilation []int64
	pads              []int64 // nil: none
	autoPad           string
	bias              bool
}

func (c nnConvCase) model() (*onnxpb.ModelProto, map[string]*tensor.Tensor) {
	b := testmodels.NewBuilder("conv_"+c.name, 17)
	x := b.Input("x", tensor.Float32, nnAny(c.x)...)
	wshape := append([]int64{c.m, c.x[1] / c.group}, c.k...)
	w := b.Initializer("w", wshape, tensor.Values[float32](randTensor(2, wshape, 0, 0)))
	in := []string{x, w}
	if c.bias {
		in = append(in, b.Initializer("bias", []int64{c.m}, tensor.Values[float32](randTensor(3, []int64{c.m}, 0, 0))))
	}
	attrs := []*onnxpb.AttributeProto{testmodels.AttrInt("group", c.group)}
	if c.strides != nil {
		attrs = append(attrs, testmodels.AttrInts("strides", c.strides...))
	}
	if c.dilation != nil {
		attrs = append(attrs, testmodels.AttrInts("dilations", c.dilation...))
	}
	if c.pads != nil {
		attrs = append(attrs, testmodels.AttrInts("pads", c.pads...))
	}
	if c.autoPad != "" {
		attrs = append(attrs, testmodels.AttrString("auto_pad", c.autoPad))
	}
	b.Node("Conv", in, []string{"y"}, attrs...)
	b.Output("y", tensor.Float32) // annotate records the shape
	return b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, c.x, 0, 0)}
}

// TestConvRule checks dX, dW and dB of Conv through strides 1–2, pads 0–2
// (symmetric and not), dilations 1–2, odd sizes with stride 2 (where
// (in + pads − ek) is not a multiple of the stride, so dX needs
// output_padding and dW a slice), auto_pad SAME_UPPER/SAME_LOWER/VALID,
// 1-D convolutions, depthwise convolutions with channel multiplier 1 and
// 2, and a group-2 convolution that is neither.
func TestConvRule(t *testing.T) {
	for _, c := range []nnConvCase{
		{name: "plain", x: []int64{2, 3, 5, 5}, m: 4, k: []int64{3, 3}, group: 1, bias: true},
		{name: "pad1", x: []int64{2, 2, 5, 6}, m: 3, k: []int64{3, 3}, group: 1, pads: []int64{1, 1, 1, 1}},
		{name: "pad2_asym", x: []int64{2, 2, 4, 5}, m: 3, k: []int64{3, 2}, group: 1, pads: []int64{2, 0, 1, 2}, bias: true},
		{name: "stride2", x: []int64{2, 2, 6, 6}, m: 3, k: []int64{2, 2}, group: 1, strides: []int64{2, 2}},
		{name: "stride2_odd", x: []int64{2, 2, 7, 8}, m: 3, k: []int64{3, 3}, group: 1, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "stride2_odd_nopad", x: []int64{2, 2, 8, 7}, m: 2, k: []int64{3, 2}, group: 1, strides: []int64{2, 3}},
		{name: "stride2_rem_over_pad", x: []int64{2, 1, 8, 9}, m: 2, k: []int64{3, 3}, group: 1, strides: []int64{2, 3}, pads: []int64{1, 0, 0, 0}},
		{name: "dilation2", x: []int64{2, 2, 7, 7}, m: 3, k: []int64{3, 3}, group: 1, dilation: []int64{2, 2}, pads: []int64{2, 2, 2, 2}},
		{name: "dilation2_stride2", x: []int64{2, 2, 9, 8}, m: 2, k: []int64{3, 2}, group: 1, dilation: []int64{2, 1}, strides: []int64{2, 2}, pads: []int64{1, 0, 2, 1}, bias: true},
		{name: "same_upper", x: []int64{2, 2, 7, 6}, m: 3, k: []int64{3, 3}, group: 1, strides: []int64{2, 2}, autoPad: "SAME_UPPER"},
		{name: "same_upper_even_k", x: []int64{2, 2, 5, 6}, m: 2, k: []int64{2, 4}, group: 1, autoPad: "SAME_UPPER", bias: true},
		{name: "same_lower", x: []int64{2, 2, 6, 7}, m: 2, k: []int64{4, 3}, group: 1, strides: []int64{2, 2}, autoPad: "SAME_LOWER"},
		{name: "valid", x: []int64{2, 2, 7, 6}, m: 2, k: []int64{3, 3}, group: 1, strides: []int64{2, 2}, autoPad: "VALID"},
		{name: "depthwise", x: []int64{2, 3, 6, 6}, m: 3, k: []int64{3, 3}, group: 3, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "depthwise_mult2_stride2", x: []int64{2, 3, 7, 7}, m: 6, k: []int64{3, 3}, group: 3, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{name: "depthwise_mult2_dilation2", x: []int64{2, 2, 7, 6}, m: 4, k: []int64{3, 2}, group: 2, dilation: []int64{2, 2}, pads: []int64{0, 1, 2, 1}, bias: true},
		{name: "group2", x: []int64{2, 4, 5, 5}, m: 6, k: []int64{3, 3}, group: 2, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "conv1d", x: []int64{2, 3, 9}, m: 2, k: []int64{3}, group: 1, strides: []int64{2}, pads: []int64{1, 2}, bias: true},
		{name: "conv1d_depthwise", x: []int64{2, 2, 8}, m: 4, k: []int64{3}, group: 2, dilation: []int64{2}, pads: []int64{2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, feeds := c.model()
			wrt := []string{"x", "w"}
			if c.bias {
				wrt = append(wrt, "bias")
			}
			nnFullCheck.run(t, m, feeds, wrt...)
		})
	}
}

// TestConvRuleErrors checks the messages for shapes the rule cannot use.
func TestConvRuleErrors(t *testing.T) {
	c := nnConvCase{name: "err", x: []int64{2, 2, 5, 5}, m: 2, k: []int64{3, 3}, group: 1}
	m, feeds := c.model()
	testutil.InitORT(t)
	annotate(t, m, feeds)
	m.Graph.ValueInfo = nil
	m.Graph.Input[0] = testmodels.ValueInfo("x", tensor.Float32, "N", 2, "H", 5)
	_, err := Gradients(m, "y", []string{"w"})
	if err == nil || !strings.Contains(err.Error(), `Conv needs static sizes of "x" from axis 1 on, and its shape is [-1 2 -1 5]`) {
		t.Fatalf("got %v", err)
	}
}
