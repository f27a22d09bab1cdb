package autodiff

import (
	"fmt"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestSoftmaxRules checks Softmax and LogSoftmax over axes 1, −1 and 0 of
// a 3-D tensor (the unary test covers the default axis).
func TestSoftmaxRules(t *testing.T) {
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, axis := range []int64{1, -1, 0} {
			t.Run(fmt.Sprintf("%s_axis%d", op, axis), func(t *testing.T) {
				b := testmodels.NewBuilder(op, 17)
				x := b.Input("x", tensor.Float32, 2, 3, 4)
				w := b.Initializer("w", []int64{3, 1}, []float32{1, -2, 0.5})
				b.Node(op, []string{b.Op("Mul", []string{x, w})}, []string{"y"}, testmodels.AttrInt("axis", axis))
				b.Output("y", tensor.Float32)
				defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3, 4}, 0, 0)}, "x", "w")
			})
		}
	}
}
