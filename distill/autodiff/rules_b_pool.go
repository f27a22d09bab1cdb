package autodiff

import (
	"fmt"
	"slices"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rules of pooling: MaxPool, AveragePool, GlobalAveragePool and
// GlobalMaxPool.

func init() {
	Register("MaxPool", maxPoolRule)
	Register("AveragePool", averagePoolRule)
	Register("GlobalAveragePool", globalAveragePoolRule)
	Register("GlobalMaxPool", globalMaxPoolRule)
}

// nnScatterAdd is dX for an op whose every output element copies one input
// element: dX = Reshape(ScatterElements(zeros[|X|], flat indices, flat dY,
// axis 0, reduction "add"), Shape(X)), where idx holds, per output
// element, the flat index of its source in X. Elements read by several
// outputs (overlapping windows) accumulate.
func nnScatterAdd(b *Builder, x, idx, dy string) string {
	flat := b.Ints(-1)
	zeros := b.Op("Reshape", []string{b.ZerosLike(x), flat})
	s := b.Op("ScatterElements", []string{zeros, b.Op("Reshape", []string{idx, flat}), b.Op("Reshape", []string{dy, flat})},
		AttrInt("axis", 0), AttrString("reduction", "add"))
	return b.ReshapeLike(s, x)
}

// maxPoolRule routes each output's gradient to the input element it took.
// Non-overlapping pools (nnMaxPoolTiled) need no indices; otherwise
// the forward node is made to emit its Indices output (flat over the whole
// N×C×spatial input in row-major order when storage_order is 0, as ONNX
// Runtime computes them, pads excluded) and dY is scatter-added there.
// Any kernel, strides, pads, dilations, auto_pad and ceil_mode work, since
// the indices carry the geometry. Ties choose one element (the first, in
// ONNX Runtime), a subgradient.
func maxPoolRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if len(dY) > 1 && dY[1] != "" {
		return nil, fmt.Errorf("MaxPool's Indices output has no gradient")
	}
	if !need[0] {
		return out, nil
	}
	if so := GetInt(n, "storage_order", 0); so != 0 {
		return nil, fmt.Errorf("MaxPool with storage_order %d (only 0, row-major indices)", so)
	}
	if dx, ok := nnMaxPoolTiled(b, n, dY[0]); ok {
		out[0] = dx
		return out, nil
	}
	idx := b.EnsureOutput(n, 1)
	out[0] = nnScatterAdd(b, n.Input[0], idx, dY[0])
	return out, nil
}

// averagePoolRule spreads each output's gradient evenly over its window:
// dX = ConvTranspose(dY / count, ones[1, 1, k…]) over the N·C planes
// (dY reshaped to [N·C, 1, out…], the result back to Shape(X)), with the
// pool's strides, pads and dilations and output_padding restoring X's
// size. count is the pool's divisor per output position: the kernel size
// when count_include_pad is 1, else the number of window taps inside X,
// Π_axes #{κ < k : 0 ≤ o·s + κ·d − pb < in}, a constant from the static
// shapes. ceil_mode must be 0.
func averagePoolRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if !need[0] {
		return out, nil
	}
	if cm := GetInt(n, "ceil_mode", 0); cm != 0 {
		return nil, fmt.Errorf("AveragePool with ceil_mode %d (only 0)", cm)
	}
	x := n.Input[0]
	xs, err := nnStatic(b, "AveragePool", x, 3, 2)
	if err != nil {
		return nil, err
	}
	k := GetInts(n, "kernel_shape")
	if k == nil {
		return nil, fmt.Errorf("AveragePool without kernel_shape")
	}
	w, err := nnGeometry(n, xs[2:], k)
	if err != nil {
		return nil, fmt.Errorf("AveragePool: %w", err)
	}
	r := len(w.in)
	// 1/count per output position, row-major over out….
	total := int64(1)
	for _, o := range w.out {
		total *= o
	}
	inv := make([]float32, total)
	include := GetInt(n, "count_include_pad", 0) != 0
	for flat := range total {
		rest, count := flat, int64(1)
		for i := r - 1; i >= 0; i-- {
			o := rest % w.out[i]
			rest /= w.out[i]
			if include {
				count *= w.k[i]
				continue
			}
			var c int64
			for kk := range w.k[i] {
				if p := o*w.s[i] + kk*w.d[i] - w.pb[i]; p >= 0 && p < w.in[i] {
					c++
				}
			}
			count *= c
		}
		if count == 0 { // a window entirely in the padding: ORT divides by 0
			return nil, fmt.Errorf("AveragePool has a window with no input element (pads %v, kernel %v)", w.pads(), k)
		}
		inv[flat] = 1 / float32(count)
	}
	div := b.Float(inv[0]) // one divisor everywhere: a scalar
	if slices.ContainsFunc(inv, func(v float32) bool { return v != inv[0] }) {
		div = b.Floats(append([]int64{1, 1}, w.out...), inv)
	}
	scaled := b.Op("Mul", []string{dY[0], div})
	planes := b.Op("Reshape", []string{scaled, b.Ints(append([]int64{-1, 1}, w.out...)...)})
	kshape := append([]int64{1, 1}, k...)
	ones := make([]float32, nnNumel(kshape))
	for i := range ones {
		ones[i] = 1
	}
	dx := nnConvTranspose(b, planes, b.Floats(kshape, ones), w, 1)
	out[0] = b.ReshapeLike(dx, x)
	return out, nil
}

