package autodiff

import (
	"fmt"
	"math"
	"slices"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rules of the ops that move elements by position: Pad and Resize
// (nearest).

func init() {
	Register("Pad", padRule)
	Register("Resize", resizeRule)
}

// nnIota is the int64 tensor of x's shape holding 0, 1, 2, … in row-major
// order: each element's flat index. An op that only copies elements, run
// on it, tells where each output element came from.
func nnIota(b *Builder, x string) string {
	size := b.Op("Size", []string{x})
	flat := b.Op("Range", []string{b.Int(0), size, b.Int(1)})
	return b.ReshapeLike(flat, x)
}

// nnAllSum is the sum of all elements of v, a scalar.
func nnAllSum(b *Builder, v string) string {
	return b.Op("ReduceSum", []string{v}, AttrInt("keepdims", 0))
}

// padRule differentiates Pad. In constant mode with constant pads (and
// axes), the inverse of padding is cropping: dX = Slice(dY) dropping the
// positive pads, then Pad with zeros where the pads were negative (crops).
// Otherwise (reflect, edge, wrap, or pads computed at run time) the same
// Pad applied to nnIota(X) (with −1 as the constant) gives each output's
// source index and dY is scatter-added there. The constant value's
// gradient is the sum of dY over the padding.
func padRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	needValue := len(n.Input) > 2 && n.Input[2] != "" && need[2]
	if !need[0] && !needValue {
		return out, nil
	}
	if len(n.Input) < 2 || n.Input[1] == "" {
		return nil, fmt.Errorf("Pad without a pads input (opset below 11?)")
	}
	x, dy := n.Input[0], dY[0]
	r := b.Rank(x)
	if r < 0 {
		return nil, fmt.Errorf("Pad needs the rank of %q", x)
	}
	mode := GetString(n, "mode", "constant")
	pads, constPads := b.ConstInts(n.Input[1])
	var axes []int64
	constAxes := true
	if len(n.Input) > 3 && n.Input[3] != "" {
		axes, constAxes = b.ConstInts(n.Input[3])
	} else {
		axes = nnRange(0, r)
	}
	if mode == "constant" && constPads && constAxes {
		if len(pads) != 2*len(axes) {
			return nil, fmt.Errorf("Pad has %d pads for %d axes", len(pads), len(axes))
		}
		begin, end := make([]int64, r), make([]int64, r)
		for i, a := range axes {
			a, err := nnAxis(a, r)
			if err != nil {
				return nil, fmt.Errorf("Pad: %w", err)
			}
			begin[a], end[a] = pads[i], pads[len(axes)+i]
		}
		var starts, ends, sliceAxes, crops []int64
		cropped := false
		for a := range r {
			if begin[a] > 0 || end[a] > 0 {
				sliceAxes = append(sliceAxes, int64(a))
				starts = append(starts, max(begin[a], 0))
				if end[a] > 0 {
					ends = append(ends, -end[a])
				} else {
					ends = append(ends, math.MaxInt64)
				}
			}
			cropped = cropped || begin[a] < 0 || end[a] < 0
		}
		for _, p := range [][]int64{begin, end} {
			for _, v := range p {
				crops = append(crops, max(-v, 0))
			}
		}
		inner := dy
		if len(sliceAxes) > 0 {
			inner = b.Op("Slice", []string{dy, b.Ints(starts...), b.Ints(ends...), b.Ints(sliceAxes...)})
		}
		if need[0] {
			out[0] = inner
			if cropped {
				out[0] = b.Op("Pad", []string{inner, b.Ints(crops...)})
			}
		}
		if needValue {
			out[2] = b.ReshapeLike(b.Op("Sub", []string{nnAllSum(b, dy), nnAllSum(b, inner)}), n.Input[2])
		}
		return out, nil
	}
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("Pad with mode %q", mode)
	}
	in := []string{nnIota(b, x), n.Input[1], ""}
	if mode == "constant" {
		in[2] = b.Int(-1)
	}
	if len(n.Input) > 3 && n.Input[3] != "" {
		in = append(in, n.Input[3])
	}
	for in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	idx := b.Op("Pad", in, AttrString("mode", mode))
	if mode != "constant" { // the constant value is unused: no gradient
		if need[0] {
			out[0] = nnScatterAdd(b, x, idx, dy)
		}
		return out, nil
	}
	valid := b.Op("GreaterOrEqual", []string{idx, b.Int(0)})
	zero := b.Float(0)
	if need[0] {
		upd := b.Op("Where", []string{valid, dy, zero})
		out[0] = nnScatterAdd(b, x, b.Op("Where", []string{valid, idx, b.Int(0)}), upd)
	}
	if needValue {
		out[2] = b.ReshapeLike(nnAllSum(b, b.Op("Where", []string{valid, zero, dy})), n.Input[2])
	}
	return out, nil
}

// resizeRule differentiates Resize in nearest mode, where every output
// element copies one input element: the same Resize (roi, scales or sizes
// and every attribute) applied to nnIota(X) gives each output's source
// index, and dY is scatter-added there (inputs read by several outputs,
// as in upsampling, accumulate). roi, scales and sizes get no gradient.
// Linear and cubic modes are not supported.
func resizeRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	if !need[0] {
		return out, nil
	}
	if mode := GetString(n, "mode", "nearest"); mode != "nearest" {
		return nil, fmt.Errorf("Resize with mode %q (only \"nearest\")", mode)
	}
	x := n.Input[0]
	iota := b.Op("Cast", []string{nnIota(b, x)}, AttrInt("to", int64(tensor.Int32)))
	in := append([]string{iota}, n.Input[1:]...)
	idx := b.Op("Resize", in, slices.Clone(n.GetAttribute())...)
	out[0] = nnScatterAdd(b, x, b.Op("Cast", []string{idx}, AttrInt("to", int64(tensor.Int64))), dY[0])
	return out, nil
}
