package autodiff

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rules of the ops that move data without arithmetic: Flatten,
// Reshape, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Expand,
// Tile, Gather, Dropout and Cast.

func init() {
	// Flatten, Reshape, Squeeze and Unsqueeze keep the elements in order:
	// dX = Reshape(dY, Shape(X)). Their shape/axes inputs get no gradient.
	for _, op := range []string{"Flatten", "Reshape", "Squeeze", "Unsqueeze"} {
		aUnary(op, func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
			return b.ReshapeLike(dy, n.Input[0]), nil
		})
	}
	aUnary("Transpose", transposeGrad)
	Register("Concat", concatRule)
	Register("Split", splitRule)
	aUnary("Slice", sliceGrad)
	// dX = SumTo(dY, shape of X); the shape input gets none.
	aUnary("Expand", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.SumTo(dy, n.Output[0], n.Input[0])
	})
	aUnary("Tile", tileGrad)
	aUnary("Gather", gatherGrad)
	aUnary("Dropout", dropoutGrad)
	aUnary("Cast", castGrad)
}

// aShapeDim is Shape(x)[axis:axis+1], a 1-element int64 tensor.
func aShapeDim(b *Builder, x string, axis int64) string {
	return b.Op("Shape", []string{x}, AttrInt("start", axis), AttrInt("end", axis+1))
}

// aNormAxis maps a possibly negative axis of a rank-r value into [0, r).
func aNormAxis(axis int64, r int) (int64, error) {
	if r < 0 {
		return 0, fmt.Errorf("the rank of the input is unknown")
	}
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis >= int64(r) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	return axis, nil
}

// transposeGrad applies the inverse permutation: dX = Transpose(dY, perm⁻¹)
// (the default perm, reversing the axes, is its own inverse).
func transposeGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	perm := GetInts(n, "perm")
	if perm == nil {
		return b.Op("Transpose", []string{dy}), nil
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		if p < 0 || p >= int64(len(perm)) {
			return "", fmt.Errorf("Transpose with perm %v", perm)
		}
		inv[p] = int64(i)
	}
	return b.Op("Transpose", []string{dy}, AttrInts("perm", inv...)), nil
}

// concatRule cuts dY back into the inputs' pieces along the axis:
// dX_i = Split(dY, sizes along axis)[i], the sizes from static shapes or,
// where one varies, from Shape(X_i) at run time.
func concatRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	r := b.Rank(n.Output[0])
	for _, in := range n.Input {
		if r < 0 {
			r = b.Rank(in)
		}
	}
	axis, err := aNormAxis(GetInt(n, "axis", 0), r)
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(n.Input))
	static := true
	for i, in := range n.Input {
		s, ok := b.Shape(in)
		if !ok || len(s) != r || s[axis] < 0 {
			static = false
			break
		}
		sizes[i] = s[axis]
	}
	var split string
	if static {
		split = b.Ints(sizes...)
	} else {
		parts := make([]string, len(n.Input))
		for i, in := range n.Input {
			parts[i] = aShapeDim(b, in, axis)
		}
		split = b.Op("Concat", parts, AttrInt("axis", 0))
	}
	outs := b.OpN("Split", []string{dY[0], split}, len(n.Input), AttrInt("axis", axis))
	for i := range outs {
		if !need[i] {
			outs[i] = ""
		}
	}
	return outs, nil
}

// splitRule joins the outputs' gradients: dX = Concat(dY_0, …, axis),
// with zeros of its output's shape for an output that has no gradient.
func splitRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if !need[0] {
		return out, nil
	}
	parts := make([]string, len(n.Output))
	for i, d := range dY {
		if d == "" {
			if n.Output[i] == "" {
				return nil, fmt.Errorf("Split output %d has no name and no gradient", i)
			}
			d = b.ZerosLike(n.Output[i])
		}
		parts[i] = d
	}
	out[0] = b.Op("Concat", parts, AttrInt("axis", GetInt(n, "axis", 0)))
	return out, nil
}

