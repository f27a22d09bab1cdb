package autodiff

import (
	"math/rand/v2"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// nnDistinct is a tensor holding a random permutation of (i − n/2)·step,
// i = 0…n−1: values at least step apart, so that with step > 2·eps no
// finite-difference perturbation changes which element a max picks.
func nnDistinct(seed uint64, shape []int64, step float32) *tensor.Tensor {
	n := int(testmodels.Numel(shape))
	r := rand.New(rand.NewPCG(seed, 8))
	v := make([]float32, n)
	for i, k := range r.Perm(n) {
		v[i] = (float32(k) - float32(n)/2) * step
	}
	return tensor.MustNew(shape, v)
}

// nnPoolModel is x → op(attrs) → y, with x an input of static shape.
func nnPoolModel(op string, xs []int64, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	return nnPoolModelAt(17, op, xs, attrs...)
}

// nnPoolModelAt is nnPoolModel at another opset.
func nnPoolModelAt(opset int64, op string, xs []int64, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("pool_"+op, opset)
	b.Input("x", tensor.Float32, nnAny(xs)...)
	b.Node(op, []string{"x"}, []string{"y"}, attrs...)
	b.Output("y", tensor.Float32)
	return b.Model()
}

// TestMaxPoolRule checks MaxPool's scatter of dY through its Indices:
// 2×2 stride 2, 3×3 stride 1 pad 1 (overlapping windows: one element can
// be the maximum of several), 3×3 stride 2 pad 1 on an odd size,
// dilations 2, ceil_mode 1, auto_pad SAME_UPPER and 1-D. Inputs are
// distinct values 0.05 apart (eps is 0.01), so no perturbation flips a
// window's argmax.
func TestMaxPoolRule(t *testing.T) {
	ai, ais := testmodels.AttrInts, testmodels.AttrString
	for _, c := range []struct {
		name  string
		x     []int64
		attrs []*onnxpb.AttributeProto
	}{
		{"k2s2", []int64{2, 3, 6, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2), ai("strides", 2, 2)}},
		{"k3s1p1_overlap", []int64{2, 2, 5, 5}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 3), ai("pads", 1, 1, 1, 1)}},
		{"k3s2p1_odd", []int64{2, 2, 7, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 3), ai("strides", 2, 2), ai("pads", 1, 1, 1, 1)}},
		{"dilation2", []int64{2, 2, 7, 7}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2), ai("dilations", 2, 2), ai("pads", 1, 0, 1, 0)}},
		{"ceil_mode", []int64{2, 2, 7, 7}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2), ai("strides", 2, 2), testmodels.AttrInt("ceil_mode", 1)}},
		{"same_upper", []int64{2, 2, 5, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 3), ai("strides", 2, 2), ais("auto_pad", "SAME_UPPER")}},
		{"pool1d", []int64{2, 3, 9}, []*onnxpb.AttributeProto{ai("kernel_shape", 3), ai("strides", 2), ai("pads", 1, 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := nnPoolModel("MaxPool", c.x, c.attrs...)
			feeds := map[string]*tensor.Tensor{"x": nnDistinct(1, c.x, 0.05)}
			nnFullCheck.run(t, m, feeds, "x")
		})
	}
}

// TestAveragePoolRule checks AveragePool with count_include_pad 0 and 1
// (the divisor varies at the borders only with 0), symmetric and
// asymmetric pads, strides 1–2 with an odd size, overlapping windows,
// auto_pad SAME_UPPER, dilations (opset 19) and 1-D.
func TestAveragePoolRule(t *testing.T) {
	ai := testmodels.AttrInts
	for _, c := range []struct {
		name  string
		x     []int64
		attrs []*onnxpb.AttributeProto
		opset int64
	}{
		{"dilation2_opset19", []int64{2, 2, 7, 8}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 2), ai("dilations", 2, 2), ai("strides", 2, 1), ai("pads", 1, 1, 2, 0)}, 19},
		{"k2s2", []int64{2, 3, 6, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2), ai("strides", 2, 2)}, 17},
		{"k3s1p1", []int64{2, 2, 5, 5}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 3), ai("pads", 1, 1, 1, 1)}, 17},
		{"k3s2p1_odd", []int64{2, 2, 7, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 3), ai("strides", 2, 2), ai("pads", 1, 1, 1, 1)}, 17},
		{"k3s2_asym", []int64{2, 2, 8, 7}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 2), ai("strides", 2, 1), ai("pads", 2, 0, 1, 1)}, 17},
		{"same_upper", []int64{2, 2, 5, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 3), ai("strides", 2, 2), testmodels.AttrString("auto_pad", "SAME_UPPER")}, 17},
		{"pool1d", []int64{2, 3, 9}, []*onnxpb.AttributeProto{ai("kernel_shape", 3), ai("strides", 2), ai("pads", 1, 1)}, 17},
	} {
		for _, include := range []int64{0, 1} {
			name := c.name + map[int64]string{0: "_exclude_pad", 1: "_include_pad"}[include]
			t.Run(name, func(t *testing.T) {
				attrs := append([]*onnxpb.AttributeProto{testmodels.AttrInt("count_include_pad", include)}, c.attrs...)
				m := nnPoolModelAt(c.opset, "AveragePool", c.x, attrs...)
				nnFullCheck.run(t, m, map[string]*tensor.Tensor{"x": randTensor(1, c.x, 0, 0)}, "x")
			})
		}
	}
}

// TestGlobalPoolRules checks GlobalAveragePool (2-D and 1-D) and
// GlobalMaxPool (distinct inputs, as for MaxPool).
func TestGlobalPoolRules(t *testing.T) {
	for _, xs := range [][]int64{{2, 3, 4, 5}, {2, 3, 7}} {
		m := nnPoolModel("GlobalAveragePool", xs)
		nnFullCheck.run(t, m, map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)}, "x")
		m = nnPoolModel("GlobalMaxPool", xs)
		nnFullCheck.run(t, m, map[string]*tensor.Tensor{"x": nnDistinct(2, xs, 0.05)}, "x")
	}
}
