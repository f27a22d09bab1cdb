package autodiff

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// The rules the loss itself needs: Add, Sub, Mul, Sum, ReduceSum and
// Identity.

func init() {
	Register("Identity", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		return []string{dY[0]}, nil
	})
	Register("Add", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		return binary(b, n, dY[0], need, func(i int) (string, error) { return dY[0], nil })
	})
	Register("Sub", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		return binary(b, n, dY[0], need, func(i int) (string, error) {
			if i == 0 {
				return dY[0], nil
			}
			return b.Op("Neg", []string{dY[0]}), nil
		})
	})
	Register("Mul", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		return binary(b, n, dY[0], need, func(i int) (string, error) {
			return b.Op("Mul", []string{dY[0], n.Input[1-i]}), nil
		})
	})
	Register("Sum", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		out := make([]string, len(n.Input))
		for i, in := range n.Input {
			if !need[i] {
				continue
			}
			d, err := b.SumTo(dY[0], n.Output[0], in)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	})
	Register("ReduceSum", reduceSumRule)
}

// binary applies the broadcasting rule of a two-input elementwise op:
// local(i) is the gradient with respect to input i at the output's shape,
// reduced back to the input's shape.
func binary(b *Builder, n *onnxpb.NodeProto, dy string, need []bool, local func(i int) (string, error)) ([]string, error) {
	out := make([]string, len(n.Input))
	for i := range n.Input {
		if i >= 2 || !need[i] {
			continue
		}
		d, err := local(i)
		if err != nil {
			return nil, err
		}
		if out[i], err = b.SumTo(d, n.Output[0], n.Input[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// reduceSumRule broadcasts the gradient back over the reduced axes:
// dX = Expand(Reshape(dY, kept-dims shape), Shape(X)).
func reduceSumRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	if !need[0] {
		return make([]string, len(n.Input)), nil
	}
	x := n.Input[0]
	rank := b.Rank(x)
	if rank < 0 {
		return nil, fmt.Errorf("the rank of %q is unknown", x)
	}
	var axes []int64
	if len(n.Input) > 1 && n.Input[1] != "" {
		a, ok := b.ConstInts(n.Input[1])
		if !ok {
			return nil, fmt.Errorf("its axes are not a constant")
		}
		axes = a
	} else if a := GetInts(n, "axes"); a != nil {
		axes = a
	}
	if len(axes) == 0 && GetInt(n, "noop_with_empty_axes", 0) == 1 {
		return append([]string{dY[0]}, make([]string, len(n.Input)-1)...), nil
	}
	reduced := make([]bool, rank)
	if len(axes) == 0 {
		for i := range reduced {
			reduced[i] = true
		}
	}
	for _, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		if a < 0 || a >= int64(rank) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", a, rank)
		}
		reduced[a] = true
	}
	g := dY[0]
	if GetInt(n, "keepdims", 1) == 0 {
		var ax []int64
		for i, r := range reduced {
			if r {
				ax = append(ax, int64(i))
			}
		}
		g = b.Op("Unsqueeze", []string{g, b.Ints(ax...)})
	}
	out := make([]string, len(n.Input))
	out[0] = b.Op("Expand", []string{g, b.ShapeOf(x)})
	return out, nil
}
