package autodiff

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Gradient rules of normalization: BatchNormalization (inference form),
// LayerNormalization and InstanceNormalization.

func init() {
	Register("BatchNormalization", batchNormRule)
	Register("LayerNormalization", layerNormRule)
	Register("InstanceNormalization", instanceNormRule)
}

// nnPerChannel reshapes a [C] vector to [C, 1, …] (rank − 1 axes), so that
// it broadcasts along axis 1 of a rank-`rank` value.
func nnPerChannel(b *Builder, v string, rank int) string {
	if rank <= 2 {
		return v
	}
	shape := make([]int64, rank-1)
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = -1
	return b.Op("Reshape", []string{v, b.Ints(shape...)})
}

// nnInvStd is 1 / √(v + ε).
func nnInvStd(b *Builder, v string, eps float32) string {
	return b.Op("Reciprocal", []string{b.Op("Sqrt", []string{b.Op("Add", []string{v, b.Float(eps)})})})
}

// nnNormBackward is the gradient of x̂ = (x − μ)·inv with μ and inv the
// mean and 1/√(var + ε) of x over axes (D elements each), given g = dL/dx̂:
// dX = inv·(g − mean(g) − x̂·mean(g·x̂)), means over axes.
func nnNormBackward(b *Builder, g, xhat, inv string, axes []int64, d int64) string {
	scale := b.Float(1 / float32(d))
	mean := func(v string) string { return b.Op("Mul", []string{b.ReduceSum(v, axes, true), scale}) }
	t := b.Op("Sub", []string{b.Op("Sub", []string{g, mean(g)}), b.Op("Mul", []string{xhat, mean(b.Op("Mul", []string{g, xhat}))})})
	return b.Op("Mul", []string{inv, t})
}

// batchNormRule differentiates the inference form (training_mode 0):
// Y = scale·(X − mean)·inv + B per channel (axis 1), inv = 1/√(var + ε),
// with the running mean and var frozen constants:
//
//	dX = dY·scale·inv, dScale = Σ_{n, spatial} dY·x̂ with x̂ = (X − mean)·inv,
//	dB = Σ_{n, spatial} dY; mean and var get no gradient.
func batchNormRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if tm := GetInt(n, "training_mode", 0); tm != 0 {
		return nil, fmt.Errorf("BatchNormalization with training_mode %d (only the inference form, running statistics frozen)", tm)
	}
	for i := 1; i < len(dY); i++ {
		if dY[i] != "" {
			return nil, fmt.Errorf("BatchNormalization's running statistics outputs have no gradient")
		}
	}
	if len(n.Input) < 5 {
		return nil, fmt.Errorf("BatchNormalization with %d inputs (want 5)", len(n.Input))
	}
	x, scale, mean, variance := n.Input[0], n.Input[1], n.Input[3], n.Input[4]
	r := b.Rank(x)
	if r < 2 {
		return nil, fmt.Errorf("BatchNormalization needs the rank of %q (at least 2)", x)
	}
	if !need[0] && !need[1] && !need[2] {
		return out, nil
	}
	dy := dY[0]
	inv := nnInvStd(b, variance, GetFloat(n, "epsilon", 1e-5))
	axes := append([]int64{0}, nnRange(2, r)...)
	if need[0] {
		out[0] = b.Op("Mul", []string{dy, nnPerChannel(b, b.Op("Mul", []string{scale, inv}), r)})
	}
	if need[1] {
		xhat := b.Op("Mul", []string{b.Op("Sub", []string{x, nnPerChannel(b, mean, r)}), nnPerChannel(b, inv, r)})
		out[1] = b.ReduceSum(b.Op("Mul", []string{dy, xhat}), axes, false)
	}
	if need[2] {
		out[2] = b.ReduceSum(dy, axes, false)
	}
	return out, nil
}