// nnNumel is the number of elements of a static shape.
func nnNumel(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

// nnSpatialCount is the number of spatial elements of x (a float scalar):
// a constant when x's spatial sizes are static, else
// Cast(ReduceProd(Shape(X)[2:])).
func nnSpatialCount(b *Builder, x string) string {
	if s, ok := b.Shape(x); ok && len(s) > 2 && !slices.ContainsFunc(s[2:], func(d int64) bool { return d < 0 }) {
		return b.Float(float32(nnNumel(s[2:])))
	}
	sp := b.Op("Shape", []string{x}, AttrInt("start", 2))
	return b.Op("Cast", []string{b.Op("ReduceProd", []string{sp}, AttrInt("keepdims", 0))}, AttrInt("to", int64(tensor.Float32)))
}

// globalAveragePoolRule: Y = mean over the spatial axes, so
// dX = Expand(dY / (H·W…), Shape(X)).
func globalAveragePoolRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if need[0] {
		x := n.Input[0]
		out[0] = b.Op("Expand", []string{b.Op("Div", []string{dY[0], nnSpatialCount(b, x)}), b.ShapeOf(x)})
	}
	return out, nil
}

// globalMaxPoolRule routes dY to the maxima: with the mask
// M = (X == Y) (Y broadcast over the spatial axes), dX = dY·M / ΣM, so
// tied maxima share the gradient equally.
func globalMaxPoolRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if !need[0] {
		return out, nil
	}
	x := n.Input[0]
	r := b.Rank(x)
	if r < 3 {
		return nil, fmt.Errorf("GlobalMaxPool needs the rank of %q (at least 3)", x)
	}
	mask := b.Op("Cast", []string{b.Op("Equal", []string{x, n.Output[0]})}, AttrInt("to", int64(tensor.Float32)))
	share := b.Op("Div", []string{dY[0], b.ReduceSum(mask, nnRange(2, r), true)})
	out[0] = b.Op("Mul", []string{mask, share})
	return out, nil
}

// nnMaxPoolTiled is dX of a MaxPool whose windows tile X (kernel =
// strides, dilations 1, no pads, ceil_mode 0, float32, static sizes from
// the channel axis on), without the Indices output, whose computation
// makes ONNX Runtime's forward MaxPool take a slow path. Each window's
// gradient goes to its first maximum in row-major window order, the
// element ONNX Runtime's indices name: with Q the constant Πk − κ (κ the
// row-major position of an element inside its window, so Q is largest at
// a window's first element) and ↑ the nearest upsampling by k,
//
//	P  = Q·[X == ↑Y]   (Q at the maxima, 0 elsewhere)
//	dX = [Q == ↑MaxPool(P)]·↑dY
//
// where MaxPool(P) (same kernel and strides) is the Q of each window's
// first maximum. Trailing rows no window reaches (in mod k) get 0.
func nnMaxPoolTiled(b *Builder, n *onnxpb.NodeProto, dy string) (string, bool) {
	x, y := n.Input[0], n.Output[0]
	if b.Type(x) != tensor.Float32 || GetInt(n, "ceil_mode", 0) != 0 {
		return "", false
	}
	xs, err := nnStatic(b, "MaxPool", x, 3, 1)
	k := GetInts(n, "kernel_shape")
	if err != nil || len(k) != len(xs)-2 {
		return "", false
	}
	w, err := nnGeometry(n, xs[2:], k)
	if err != nil || !slices.Equal(w.s, k) || slices.ContainsFunc(w.d, func(v int64) bool { return v != 1 }) ||
		slices.ContainsFunc(w.pads(), func(v int64) bool { return v != 0 }) {
		return "", false
	}
	r := len(k)
	tiled := make([]int64, r) // the spatial sizes the windows cover
	for i := range r {
		tiled[i] = w.out[i] * k[i]
	}
	xin := x
	if !slices.Equal(tiled, w.in) {
		xin = b.Op("Slice", []string{x, b.Ints(make([]int64, r)...), b.Ints(tiled...), b.Ints(nnRange(2, r+2)...)})
	}
	kk := nnNumel(k)
	q := make([]float32, nnNumel(tiled))
	for flat := range q {
		rest, kappa := int64(flat), int64(0)
		stride := int64(1)
		for i := r - 1; i >= 0; i-- {
			kappa += (rest % tiled[i] % k[i]) * stride
			stride *= k[i]
			rest /= tiled[i]
		}
		q[flat] = float32(kk - kappa)
	}
	qc := b.Floats(append([]int64{1, 1}, tiled...), q)
	scales := make([]float32, r+2)
	for i := range scales {
		scales[i] = 1
	}
	for i := range r {
		scales[i+2] = float32(k[i])
	}
	sc := b.Floats([]int64{int64(r + 2)}, scales)
	up := func(v string) string {
		return b.Op("Resize", []string{v, "", sc},
			AttrString("mode", "nearest"),
			AttrString("coordinate_transformation_mode", "asymmetric"),
			AttrString("nearest_mode", "floor"))
	}
	ind := func(a, c string) string { // 1 where a == c, else 0
		return b.Op("Cast", []string{b.Op("Equal", []string{a, c})}, AttrInt("to", int64(tensor.Float32)))
	}
	p := b.Op("Mul", []string{ind(xin, up(y)), qc})
	first := b.Op("MaxPool", []string{p}, AttrInts("kernel_shape", k...), AttrInts("strides", k...))
	dx := b.Op("Mul", []string{ind(qc, up(first)), up(dy)})
	if !slices.Equal(tiled, w.in) {
		pads := make([]int64, 2*(r+2))
		for i := range r {
			pads[r+2+2+i] = w.in[i] - tiled[i]
		}
		dx = b.Op("Pad", []string{dx, b.Ints(pads...)})
	}
	return dx, true
}
