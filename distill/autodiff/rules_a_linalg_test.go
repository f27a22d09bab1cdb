package autodiff

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Unless a test says otherwise, rule tests use defaultCheck: central
// differences with eps 1e-2 on float32 forward runs, an element passing
// when |analytic − numeric| ≤ 2e-3 + 2e-2·max(|analytic|, |numeric|).

// aVals returns the float32 data of a tensor (for initializers).
func aVals(x *tensor.Tensor) []float32 { return tensor.Values[float32](x) }

// aSigned is a tensor of values whose magnitudes are uniform in [lo, hi)
// with random signs: data kept away from a kink at 0.
func aSigned(seed uint64, shape []int64, lo, hi float64) *tensor.Tensor {
	x := randTensor(seed, shape, lo, hi)
	r := rand.New(rand.NewPCG(seed, 3))
	v := aVals(x)
	for i := range v {
		if r.IntN(2) == 0 {
			v[i] = -v[i]
		}
	}
	return x
}

// aSpread is a tensor holding a random permutation of (k − n/2)·step,
// k = 0…n−1: distinct values at least step apart (for Max/Min, where
// near-ties would put a kink inside the finite difference).
func aSpread(seed uint64, shape []int64, step float32) *tensor.Tensor {
	n := int(testmodels.Numel(shape))
	r := rand.New(rand.NewPCG(seed, 4))
	v := make([]float32, n)
	for i, k := range r.Perm(n) {
		v[i] = (float32(k) - float32(n)/2) * step
	}
	return tensor.MustNew(shape, v)
}

// aDims converts a shape to the dims argument of testmodels.Builder.Input.
func aDims(s []int64) []any {
	out := make([]any, len(s))
	for i, d := range s {
		out[i] = d
	}
	return out
}

// TestGemmRule checks A (a graph input), B and C (initializers) through
// every transA/transB combination, alpha/beta other than 1, and C
// broadcast from [], [N], [1,N], [M,1] and [M,N].
func TestGemmRule(t *testing.T) {
	const m, k, n = 3, 4, 5
	for _, c := range []struct {
		ta, tb      int64
		alpha, beta float32
		cshape      []int64
	}{
		{0, 0, 1, 1, []int64{n}},
		{0, 1, 0.7, 1.3, []int64{1, n}},
		{1, 0, 1.5, 0.5, []int64{m, 1}},
		{1, 1, 0.8, 2, []int64{m, n}},
		{0, 0, 1, -1, []int64{}},
		{1, 1, 1, 1, nil}, // no C (printed as C[])
	} {
		t.Run(fmt.Sprintf("tA%d_tB%d_a%g_b%g_C%v", c.ta, c.tb, c.alpha, c.beta, c.cshape), func(t *testing.T) {
			ash, bsh := []int64{m, k}, []int64{k, n}
			if c.ta == 1 {
				ash = []int64{k, m}
			}
			if c.tb == 1 {
				bsh = []int64{n, k}
			}
			b := testmodels.NewBuilder("gemm", 17)
			a := b.Input("a", tensor.Float32, aDims(ash)...)
			w := b.Initializer("w", bsh, aVals(randTensor(2, bsh, 0, 0)))
			in := []string{a, w}
			wrt := []string{"a", "w"}
			if c.cshape != nil {
				in = append(in, b.Initializer("c", c.cshape, aVals(randTensor(3, c.cshape, 0, 0))))
				wrt = append(wrt, "c")
			}
			b.Node("Gemm", in, []string{"y"}, testmodels.AttrInt("transA", c.ta), testmodels.AttrInt("transB", c.tb),
				testmodels.AttrFloat("alpha", c.alpha), testmodels.AttrFloat("beta", c.beta))
			b.Output("y", tensor.Float32, m, n)
			defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"a": randTensor(1, ash, 0, 0)}, wrt...)
		})
	}
}

// TestMatMulRule checks both operands of 2-D, batched and broadcast
// products and of 1-D operands (NumPy semantics).
func TestMatMulRule(t *testing.T) {
	for _, c := range []struct{ a, b []int64 }{
		{[]int64{3, 4}, []int64{4, 5}},
		{[]int64{2, 3, 4, 5}, []int64{5, 6}},       // batched A, matrix B (Gemm path for dB)
		{[]int64{4, 5}, []int64{2, 5, 6}},          // matrix A, batched B
		{[]int64{2, 1, 4, 5}, []int64{3, 5, 6}},    // batch dims broadcast both ways
		{[]int64{2, 3, 4, 5}, []int64{2, 3, 5, 2}}, // same batch
		{[]int64{4}, []int64{4, 5}},
		{[]int64{4}, []int64{2, 4, 5}},
		{[]int64{3, 4}, []int64{4}},
		{[]int64{2, 3, 4}, []int64{4}},
		{[]int64{4}, []int64{4}},
	} {
		t.Run(fmt.Sprintf("%v_x_%v", c.a, c.b), func(t *testing.T) {
			b := testmodels.NewBuilder("matmul", 17)
			a := b.Input("a", tensor.Float32, aDims(c.a)...)
			w := b.Initializer("w", c.b, aVals(randTensor(2, c.b, 0, 0)))
			b.Node("MatMul", []string{a, w}, []string{"y"})
			b.Output("y", tensor.Float32)
			defaultCheck.run(t, b.Model(), map[string]*tensor.Tensor{"a": randTensor(1, c.a, 0, 0)}, "a", "w")
		})
	}
}

// TestMLPGradients checks every weight of a small classifier trained with
// cross-entropy: Gemm → Relu → Gemm → LogSoftmax → Mul by one-hot →
// ReduceSum → Neg, and the gradient of its input.
func TestMLPGradients(t *testing.T) {
	b := testmodels.NewBuilder("mlp", 17)
	x := b.Input("x", tensor.Float32, 4, 5)
	w1 := b.Initializer("w1", []int64{5, 8}, aVals(randTensor(11, []int64{5, 8}, 0, 0)))
	b1 := b.Initializer("b1", []int64{8}, aVals(randTensor(12, []int64{8}, 0, 0)))
	w2 := b.Initializer("w2", []int64{3, 8}, aVals(randTensor(13, []int64{3, 8}, 0, 0)))
	b2 := b.Initializer("b2", []int64{1, 3}, aVals(randTensor(14, []int64{1, 3}, 0, 0)))
	onehot := b.Initializer("onehot", []int64{4, 3}, []float32{1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0})
	h := b.Op("Relu", []string{b.Op("Gemm", []string{x, w1, b1})})
	logits := b.Op("Gemm", []string{h, w2, b2}, testmodels.AttrInt("transB", 1))
	lp := b.Op("LogSoftmax", []string{logits}, testmodels.AttrInt("axis", 1))
	s := b.Op("ReduceSum", []string{b.Op("Mul", []string{lp, onehot})}, testmodels.AttrInt("keepdims", 0))
	b.Node("Neg", []string{s}, []string{"loss"})
	b.Output("loss", tensor.Float32)
	feeds := map[string]*tensor.Tensor{"x": randTensor(15, []int64{4, 5}, 0, 0)}
	defaultCheck.run(t, b.Model(), feeds, "x", "w1", "b1", "w2", "b2")
}
