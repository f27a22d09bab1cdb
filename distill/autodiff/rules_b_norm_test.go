package autodiff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// nnInit adds an initializer holding t's values.
func nnInit(b *testmodels.Builder, name string, t *tensor.Tensor) string {
	return b.Initializer(name, t.Shape(), tensor.Values[float32](t))
}

// TestBatchNormalizationRule checks the inference-form BatchNormalization
// (random positive running variance, ε 1e-3) for X, scale and B, at ranks
// 4, 3 and 2.
func TestBatchNormalizationRule(t *testing.T) {
	for _, xs := range [][]int64{{2, 3, 4, 5}, {2, 3, 7}, {2, 3}} {
		t.Run(fmt.Sprint(xs), func(t *testing.T) {
			c := []int64{3}
			b := testmodels.NewBuilder("bn", 17)
			x := b.Input("x", tensor.Float32, nnAny(xs)...)
			in := []string{x,
				nnInit(b, "scale", randTensor(2, c, 0.5, 1.5)),
				nnInit(b, "bias", randTensor(3, c, 0, 0)),
				nnInit(b, "mean", randTensor(4, c, 0, 0)),
				nnInit(b, "var", randTensor(5, c, 0.3, 2))}
			b.Node("BatchNormalization", in, []string{"y"}, testmodels.AttrFloat("epsilon", 1e-3))
			b.Output("y", tensor.Float32)
			nnFullCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)}, "x", "scale", "bias")
		})
	}
}

// TestBatchNormalizationTrainingModeIsAnError checks the message for
// training_mode 1.
func TestBatchNormalizationTrainingModeIsAnError(t *testing.T) {
	b := testmodels.NewBuilder("bn_train", 17)
	c := []int64{2}
	x := b.Input("x", tensor.Float32, 2, 2, 3)
	in := []string{x, nnInit(b, "scale", randTensor(2, c, 0.5, 1.5)), nnInit(b, "bias", randTensor(3, c, 0, 0)),
		nnInit(b, "mean", randTensor(4, c, 0, 0)), nnInit(b, "var", randTensor(5, c, 0.3, 2))}
	b.Node("BatchNormalization", in, []string{"y"}, testmodels.AttrInt("training_mode", 1))
	b.Output("y", tensor.Float32, 2, 2, 3)
	_, err := Gradients(b.Model(), "y", []string{"scale"})
	if err == nil || !strings.Contains(err.Error(), "BatchNormalization with training_mode 1") {
		t.Fatalf("got %v", err)
	}
}

// TestLayerNormalizationRule checks LayerNormalization over the last axis
// and over the last two axes (axis −2 and its positive spelling), with and
// without B, for X, Scale and B.
func TestLayerNormalizationRule(t *testing.T) {
	xs := []int64{2, 3, 4}
	for _, c := range []struct {
		name string
		axis int64
		bias bool
	}{{"last", -1, true}, {"last_nobias", -1, false}, {"last_two", -2, true}, {"axis1", 1, false}} {
		t.Run(c.name, func(t *testing.T) {
			ax := c.axis
			if ax < 0 {
				ax += 3
			}
			ps := xs[ax:]
			b := testmodels.NewBuilder("ln", 17)
			x := b.Input("x", tensor.Float32, nnAny(xs)...)
			in := []string{x, nnInit(b, "scale", randTensor(2, ps, 0.5, 1.5))}
			wrt := []string{"x", "scale"}
			if c.bias {
				in = append(in, nnInit(b, "bias", randTensor(3, ps, 0, 0)))
				wrt = append(wrt, "bias")
			}
			b.Node("LayerNormalization", in, []string{"y"}, testmodels.AttrInt("axis", c.axis), testmodels.AttrFloat("epsilon", 1e-4))
			b.Output("y", tensor.Float32)
			nnFullCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)}, wrt...)
		})
	}
}

// TestInstanceNormalizationRule checks InstanceNormalization at ranks 4
// and 3 for X, scale and B.
func TestInstanceNormalizationRule(t *testing.T) {
	for _, xs := range [][]int64{{2, 3, 3, 4}, {2, 3, 5}} {
		c := []int64{3}
		b := testmodels.NewBuilder("in", 17)
		x := b.Input("x", tensor.Float32, nnAny(xs)...)
		in := []string{x, nnInit(b, "scale", randTensor(2, c, 0.5, 1.5)), nnInit(b, "bias", randTensor(3, c, 0, 0))}
		b.Node("InstanceNormalization", in, []string{"y"}, testmodels.AttrFloat("epsilon", 1e-4))
		b.Output("y", tensor.Float32)
		nnFullCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)}, "x", "scale", "bias")
	}
}
