package autodiff

import (
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestRulesBLimitations checks the error messages of the configurations
// the rules of rules_b_*.go do not differentiate.
func TestRulesBLimitations(t *testing.T) {
	ai, as := testmodels.AttrInts, testmodels.AttrString
	xs := []int64{2, 2, 6, 6}
	for _, c := range []struct {
		name string
		// build adds the op under test reading x and returns the value
		// the loss sums.
		build func(b *testmodels.Builder, x string) string
		want  string
	}{
		{"averagepool_ceil", func(b *testmodels.Builder, x string) string {
			return b.Op("AveragePool", []string{x}, ai("kernel_shape", 3, 3), ai("strides", 2, 2), testmodels.AttrInt("ceil_mode", 1))
		}, "AveragePool with ceil_mode 1 (only 0)"},
		{"maxpool_storage_order", func(b *testmodels.Builder, x string) string {
			return b.Op("MaxPool", []string{x}, ai("kernel_shape", 2, 2), testmodels.AttrInt("storage_order", 1))
		}, "MaxPool with storage_order 1 (only 0, row-major indices)"},
		{"resize_linear", func(b *testmodels.Builder, x string) string {
			return b.Op("Resize", []string{x, "", b.Initializer("scales", []int64{4}, []float32{1, 1, 2, 2})}, as("mode", "linear"))
		}, `Resize with mode "linear" (only "nearest")`},
		{"layernorm_mean_used", func(b *testmodels.Builder, x string) string {
			b.Node("LayerNormalization", []string{x, b.Initializer("scale", []int64{6}, []float32{1, 2, 3, 4, 5, 6})}, []string{"ln_y", "ln_mean"})
			return b.Op("Add", []string{b.Op("ReduceSum", []string{"ln_y"}), b.Op("ReduceSum", []string{"ln_mean"})})
		}, "LayerNormalization with its Mean or InvStdDev output used (only output 0 is differentiated)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("err_"+c.name, 17)
			x := b.Input("x", tensor.Float32, nnAny(xs)...)
			b.Node("ReduceSum", []string{c.build(b, x)}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
			b.Output("loss", tensor.Float32)
			m := b.Model()
			testutil.InitORT(t)
			annotate(t, m, map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)})
			_, err := Gradients(m, "loss", []string{"x"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
