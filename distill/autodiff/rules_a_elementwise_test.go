package autodiff

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestDivRule checks both inputs of Div with a broadcast divisor [3,1]
// (kept in [0.5, 2), away from 0) and a broadcast dividend [4].
func TestDivRule(t *testing.T) {
	b := testmodels.NewBuilder("div", 17)
	x := b.Input("x", tensor.Float32, 2, 3, 4)
	d := b.Initializer("d", []int64{3, 1}, aVals(aSigned(2, []int64{3, 1}, 0.5, 2)))
	c := b.Initializer("c", []int64{4}, aVals(randTensor(3, []int64{4}, 0, 0)))
	b.Node("Div", []string{x, d}, []string{"y"})
	b.Output("y", tensor.Float32)
	b.Node("Div", []string{c, b.Op("Add", []string{d, b.Initializer("two", nil, []float32{2})})}, []string{"z"})
	b.Output("z", tensor.Float32)
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3, 4}, 0, 0)}
	defaultCheck.run(t, b.Model(), feeds, "x", "d", "c")
}

// TestUnaryRules checks each one-input op as op(X ⊙ W), for the data input
// X [2,3,4] and a weight W [3,4] in [0.8, 1.2), with data ranges that keep
// the op smooth within ±eps (away from kinks at 0, inside the domain of Log
// and Sqrt).
func TestUnaryRules(t *testing.T) {
	type data struct {
		lo, hi float64
		signed bool // random signs, magnitudes in [lo, hi)
	}
	normal := data{}
	for _, c := range []struct {
		op    string
		opset int64
		x     data
		attrs []*onnxpb.AttributeProto
	}{
		{"Neg", 17, normal, nil},
		{"Exp", 17, data{-1.5, 1.5, false}, nil},
		{"Log", 17, data{0.3, 3, false}, nil},
		{"Sqrt", 17, data{0.3, 3, false}, nil},
		{"Reciprocal", 17, data{0.5, 2, true}, nil},
		{"Abs", 17, data{0.1, 2, true}, nil},
		{"Relu", 17, data{0.1, 2, true}, nil},
		{"LeakyRelu", 17, data{0.1, 2, true}, []*onnxpb.AttributeProto{testmodels.AttrFloat("alpha", 0.2)}},
		{"LeakyRelu", 17, data{0.1, 2, true}, nil}, // alpha 0.01
		{"Elu", 17, data{0.1, 2, true}, []*onnxpb.AttributeProto{testmodels.AttrFloat("alpha", 0.7)}},
		{"Sigmoid", 17, normal, nil},
		{"Tanh", 17, normal, nil},
		{"Erf", 17, normal, nil},
		{"Softplus", 17, normal, nil},
		{"Gelu", 20, data{-3, 3, false}, nil},
		{"Gelu", 20, data{-3, 3, false}, []*onnxpb.AttributeProto{testmodels.AttrString("approximate", "tanh")}},
		{"Softmax", 17, normal, nil},
		{"LogSoftmax", 17, normal, nil},
		{"Identity", 17, normal, nil},
		{"Dropout", 17, normal, nil},
	} {
		name := c.op
		if len(c.attrs) > 0 {
			name += "_" + c.attrs[0].Name
		}
		t.Run(name, func(t *testing.T) {
			b := testmodels.NewBuilder(c.op, c.opset)
			x := b.Input("x", tensor.Float32, 2, 3, 4)
			w := b.Initializer("w", []int64{3, 4}, aVals(randTensor(2, []int64{3, 4}, 0.8, 1.2)))
			b.Node(c.op, []string{b.Op("Mul", []string{x, w})}, []string{"y"}, c.attrs...)
			b.Output("y", tensor.Float32)
			var xt *tensor.Tensor
			switch {
			case c.x == normal:
				xt = randTensor(1, []int64{2, 3, 4}, 0, 0)
			case c.x.signed:
				xt = aSigned(1, []int64{2, 3, 4}, c.x.lo, c.x.hi)
			default:
				xt = randTensor(1, []int64{2, 3, 4}, c.x.lo, c.x.hi)
			}
			defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": xt}, "x", "w")
		})
	}
}