// sliceGrad pads dY back to X's shape with zeros (steps of 1):
// dX = Pad(dY, before, after), before_a = the start clamped to [0, dim_a]
// on each sliced axis a, after = dims(X) − dims(Y) − before. Starts, axes
// and steps must be constants; after comes from static shapes or Shape ops.
func sliceGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	x, y := n.Input[0], n.Output[0]
	r := b.Rank(x)
	if r < 0 {
		return "", fmt.Errorf("Slice of a value of unknown rank")
	}
	input := func(i int) string {
		if len(n.Input) > i {
			return n.Input[i]
		}
		return ""
	}
	starts, ok := b.ConstInts(input(1))
	if !ok {
		return "", fmt.Errorf("Slice with starts that are not a constant")
	}
	axes := make([]int64, len(starts))
	for i := range axes {
		axes[i] = int64(i)
	}
	if a := input(3); a != "" {
		if axes, ok = b.ConstInts(a); !ok || len(axes) != len(starts) {
			return "", fmt.Errorf("Slice with axes that are not a constant")
		}
	}
	if s := input(4); s != "" {
		steps, ok := b.ConstInts(s)
		if !ok {
			return "", fmt.Errorf("Slice with steps that are not a constant")
		}
		for _, st := range steps {
			if st != 1 {
				return "", fmt.Errorf("Slice with steps other than 1")
			}
		}
	}
	xs, _ := b.Shape(x)
	before := make([]int64, r)
	for i, a := range axes {
		a, err := aNormAxis(a, r)
		if err != nil {
			return "", err
		}
		s, d := starts[i], xs[a]
		switch {
		case s < 0 && d < 0:
			return "", fmt.Errorf("Slice with a negative start on an axis of unknown size")
		case s < 0:
			s = max(s+d, 0)
		case d >= 0:
			s = min(s, d)
		}
		before[a] = s
	}
	var pads string
	ys, ok := b.Shape(y)
	if aKnown(xs) && ok && len(ys) == r && aKnown(ys) {
		p := append([]int64{}, before...)
		for i := range r {
			p = append(p, xs[i]-ys[i]-before[i])
		}
		pads = b.Ints(p...)
	} else {
		bf := b.Ints(before...)
		after := b.Op("Sub", []string{b.Op("Sub", []string{b.ShapeOf(x), b.ShapeOf(y)}), bf})
		pads = b.Op("Concat", []string{bf, after}, AttrInt("axis", 0))
	}
	return b.Op("Pad", []string{dy, pads}), nil
}

// aKnown says whether every dimension of a static shape is known.
func aKnown(s []int64) bool {
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

// tileGrad sums the copies: with X of shape [d_0, …] tiled by repeats
// [r_0, …], dX = ReduceSum(Reshape(dY, [r_0, d_0, r_1, d_1, …]), axes
// 0, 2, …). Repeats must be a constant; unknown d_i come from Shape(X).
func tileGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	x := n.Input[0]
	reps, ok := b.ConstInts(n.Input[1])
	if !ok {
		return "", fmt.Errorf("Tile with repeats that are not a constant")
	}
	xs, ok := b.Shape(x)
	if !ok {
		xs = make([]int64, len(reps))
		for i := range xs {
			xs[i] = -1
		}
	}
	if len(xs) != len(reps) {
		return "", fmt.Errorf("Tile with %d repeats of a rank-%d value", len(reps), len(xs))
	}
	var shape string
	axes := make([]int64, len(reps))
	for i := range axes {
		axes[i] = int64(2 * i)
	}
	if aKnown(xs) {
		var s []int64
		for i, r := range reps {
			s = append(s, r, xs[i])
		}
		shape = b.Ints(s...)
	} else {
		var parts []string
		for i, r := range reps {
			d := b.Ints(xs[i])
			if xs[i] < 0 {
				d = aShapeDim(b, x, int64(i))
			}
			parts = append(parts, b.Ints(r), d)
		}
		shape = b.Op("Concat", parts, AttrInt("axis", 0))
	}
	return b.ReduceSum(b.Op("Reshape", []string{dy, shape}), axes, false), nil
}

