package autodiff

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rules of the reductions other than ReduceSum: ReduceMean,
// ReduceMax, ReduceMin, ReduceSumSquare, ReduceLogSumExp, ReduceL1 and
// ReduceL2. Axes come from the attribute (opset ≤ 17) or from a constant
// input (opset ≥ 18); keepdims and noop_with_empty_axes are honoured.
// Below, dYk and Yk are dY and Y with the reduced axes kept (size 1), so
// they broadcast against X.

func init() {
	// dX = dYk / count, count = the number of elements reduced into each
	// output: from static shapes, or Size(X)/Size(Y) at run time.
	aReduce("ReduceMean", func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		g := b.Op("Expand", []string{dyk, b.ShapeOf(n.Input[0])})
		xs, _ := b.Shape(n.Input[0])
		count := int64(1)
		for i, red := range r.reduced {
			if red {
				if xs[i] < 0 {
					count = -1
					break
				}
				count *= xs[i]
			}
		}
		if count > 0 {
			return b.Op("Mul", []string{g, b.Float(float32(1 / float64(count)))})
		}
		c := b.Op("Div", []string{b.Op("Size", []string{n.Input[0]}), b.Op("Size", []string{n.Output[0]})})
		return b.Op("Div", []string{g, b.Op("Cast", []string{c}, AttrInt("to", int64(tensor.Float32)))})
	})
	// dX = dYk ⊙ m / Σ_axes m, m = (X = Yk): ties share the gradient.
	maxMin := func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		m := b.Op("Cast", []string{b.Op("Equal", []string{n.Input[0], yk()})}, AttrInt("to", int64(tensor.Float32)))
		return b.Op("Div", []string{b.Op("Mul", []string{m, dyk}), b.ReduceSum(m, r.axes(), true)})
	}
	aReduce("ReduceMax", maxMin)
	aReduce("ReduceMin", maxMin)
	// dX = 2·X ⊙ dYk
	aReduce("ReduceSumSquare", func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		return b.Op("Mul", []string{b.Op("Mul", []string{n.Input[0], b.Float(2)}), dyk})
	})
	// dX = dYk ⊙ exp(X − Yk)
	aReduce("ReduceLogSumExp", func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		return b.Op("Mul", []string{dyk, b.Op("Exp", []string{b.Op("Sub", []string{n.Input[0], yk()})})})
	})
	// dX = dYk ⊙ sign(X)
	aReduce("ReduceL1", func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		return b.Op("Mul", []string{dyk, b.Op("Sign", []string{n.Input[0]})})
	})
	// dX = dYk ⊙ X / Yk
	aReduce("ReduceL2", func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string {
		return b.Op("Div", []string{b.Op("Mul", []string{dyk, n.Input[0]}), yk()})
	})
}

// aReduction is a Reduce* node's reduced axes.
type aReduction struct {
	reduced []bool // per axis of X
}

// axes lists the reduced axes.
func (r aReduction) axes() []int64 {
	var ax []int64
	for i, red := range r.reduced {
		if red {
			ax = append(ax, int64(i))
		}
	}
	return ax
}

// aReduceAxes reads the reduced axes of a Reduce* node.
func aReduceAxes(b *Builder, n *onnxpb.NodeProto) (aReduction, error) {
	rank := b.Rank(n.Input[0])
	if rank < 0 {
		return aReduction{}, fmt.Errorf("the rank of %q is unknown", n.Input[0])
	}
	axes := GetInts(n, "axes")
	if len(n.Input) > 1 && n.Input[1] != "" {
		a, ok := b.ConstInts(n.Input[1])
		if !ok {
			return aReduction{}, fmt.Errorf("%s with axes that are not a constant", n.GetOpType())
		}
		axes = a
	}
	r := aReduction{reduced: make([]bool, rank)}
	if len(axes) == 0 {
		if GetInt(n, "noop_with_empty_axes", 0) == 0 {
			for i := range r.reduced {
				r.reduced[i] = true
			}
		}
		return r, nil
	}
	for _, a := range axes {
		a, err := aNormAxis(a, rank)
		if err != nil {
			return aReduction{}, err
		}
		r.reduced[a] = true
	}
	return r, nil
}

// aReduce registers the rule of a Reduce* op: local gets dYk and Yk and
// returns dX of X's shape; yk adds the nodes of Yk when called.
func aReduce(op string, local func(b *Builder, n *onnxpb.NodeProto, r aReduction, dyk string, yk func() string) string) {
	aUnary(op, func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		r, err := aReduceAxes(b, n)
		if err != nil {
			return "", err
		}
		dyk, yk := dy, func() string { return n.Output[0] }
		if ax := r.axes(); GetInt(n, "keepdims", 1) == 0 && len(ax) > 0 {
			dyk = b.Op("Unsqueeze", []string{dy, b.Ints(ax...)})
			yk = func() string { return b.Op("Unsqueeze", []string{n.Output[0], b.Ints(ax...)}) }
		}
		return local(b, n, r, dyk, yk), nil
	})
}
