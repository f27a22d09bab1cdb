package testmodels

import (
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// MNISTStudent is the randomly initialised student of the distillation
// benchmark: input "Input3" [N, 1, 28, 28] with 0–255 pixels (the zoo
// model's input) → × 1/255 → Flatten → Gemm 784→64 + Relu → Gemm 64→10 →
// "logits" [N, 10]. Weights are He (hidden) and Xavier (output), seeded;
// the scale is a scalar constant, not a trainable weight.
func MNISTStudent() *onnxpb.ModelProto {
	b := NewBuilder("mnist_student", 17)
	r := NewRand(784)
	x := b.Input("Input3", tensor.Float32, "N", 1, 28, 28)
	s := b.Initializer("pixel_scale", []int64{}, []float32{1.0 / 255})
	x = b.Op("Mul", []string{x, s})
	x = b.Op("Flatten", []string{x}, AttrInt("axis", 1))
	x = b.Op("Relu", []string{gemm(b, r, "fc1", x, "", 784, 64, true)})
	gemm(b, r, "fc2", x, "logits", 64, 10, false)
	b.Output("logits", tensor.Float32, "N", 10)
	return b.Model()
}
