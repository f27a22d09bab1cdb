package autodiff

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Gradient rules of the matrix products: Gemm and MatMul.
//
// Unexported helpers of the rules_a_*.go files start with "a" so that they
// stay clear of the names of other rule files in this package.

func init() {
	Register("Gemm", gemmRule)
	Register("MatMul", matMulRule)
}

// gemmRule differentiates Y = alpha·A'·B' + beta·C, where A' = A or Aᵀ
// (transA) and B' = B or Bᵀ (transB):
//
//	dA' = alpha·dY·B'ᵀ, dA = dA' or dA'ᵀ
//	dB' = alpha·A'ᵀ·dY, dB = dB' or dB'ᵀ
//	dC  = SumTo(beta·dY, shape of C)
//
// each product written as one Gemm with the right transpose flags.
func gemmRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	a, w := n.Input[0], n.Input[1]
	alpha := GetFloat(n, "alpha", 1)
	beta := GetFloat(n, "beta", 1)
	ta, tb := GetInt(n, "transA", 0), GetInt(n, "transB", 0)
	dy := dY[0]
	out := make([]string, len(n.Input))
	gemm := func(x, y string, tx, ty int64) string {
		attrs := []*onnxpb.AttributeProto{AttrInt("transA", tx), AttrInt("transB", ty)}
		if alpha != 1 {
			attrs = append(attrs, AttrFloat("alpha", alpha))
		}
		return b.Op("Gemm", []string{x, y}, attrs...)
	}
	if need[0] {
		if ta == 0 { // dA = dY·B'ᵀ
			out[0] = gemm(dy, w, 0, 1-tb)
		} else { // dA = B'·dYᵀ
			out[0] = gemm(w, dy, tb, 1)
		}
	}
	if need[1] {
		if tb == 0 { // dB = A'ᵀ·dY
			out[1] = gemm(a, dy, 1-ta, 0)
		} else { // dB = dYᵀ·A'
			out[1] = gemm(dy, a, 1, ta)
		}
	}
	if len(n.Input) > 2 && n.Input[2] != "" && need[2] {
		g := dy
		if beta != 1 {
			g = b.Op("Mul", []string{dy, b.Float(beta)})
		}
		d, err := b.SumTo(g, n.Output[0], n.Input[2])
		if err != nil {
			return nil, err
		}
		out[2] = d
	}
	return out, nil
}

// matMulRule differentiates Y = A·B with NumPy semantics.
//
// Both operands of rank ≥ 2 (leading dimensions broadcast):
//
//	dA = SumTo(dY·Bᵀ, shape of A), dB = SumTo(Aᵀ·dY, shape of B)
//
// (ᵀ swaps the last two axes). When B is a matrix and A is batched, dB is
// one Gemm of A and dY flattened to matrices. A 1-D operand is a vector
// whose axis is dropped from the result, so its products are written
// elementwise with an Unsqueezed dY:
//
//	A [K], B [...,K,N]: dA = Σ_{all but K} B⊙dY[...,1,N], dB = A[K,1]⊙dY[...,1,N]
//	A [...,M,K], B [K]: dA = dY[...,M,1]⊙B, dB = Σ_{all but K} A⊙dY[...,M,1]
//	A [K], B [K]:       dA = dY·B, dB = dY·A
func matMulRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	a, w, y := n.Input[0], n.Input[1], n.Output[0]
	ra, rb := b.Rank(a), b.Rank(w)
	if ra < 1 || rb < 1 {
		return nil, fmt.Errorf("MatMul with an operand of unknown rank (%q or %q)", a, w)
	}
	dy := dY[0]
	out := make([]string, len(n.Input))
	// allBut lists the axes of a rank-r value except axis keep.
	allBut := func(r, keep int) []int64 {
		var ax []int64
		for i := 0; i < r; i++ {
			if i != keep {
				ax = append(ax, int64(i))
			}
		}
		return ax
	}
	switch {
	case ra == 1 && rb == 1:
		if need[0] {
			out[0] = b.Op("Mul", []string{dy, w})
		}
		if need[1] {
			out[1] = b.Op("Mul", []string{dy, a})
		}
		return out, nil
	case ra == 1:
		dy2 := b.Op("Unsqueeze", []string{dy, b.Ints(-2)}) // [...,1,N]
		if need[0] {
			out[0] = b.ReduceSum(b.Op("Mul", []string{w, dy2}), allBut(rb, rb-2), false)
		}
		if need[1] {
			out[1] = b.Op("Mul", []string{b.Op("Unsqueeze", []string{a, b.Ints(-1)}), dy2})
		}
		return out, nil
	case rb == 1:
		dy2 := b.Op("Unsqueeze", []string{dy, b.Ints(-1)}) // [...,M,1]
		if need[0] {
			out[0] = b.Op("Mul", []string{dy2, w})
		}
		if need[1] {
			out[1] = b.ReduceSum(b.Op("Mul", []string{a, dy2}), allBut(ra, ra-1), false)
		}
		return out, nil
	}
	// The batch dimensions of Y: its static shape, or unknown sizes.
	ry := max(ra, rb)
	batch := make([]int64, ry-2)
	for i := range batch {
		batch[i] = -1
	}
	if ys, ok := b.Shape(y); ok && len(ys) == ry {
		copy(batch, ys[:ry-2])
	}
	swap := func(x string, r int) string {
		perm := make([]int64, r)
		for i := range perm {
			perm[i] = int64(i)
		}
		perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
		return b.Op("Transpose", []string{x}, AttrInts("perm", perm...))
	}
	// sumTo reduces g (batch + the last two dims of like) to like's shape.
	sumTo := func(g, like string) (string, error) {
		ls, _ := b.Shape(like)
		s := append(append([]int64{}, batch...), ls[len(ls)-2:]...)
		b.SetShape(g, s)
		return b.SumTo(g, g, like)
	}
	var err error
	if need[0] {
		if out[0], err = sumTo(b.Op("MatMul", []string{dy, swap(w, rb)}), a); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if rb == 2 && ra > 2 {
			// Σ over the batch of Aᵀ·dY = (A as [B·M,K])ᵀ · (dY as [B·M,N]).
			fa := b.Op("Flatten", []string{a}, AttrInt("axis", int64(ra-1)))
			fy := b.Op("Flatten", []string{dy}, AttrInt("axis", int64(ry-1)))
			out[1] = b.Op("Gemm", []string{fa, fy}, AttrInt("transA", 1))
		} else if out[1], err = sumTo(b.Op("MatMul", []string{swap(a, ra), dy}), w); err != nil {
			return nil, err
		}
	}
	return out, nil
}
