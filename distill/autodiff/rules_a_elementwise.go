package autodiff

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rules of elementwise arithmetic: Div, Neg, Exp, Log, Sqrt, Pow,
// Reciprocal, Abs, Max, Min and Where, and of the activations Relu,
// LeakyRelu, Sigmoid, Tanh, Erf, Gelu, Softplus, Clip and Elu.

func init() {
	Register("Div", func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		// dA = dY / B, dB = −dY·Y / B.
		return binary(b, n, dY[0], need, func(i int) (string, error) {
			if i == 0 {
				return b.Op("Div", []string{dY[0], n.Input[1]}), nil
			}
			return b.Op("Neg", []string{b.Op("Div", []string{b.Op("Mul", []string{dY[0], n.Output[0]}), n.Input[1]})}), nil
		})
	})
	Register("Pow", powRule)
	Register("Max", aMinMaxRule)
	Register("Min", aMinMaxRule)
	Register("Where", whereRule)

	// dX = −dY
	aUnary("Neg", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Neg", []string{dy}), nil
	})
	// dX = dY·Y
	aUnary("Exp", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Mul", []string{dy, n.Output[0]}), nil
	})
	// dX = dY / X
	aUnary("Log", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Div", []string{dy, n.Input[0]}), nil
	})
	// dX = 0.5·dY / Y
	aUnary("Sqrt", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Div", []string{b.Op("Mul", []string{dy, b.Float(0.5)}), n.Output[0]}), nil
	})
	// dX = −dY·Y²
	aUnary("Reciprocal", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		y := n.Output[0]
		return b.Op("Neg", []string{b.Op("Mul", []string{dy, b.Op("Mul", []string{y, y})})}), nil
	})
	// dX = dY·sign(X)
	aUnary("Abs", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Mul", []string{dy, b.Op("Sign", []string{n.Input[0]})}), nil
	})
	// dX = dY where X > 0, else 0
	aUnary("Relu", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		// Y > 0 exactly where X > 0; reading Y leaves X to the op before
		// (which ONNX Runtime may then fuse with the Relu). dY·[Y > 0] runs
		// about twice as fast in ONNX Runtime as Where(Y > 0, dY, 0).
		pos := b.Op("Greater", []string{n.Output[0], b.Float(0)})
		if b.Type(n.Output[0]) != tensor.Float32 {
			return b.Op("Where", []string{pos, dy, b.Float(0)}), nil
		}
		return b.Op("Mul", []string{dy, b.Op("Cast", []string{pos}, AttrInt("to", int64(tensor.Float32)))}), nil
	})
	// dX = dY where X > 0, else alpha·dY
	aUnary("LeakyRelu", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		alpha := GetFloat(n, "alpha", 0.01)
		pos := b.Op("Greater", []string{n.Input[0], b.Float(0)})
		return b.Op("Where", []string{pos, dy, b.Op("Mul", []string{dy, b.Float(alpha)})}), nil
	})
	// dX = dY where X > 0, else dY·(Y + alpha)
	aUnary("Elu", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		alpha := GetFloat(n, "alpha", 1)
		pos := b.Op("Greater", []string{n.Input[0], b.Float(0)})
		neg := b.Op("Mul", []string{dy, b.Op("Add", []string{n.Output[0], b.Float(alpha)})})
		return b.Op("Where", []string{pos, dy, neg}), nil
	})
	// dX = dY·Y·(1 − Y)
	aUnary("Sigmoid", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		y := n.Output[0]
		return b.Op("Mul", []string{dy, b.Op("Mul", []string{y, b.Op("Sub", []string{b.Float(1), y})})}), nil
	})
	// dX = dY·(1 − Y²)
	aUnary("Tanh", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		y := n.Output[0]
		return b.Op("Mul", []string{dy, b.Op("Sub", []string{b.Float(1), b.Op("Mul", []string{y, y})})}), nil
	})
	// dX = dY·(2/√π)·exp(−X²)
	aUnary("Erf", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		x := n.Input[0]
		e := b.Op("Exp", []string{b.Op("Neg", []string{b.Op("Mul", []string{x, x})})})
		return b.Op("Mul", []string{dy, b.Op("Mul", []string{e, b.Float(float32(2 / math.Sqrt(math.Pi)))})}), nil
	})
	// dX = dY·sigmoid(X)
	aUnary("Softplus", func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
		return b.Op("Mul", []string{dy, b.Op("Sigmoid", []string{n.Input[0]})}), nil
	})
	aUnary("Gelu", geluGrad)
	Register("Clip", clipRule)
}

// aUnary registers the rule of a one-input elementwise op: local returns
// the gradient of input 0 (of X's shape) from dy; other inputs get none.
func aUnary(op string, local func(b *Builder, n *onnxpb.NodeProto, dy string) (string, error)) {
	Register(op, func(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
		out := make([]string, len(n.Input))
		if !need[0] || dY[0] == "" {
			return out, nil
		}
		d, err := local(b, n, dY[0])
		if err != nil {
			return nil, err
		}
		out[0] = d
		return out, nil
	})
}

