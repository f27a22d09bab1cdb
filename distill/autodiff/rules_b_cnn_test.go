package autodiff

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestSmallCNNGradients checks a small CNN end to end with defaultCheck
// (24 random elements per value): x [2, 3, 8, 8] → MaxPool 3×3 stride 1
// pad 1 → Conv 3→8 3×3 stride 2 pad 1 (+bias) → BatchNormalization →
// Sigmoid → depthwise Conv 3×3 pad 1 (multiplier 2) → AveragePool 2×2
// stride 2 → Pad 1 → Conv 1×1 16→6 → GlobalAveragePool → Flatten → Gemm
// 6→4 → LayerNormalization → y [2, 4]. MaxPool reads x directly, which
// holds distinct values 0.03 apart, so no perturbation (eps 0.01) changes
// a window's maximum; the other ops are smooth (Sigmoid rather than
// Relu, whose kink finite differences could straddle).
func TestSmallCNNGradients(t *testing.T) {
	m, feeds, wrt := nnSmallCNN()
	defaultCheck.run(t, m, feeds, wrt...)
}

// nnSmallCNN is TestSmallCNNGradients's model, feeds and trainable values.
func nnSmallCNN() (*onnxpb.ModelProto, map[string]*tensor.Tensor, []string) {
	ai, af := testmodels.AttrInts, testmodels.AttrFloat
	b := testmodels.NewBuilder("small_cnn", 17)
	init := func(name string, seed uint64, shape []int64, lo, hi float64) string {
		return nnInit(b, name, randTensor(seed, shape, lo, hi))
	}
	xs := []int64{2, 3, 8, 8}
	x := b.Input("x", tensor.Float32, nnAny(xs)...)
	h := b.Op("MaxPool", []string{x}, ai("kernel_shape", 3, 3), ai("pads", 1, 1, 1, 1))
	h = b.Op("Conv", []string{h, init("c1.w", 2, []int64{8, 3, 3, 3}, -0.1, 0.1), init("c1.b", 3, []int64{8}, 0, 0)},
		ai("strides", 2, 2), ai("pads", 1, 1, 1, 1))
	h = b.Op("BatchNormalization", []string{h, init("bn.scale", 4, []int64{8}, 0.5, 1.5), init("bn.bias", 5, []int64{8}, 0, 0),
		init("bn.mean", 6, []int64{8}, -0.2, 0.2), init("bn.var", 7, []int64{8}, 0.5, 2)})
	h = b.Op("Sigmoid", []string{h})
	h = b.Op("Conv", []string{h, init("dw.w", 8, []int64{16, 1, 3, 3}, 0, 0)},
		testmodels.AttrInt("group", 8), ai("pads", 1, 1, 1, 1))
	h = b.Op("AveragePool", []string{h}, ai("kernel_shape", 2, 2), ai("strides", 2, 2))
	h = b.Op("Pad", []string{h, b.InitializerInt64("pads", []int64{8}, []int64{0, 0, 1, 1, 0, 0, 1, 1})})
	h = b.Op("Conv", []string{h, init("pw.w", 9, []int64{6, 16, 1, 1}, 0, 0)})
	h = b.Op("GlobalAveragePool", []string{h})
	h = b.Op("Flatten", []string{h})
	h = b.Op("Gemm", []string{h, init("fc.w", 10, []int64{4, 6}, 0, 0), init("fc.b", 11, []int64{4}, 0, 0)}, testmodels.AttrInt("transB", 1))
	b.Node("LayerNormalization", []string{h, init("ln.scale", 12, []int64{4}, 0.5, 1.5), init("ln.bias", 13, []int64{4}, 0, 0)},
		[]string{"y"}, af("epsilon", 1e-5))
	b.Output("y", tensor.Float32, 2, 4)
	feeds := map[string]*tensor.Tensor{"x": nnDistinct(1, xs, 0.03)}
	return b.Model(), feeds, []string{"x", "c1.w", "c1.b", "bn.scale", "bn.bias", "dw.w", "pw.w", "fc.w", "fc.b", "ln.scale", "ln.bias"}
}

// TestSmallCNNGradientsWithDynamicBatch checks that no rule bakes the
// batch size into the backward graph: the CNN's gradients computed from
// value_info whose batch dimension is symbolic ("N", as pkg/prep records
// it) equal those computed from static shapes, on the same batch.
func TestSmallCNNGradientsWithDynamicBatch(t *testing.T) {
	testutil.InitORT(t)
	m, feeds, wrt := nnSmallCNN()
	annotate(t, m, feeds)
	lossModel := withLoss(t, m, 1)
	grads := func(dynamic bool) map[string][]float64 {
		train := proto.Clone(lossModel).(*onnxpb.ModelProto)
		g := train.Graph
		if dynamic {
			for _, vs := range [][]*onnxpb.ValueInfoProto{g.Input, g.ValueInfo, g.Output} {
				for _, v := range vs {
					if d := v.GetType().GetTensorType().GetShape().GetDim(); len(d) > 0 {
						d[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
					}
				}
			}
		}
		names, err := Gradients(train, "gc_loss", wrt)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wrt {
			g.Output = append(g.Output, valueInfoUnknownShape(names[w]))
		}
		s, err := ort.NewSessionFromModel(train, ort.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		res := map[string][]float64{}
		for _, w := range wrt {
			res[w], _ = tensor.AsFloat64(out[names[w]])
		}
		return res
	}
	static, dynamic := grads(false), grads(true)
	for _, w := range wrt {
		if len(static[w]) == 0 || len(static[w]) != len(dynamic[w]) {
			t.Fatalf("%s: %d and %d gradient values", w, len(static[w]), len(dynamic[w]))
		}
		for i := range static[w] {
			if math.Abs(static[w][i]-dynamic[w][i]) > 1e-5*(1+math.Abs(static[w][i])) {
				t.Fatalf("d loss / d %s[%d]: %g with static shapes, %g with a symbolic batch", w, i, static[w][i], dynamic[w][i])
			}
		}
	}
}