// TestPowRule checks base and exponent of Pow with a broadcast float
// exponent, and the base with an int64 exponent (which gets no gradient).
func TestPowRule(t *testing.T) {
	b := testmodels.NewBuilder("pow", 17)
	x := b.Input("x", tensor.Float32, 2, 3)
	e := b.Initializer("e", []int64{3}, []float32{2, 0.5, -1.5})
	b.Node("Pow", []string{x, e}, []string{"y"})
	b.Output("y", tensor.Float32)
	b.Node("Pow", []string{x, b.InitializerInt64("three", nil, []int64{3})}, []string{"z"})
	b.Output("z", tensor.Float32)
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3}, 0.5, 2)}
	defaultCheck.run(t, b.Model(), feeds, "x", "e")
}

// TestMaxMinRules checks Max and Min of two inputs (one broadcast) and of
// three, on data whose elements are at least 0.1 apart, so no tie lies
// within ±eps, and Max(P, P) = P, whose exact tie must pass dY once.
func TestMaxMinRules(t *testing.T) {
	for _, op := range []string{"Max", "Min"} {
		t.Run(op, func(t *testing.T) {
			all := aVals(aSpread(1, []int64{33}, 0.1))
			b := testmodels.NewBuilder(op, 17)
			x := b.Input("x", tensor.Float32, 2, 3, 4)
			w := b.Initializer("w", []int64{3, 1}, all[24:27])
			v := b.Initializer("v", []int64{2, 3, 1}, all[27:33])
			b.Node(op, []string{x, w}, []string{"y"})
			b.Output("y", tensor.Float32)
			b.Node(op, []string{w, x, v}, []string{"z"})
			b.Output("z", tensor.Float32)
			p := b.Op("Mul", []string{x, w})
			b.Node(op, []string{p, p}, []string{"tie"})
			b.Output("tie", tensor.Float32)
			feeds := map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{2, 3, 4}, all[:24])}
			defaultCheck.run(t, b.Model(), feeds, "x", "w", "v")
		})
	}
}

// TestWhereRule checks both value inputs of Where, one broadcast.
func TestWhereRule(t *testing.T) {
	b := testmodels.NewBuilder("where", 17)
	x := b.Input("x", tensor.Float32, 2, 3)
	w := b.Initializer("w", []int64{3}, []float32{0.5, -1, 2})
	cond := b.AddTensor(&onnxpb.TensorProto{Name: "cond", DataType: int32(tensor.Bool), Dims: []int64{2, 3}, Int32Data: []int32{1, 0, 1, 0, 0, 1}})
	b.Node("Where", []string{cond, x, w}, []string{"y"})
	b.Output("y", tensor.Float32)
	defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3}, 0, 0)}, "x", "w")
}

// TestClipRule checks Clip's input and its min/max (scalar initializers)
// on data at least 0.05 from both bounds, and Clip with only a max.
func TestClipRule(t *testing.T) {
	b := testmodels.NewBuilder("clip", 17)
	x := b.Input("x", tensor.Float32, 2, 5)
	lo := b.Initializer("lo", nil, []float32{-0.5})
	hi := b.Initializer("hi", nil, []float32{0.8})
	b.Node("Clip", []string{x, lo, hi}, []string{"y"})
	b.Output("y", tensor.Float32)
	b.Node("Clip", []string{x, "", hi}, []string{"z"})
	b.Output("z", tensor.Float32)
	xs := tensor.MustNew([]int64{2, 5}, []float32{-1.5, -0.7, -0.3, 0.1, 0.5, 0.7, 0.9, 1.4, -0.45, 0.2})
	defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": xs}, "x", "lo", "hi")
}
