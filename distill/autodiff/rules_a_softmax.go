package autodiff

import (
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Gradient rules of Softmax and LogSoftmax with the semantics of opset 13
// and later: one axis (default −1), no coercion to 2-D.

func init() {
	// dX = Y ⊙ (dY − Σ_axis(dY ⊙ Y))
	aUnary("Softmax", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		y := n.Output[0]
		axis := GetInt(n, "axis", -1)
		s := b.ReduceSum(b.Op("Mul", []string{dy, y}), []int64{axis}, true)
		return b.Op("Mul", []string{y, b.Op("Sub", []string{dy, s})}), nil
	})
	// dX = dY − exp(Y) ⊙ Σ_axis dY
	aUnary("LogSoftmax", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		y := n.Output[0]
		axis := GetInt(n, "axis", -1)
		s := b.ReduceSum(dy, []int64{axis}, true)
		return b.Op("Sub", []string{dy, b.Op("Mul", []string{b.Op("Exp", []string{y}), s})}), nil
	})
}