// layerNormRule differentiates Y = x̂·Scale + B, x̂ = (X − μ)·inv, with μ
// and inv = 1/√(σ² + ε) over the axes from `axis` on (D elements). The
// forward node is made to emit its Mean and InvStdDev outputs, then
//
//	dX = inv·(g − mean(g) − x̂·mean(g·x̂)) with g = dY·Scale,
//	dScale = SumTo(dY·x̂), dB = SumTo(dY) (summed over the leading axes
//	and wherever Scale or B broadcast).
//
// Only output Y may carry a gradient.
func layerNormRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	for i := 1; i < len(dY); i++ {
		if dY[i] != "" {
			return nil, fmt.Errorf("LayerNormalization with its Mean or InvStdDev output used (only output 0 is differentiated)")
		}
	}
	if !need[0] && !need[1] && !(len(n.Input) > 2 && need[2]) {
		return out, nil
	}
	x, scale := n.Input[0], n.Input[1]
	xs, ok := b.Shape(x)
	if !ok {
		return nil, fmt.Errorf("LayerNormalization needs the rank of %q", x)
	}
	r := len(xs)
	axis, err := nnAxis(GetInt(n, "axis", -1), r)
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization: %w", err)
	}
	axes := nnRange(int(axis), r)
	d := int64(1)
	for _, s := range xs[axis:] {
		if s < 0 {
			return nil, fmt.Errorf("LayerNormalization needs the static sizes of the normalized axes of %q, which are %v", x, xs[axis:])
		}
		d *= s
	}
	dy, y := dY[0], n.Output[0]
	mean := b.EnsureOutput(n, 1)
	inv := b.EnsureOutput(n, 2)
	xhat := b.Op("Mul", []string{b.Op("Sub", []string{x, mean}), inv})
	if need[0] {
		g := b.Op("Mul", []string{dy, scale})
		out[0] = nnNormBackward(b, g, xhat, inv, axes, d)
	}
	if need[1] {
		if out[1], err = b.SumTo(b.Op("Mul", []string{dy, xhat}), y, scale); err != nil {
			return nil, err
		}
	}
	if len(n.Input) > 2 && need[2] {
		if out[2], err = b.SumTo(dy, y, n.Input[2]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nnAxis maps a possibly negative axis of a rank-r value into [0, r).
func nnAxis(axis int64, r int) (int64, error) {
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis >= int64(r) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	return axis, nil
}

// instanceNormRule differentiates Y = scale·x̂ + B per channel, x̂ the
// input normalized over the spatial axes of each (n, c) plane (D
// elements), μ and inv = 1/√(σ² + ε) recomputed:
//
//	dX = inv·(g − mean(g) − x̂·mean(g·x̂)) with g = dY·scale,
//	dScale = Σ_{n, spatial} dY·x̂, dB = Σ_{n, spatial} dY.
func instanceNormRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if !need[0] && !need[1] && !need[2] {
		return out, nil
	}
	x, scale := n.Input[0], n.Input[1]
	xs, err := nnStatic(b, "InstanceNormalization", x, 3, 2)
	if err != nil {
		return nil, err
	}
	r := len(xs)
	sp := nnRange(2, r)
	d := nnNumel(xs[2:])
	k := b.Float(1 / float32(d))
	mu := b.Op("Mul", []string{b.ReduceSum(x, sp, true), k})
	xc := b.Op("Sub", []string{x, mu})
	variance := b.Op("Mul", []string{b.ReduceSum(b.Op("Mul", []string{xc, xc}), sp, true), k})
	inv := nnInvStd(b, variance, GetFloat(n, "epsilon", 1e-5))
	xhat := b.Op("Mul", []string{xc, inv})
	dy := dY[0]
	axes := append([]int64{0}, sp...)
	if need[0] {
		g := b.Op("Mul", []string{dy, nnPerChannel(b, scale, r)})
		out[0] = nnNormBackward(b, g, xhat, inv, sp, d)
	}
	if need[1] {
		out[1] = b.ReduceSum(b.Op("Mul", []string{dy, xhat}), axes, false)
	}
	if need[2] {
		out[2] = b.ReduceSum(dy, axes, false)
	}
	return out, nil
}