// powRule differentiates Y = X^E (broadcasting):
//
//	dX = SumTo(dY·E·X^(E−1)), dE = SumTo(dY·Y·ln X)
//
// An integer exponent is cast to float32 for dX and gets no gradient.
func powRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	x, e := n.Input[0], n.Input[1]
	ef := e
	intExp := b.Type(e) != tensor.Undefined && b.Type(e) != tensor.Float32
	if intExp {
		ef = b.Op("Cast", []string{e}, AttrInt("to", int64(tensor.Float32)))
	}
	return binary(b, n, dY[0], []bool{need[0], need[1] && !intExp}, func(i int) (string, error) {
		if i == 0 {
			p := b.Op("Pow", []string{x, b.Op("Sub", []string{ef, b.Float(1)})})
			return b.Op("Mul", []string{dY[0], b.Op("Mul", []string{ef, p})}), nil
		}
		return b.Op("Mul", []string{b.Op("Mul", []string{dY[0], n.Output[0]}), b.Op("Log", []string{x})}), nil
	})
}

// aMinMaxRule differentiates Max and Min of any number of inputs: the
// gradient goes to the first input equal to Y at each element,
//
//	m_i = (X_i = Y) ∧ ¬(m_0 ∨ … ∨ m_{i−1}), dX_i = SumTo(m_i ? dY : 0)
func aMinMaxRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	y := n.Output[0]
	out := make([]string, len(n.Input))
	last := len(n.Input) - 1
	for last >= 0 && !need[last] {
		last--
	}
	taken := ""
	zero := b.Float(0)
	for i, x := range n.Input {
		if i > last {
			break
		}
		m := b.Op("Equal", []string{x, y})
		if taken != "" {
			m = b.Op("And", []string{m, b.Op("Not", []string{taken})})
		}
		if i < last {
			if taken == "" {
				taken = m
			} else {
				taken = b.Op("Or", []string{taken, m})
			}
		}
		if !need[i] {
			continue
		}
		d, err := b.SumTo(b.Op("Where", []string{m, dY[0], zero}), y, x)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// whereRule differentiates Y = Where(C, A, B):
// dA = SumTo(C ? dY : 0), dB = SumTo(C ? 0 : dY); C gets none.
func whereRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	c, y := n.Input[0], n.Output[0]
	out := make([]string, len(n.Input))
	zero := b.Float(0)
	for i := 1; i <= 2; i++ {
		if !need[i] {
			continue
		}
		in := []string{c, dY[0], zero}
		if i == 2 {
			in = []string{c, zero, dY[0]}
		}
		d, err := b.SumTo(b.Op("Where", in), y, n.Input[i])
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// geluGrad differentiates Gelu (opset 20).
//
// approximate="none", Y = ½X(1 + erf(X/√2)):
//
//	dX = dY·(½(1 + erf(X/√2)) + X·exp(−X²/2)/√(2π))
//
// approximate="tanh", Y = ½X(1 + tanh(u)), u = √(2/π)(X + 0.044715X³):
//
//	dX = dY·(½(1 + t) + ½X(1 − t²)·√(2/π)(1 + 3·0.044715X²)), t = tanh(u)
func geluGrad(b *Builder, n *onnxpb.NodeProto, dy string) (string, error) {
	x := n.Input[0]
	mul := func(p, q string) string { return b.Op("Mul", []string{p, q}) }
	add := func(p, q string) string { return b.Op("Add", []string{p, q}) }
	c := func(v float64) string { return b.Float(float32(v)) }
	x2 := mul(x, x)
	var local string
	switch a := GetString(n, "approximate", "none"); a {
	case "none":
		cdf := mul(add(b.Op("Erf", []string{mul(x, c(1/math.Sqrt2))}), c(1)), c(0.5))
		pdf := mul(b.Op("Exp", []string{mul(x2, c(-0.5))}), c(1/math.Sqrt(2*math.Pi)))
		local = add(cdf, mul(x, pdf))
	case "tanh":
		k := math.Sqrt(2 / math.Pi)
		u := mul(add(x, mul(mul(x2, x), c(0.044715))), c(k))
		t := b.Op("Tanh", []string{u})
		left := mul(add(t, c(1)), c(0.5))
		du := add(mul(x2, c(3*0.044715*k)), c(k))
		sech2 := b.Op("Sub", []string{c(1), mul(t, t)})
		local = add(left, mul(mul(mul(x, c(0.5)), sech2), du))
	default:
		return "", fmt.Errorf("Gelu with approximate=%q", a)
	}
	return mul(dy, local), nil
}

// clipRule differentiates Y = Clip(X, min, max) (bounds as optional inputs):
//
//	dX = dY where min ≤ X ≤ max, else 0
//	dmin = Σ dY where X < min, dmax = Σ dY where X > max
func clipRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	x, dy := n.Input[0], dY[0]
	out := make([]string, len(n.Input))
	zero := b.Float(0)
	bound := func(i int) string {
		if len(n.Input) > i {
			return n.Input[i]
		}
		return ""
	}
	lo, hi := bound(1), bound(2)
	if need[0] {
		var inside string
		if lo != "" {
			inside = b.Op("GreaterOrEqual", []string{x, lo})
		}
		if hi != "" {
			le := b.Op("LessOrEqual", []string{x, hi})
			if inside == "" {
				inside = le
			} else {
				inside = b.Op("And", []string{inside, le})
			}
		}
		if inside == "" {
			out[0] = dy
		} else {
			out[0] = b.Op("Where", []string{inside, dy, zero})
		}
	}
	// A bound's gradient sums dY over the elements it clipped; the bounds
	// are scalars.
	for i, cmp := range []string{1: "Less", 2: "Greater"} {
		if i > 0 && i < len(need) && need[i] && n.Input[i] != "" {
			m := b.Op(cmp, []string{x, n.Input[i]})
			out[i] = b.Op("ReduceSum", []string{b.Op("Where", []string{m, dy, zero})}, AttrInt("keepdims", 0))
		}
	}
	return out, nil
}