// gatherGrad scatters dY back into zeros of W's shape, adding where indices
// repeat. On axis 0: dW = ScatterND(0, Unsqueeze(idx, −1), dY, add). On
// another axis a the indexed axis is moved first (W by perm
// [a, 0, …, a−1, a+1, …], dY's index dimensions likewise), scattered, and
// moved back. Negative indices are taken modulo the axis size; the
// indices get no gradient.
func gatherGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	w, idx := n.Input[0], n.Input[1]
	r, q := b.Rank(w), b.Rank(idx)
	if q < 0 {
		return "", fmt.Errorf("Gather with indices of unknown rank")
	}
	axis, err := aNormAxis(GetInt(n, "axis", 0), r)
	if err != nil {
		return "", err
	}
	ind := idx
	if t := b.Type(idx); t != tensor.Int64 && t != tensor.Undefined {
		ind = b.Op("Cast", []string{idx}, AttrInt("to", int64(tensor.Int64)))
	}
	if c, ok := b.ConstInts(idx); !ok || aAnyNegative(c) {
		dim := b.Op("Gather", []string{b.ShapeOf(w), b.Int(axis)})
		ind = b.Op("Where", []string{b.Op("Less", []string{ind, b.Int(0)}), b.Op("Add", []string{ind, dim}), ind})
	}
	ind = b.Op("Unsqueeze", []string{ind, b.Ints(-1)})
	add := AttrString("reduction", "add")
	if axis == 0 {
		return b.Op("ScatterND", []string{b.ZerosLike(w), ind, dy}, add), nil
	}
	permW := []int64{axis}
	for i := range int64(r) {
		if i != axis {
			permW = append(permW, i)
		}
	}
	var permY []int64
	for i := range int64(q) {
		permY = append(permY, axis+i)
	}
	for i := range axis {
		permY = append(permY, i)
	}
	for i := axis + int64(q); i < int64(r+q-1); i++ {
		permY = append(permY, i)
	}
	inv := make([]int64, r)
	for i, p := range permW {
		inv[p] = int64(i)
	}
	zeros := b.Op("ConstantOfShape", []string{b.Op("Gather", []string{b.ShapeOf(w), b.Ints(permW...)})}, &onnxpb.AttributeProto{
		Name: "value", Type: onnxpb.AttributeProto_TENSOR,
		T: &onnxpb.TensorProto{DataType: int32(tensor.Float32), Dims: []int64{1}, FloatData: []float32{0}},
	})
	gy := b.Op("Transpose", []string{dy}, AttrInts("perm", permY...))
	s := b.Op("ScatterND", []string{zeros, ind, gy}, add)
	return b.Op("Transpose", []string{s}, AttrInts("perm", inv...)), nil
}

func aAnyNegative(v []int64) bool {
	for _, x := range v {
		if x < 0 {
			return true
		}
	}
	return false
}

// dropoutGrad: in inference mode (training_mode absent or a constant
// false) Dropout is the identity, dX = dY. In training mode (a constant
// true) dX = dY·mask/(1 − ratio), with the mask output (added to the node
// if it had none) and ratio a constant (default 0.5). The mask output has
// no gradient.
func dropoutGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	input := func(i int) string {
		if len(n.Input) > i {
			return n.Input[i]
		}
		return ""
	}
	training := false
	if tm := input(2); tm != "" {
		v, ok := aConstFloats(b, tm)
		if !ok || len(v) != 1 {
			return "", fmt.Errorf("Dropout with a training_mode that is not a constant")
		}
		training = v[0] != 0
	}
	if !training {
		return dy, nil
	}
	ratio := 0.5
	if rt := input(1); rt != "" {
		v, ok := aConstFloats(b, rt)
		if !ok || len(v) != 1 {
			return "", fmt.Errorf("Dropout in training mode with a ratio that is not a constant")
		}
		ratio = v[0]
	}
	if ratio >= 1 {
		return b.Op("Mul", []string{dy, b.Float(0)}), nil
	}
	mask := b.EnsureOutput(n, 1)
	scaled := b.Op("Mul", []string{dy, b.Float(float32(1 / (1 - ratio)))})
	return b.Op("Where", []string{mask, scaled, b.Float(0)}), nil
}

// aConstFloats reads the values of an initializer of any real type.
func aConstFloats(b *Builder, v string) ([]float64, bool) {
	t := b.Constant(v)
	if t == nil {
		return nil, false
	}
	x, err := tensor.FromProto(t)
	if err != nil {
		return nil, false
	}
	f, err := tensor.AsFloat64(x)
	return f, err == nil
}

// castGrad: a float32 → float32 Cast is the identity, dX = dY. A cast from
// an integer or bool value has no gradient. Other casts between float
// types are not differentiated: the backward graph is float32 only.
func castGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	from := b.Type(n.Input[0])
	to := tensor.DType(GetInt(n, "to", 0))
	switch {
	case from == tensor.Undefined:
		return "", fmt.Errorf("Cast of %q, whose type is unknown", n.Input[0])
	case !from.IsFloat():
		return "", nil
	case from == tensor.Float32 && to == tensor.Float32:
		return dy, nil
	}
	return "", fmt.Errorf("Cast from %s to %s (only float32 to float32 is differentiated)", from, to)
}
