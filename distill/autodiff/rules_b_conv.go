package autodiff

import (
	"fmt"
	"math"
	"slices"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Gradient rule of Conv, and the sliding-window geometry it shares with the
// pooling rules (rules_b_pool.go).

func init() {
	Register("Conv", convRule)
}

// nnWindow is the static geometry of a sliding-window op over r spatial
// axes: input sizes in, kernel k, strides s, dilations d, explicit pads
// (begin pb, end pe, auto_pad already translated) and output sizes out =
// ⌊(in + pb + pe − ek)/s⌋ + 1 with the effective kernel ek = (k−1)·d + 1.
type nnWindow struct {
	in, k, s, d, pb, pe, out []int64
}

// nnGeometry reads the strides, dilations, pads and auto_pad of n, a
// sliding-window op over spatial sizes in with kernel k (ceil_mode 0).
// auto_pad SAME_UPPER/SAME_LOWER become the explicit pads ONNX defines
// (out = ⌈in/s⌉, total pad max(0, (out−1)·s + ek − in), the odd one at the
// end for SAME_UPPER, at the beginning for SAME_LOWER); VALID is no pads.
func nnGeometry(n *onnxpb.NodeProto, in, k []int64) (nnWindow, error) {
	r := len(in)
	w := nnWindow{in: in, k: k}
	ones := func(name string) ([]int64, error) {
		v := GetInts(n, name)
		if v == nil {
			v = make([]int64, r)
			for i := range v {
				v[i] = 1
			}
		}
		if len(v) != r {
			return nil, fmt.Errorf("%s has %d values for %d spatial axes", name, len(v), r)
		}
		for _, x := range v {
			if x < 1 {
				return nil, fmt.Errorf("%s %v are not positive", name, v)
			}
		}
		return v, nil
	}
	var err error
	if w.s, err = ones("strides"); err != nil {
		return w, err
	}
	if w.d, err = ones("dilations"); err != nil {
		return w, err
	}
	if len(k) != r {
		return w, fmt.Errorf("kernel_shape %v for %d spatial axes", k, r)
	}
	w.pb, w.pe = make([]int64, r), make([]int64, r)
	switch ap := GetString(n, "auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := GetInts(n, "pads"); p != nil {
			if len(p) != 2*r {
				return w, fmt.Errorf("pads %v for %d spatial axes", p, r)
			}
			copy(w.pb, p[:r])
			copy(w.pe, p[r:])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := range r {
			out := (in[i] + w.s[i] - 1) / w.s[i]
			total := max(0, (out-1)*w.s[i]+w.ek(i)-in[i])
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				w.pb[i], w.pe[i] = small, big
			} else {
				w.pb[i], w.pe[i] = big, small
			}
		}
	default:
		return w, fmt.Errorf("auto_pad %q is not an ONNX value", ap)
	}
	w.out = make([]int64, r)
	for i := range r {
		if w.pb[i] < 0 || w.pe[i] < 0 {
			return w, fmt.Errorf("negative pads %v %v", w.pb, w.pe)
		}
		span := in[i] + w.pb[i] + w.pe[i] - w.ek(i)
		if span < 0 {
			return w, fmt.Errorf("the kernel %v (dilations %v) is larger than the padded input %v", k, w.d, in)
		}
		w.out[i] = span/w.s[i] + 1
	}
	return w, nil
}

// ek is the effective (dilated) kernel size on spatial axis i.
func (w nnWindow) ek(i int) int64 { return (w.k[i]-1)*w.d[i] + 1 }

// rem is, per axis, how many trailing input positions (padding included)
// no window reaches: (in + pb + pe − ek) mod s. A ConvTranspose with the
// same strides and pads yields in − rem positions; output_padding = rem
// restores in exactly (and is always below the stride, as ONNX requires).
func (w nnWindow) rem() []int64 {
	r := make([]int64, len(w.in))
	for i := range r {
		r[i] = (w.in[i] + w.pb[i] + w.pe[i] - w.ek(i)) % w.s[i]
	}
	return r
}

// pads is the ONNX pads attribute value [begins…, ends…].
func (w nnWindow) pads() []int64 { return append(slices.Clone(w.pb), w.pe...) }

// nnConvTranspose is the adjoint of a Conv with geometry w and group g,
// applied to dy: ConvTranspose(dy, wt) with the same strides, pads,
// dilations and group, and output_padding = rem, so that its output has
// exactly the spatial sizes w.in. wt is the Conv's weight [M, C/g, k…].
func nnConvTranspose(b *Builder, dy, wt string, w nnWindow, g int64) string {
	attrs := []*onnxpb.AttributeProto{
		AttrInts("kernel_shape", w.k...),
		AttrInts("strides", w.s...),
		AttrInts("pads", w.pads()...),
		AttrInts("dilations", w.d...),
		AttrInt("group", g),
	}
	if rem := w.rem(); slices.ContainsFunc(rem, func(x int64) bool { return x != 0 }) {
		attrs = append(attrs, AttrInts("output_padding", rem...))
	}
	return b.Op("ConvTranspose", []string{dy, wt}, attrs...)
}

// nnStatic returns v's static shape, which must have rank at least
// minRank and known sizes on every axis from `from` on.
func nnStatic(b *Builder, op, v string, minRank, from int) ([]int64, error) {
	s, ok := b.Shape(v)
	if !ok {
		return nil, fmt.Errorf("%s needs the static shape of %q, which is unknown", op, v)
	}
	if len(s) < minRank {
		return nil, fmt.Errorf("%s input %q has rank %d, below %d", op, v, len(s), minRank)
	}
	for i := from; i < len(s); i++ {
		if s[i] < 0 {
			return nil, fmt.Errorf("%s needs static sizes of %q from axis %d on, and its shape is %v", op, v, from, s)
		}
	}
	return s, nil
}

// nnRange is [from, from+1, …, to−1].
func nnRange(from, to int) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, int64(i))
	}
	return out
}

// nnSwap01 is the permutation exchanging axes 0 and 1 of a rank-r value.
func nnSwap01(r int) []int64 {
	p := nnRange(0, r)
	p[0], p[1] = 1, 0
	return p
}

// convRule differentiates Y = Conv(X, W, B) with X [N, C, in…], W [M, C/G,
// k…], Y [N, M, out…], for any number of spatial axes and any group G:
//
//	dX = ConvTranspose(dY, W) with Conv's strides, pads, dilations and
//	     group, and output_padding = (in + pads − ek) mod s so that dX has
//	     X's size even when the stride leaves trailing rows unused;
//	dW[m, c, κ] = Σ_n Σ_o dY[n, m, o]·Xpad[n, g(m)·C/G + c, o·s + κ·d]: a
//	     Conv whose batch is the channel within the group, whose channels
//	     are (group, n) pairs and whose kernel is dY: X → [N, G, C/G, in…]
//	     → Transpose [C/G, G, N, in…] → Reshape [C/G, G·N, in…]; kernel
//	     Transpose(dY) = [M, N, out…]; group G, strides = Conv's dilations,
//	     dilations = Conv's strides, same pads; the result [C/G, M, k'…]
//	     is transposed to [M, C/G, k'…] and sliced to k (k' ≥ k);
//	dB = Σ_{n, o} dY.
//
// Group 1 and depthwise convolutions (G = C, any channel multiplier) are
// the usual cases; the same formula covers any G. For float32 group-1
// convolutions dW is computed instead as im2col + GEMM
// (nnConvWeightGradIm2col), which ONNX Runtime runs several times faster
// than the Conv above (whose M×k output makes a skinny GEMM).
func convRule(b *Builder, n *onnxpb.NodeProto, dY []string, need []bool) ([]string, error) {
	out := make([]string, len(n.Input))
	dy := dY[0]
	x, wt := n.Input[0], n.Input[1]
	xs, err := nnStatic(b, "Conv", x, 3, 1)
	if err != nil {
		return nil, err
	}
	ws, err := nnStatic(b, "Conv", wt, 3, 0)
	if err != nil {
		return nil, err
	}
	r := len(xs)
	if len(ws) != r {
		return nil, fmt.Errorf("Conv weight %q has rank %d, the input %d", wt, len(ws), r)
	}
	g := GetInt(n, "group", 1)
	c, m, cg := xs[1], ws[0], ws[1]
	if g < 1 || c != cg*g || m%g != 0 {
		return nil, fmt.Errorf("Conv with group %d: input channels %d, weight %v do not match", g, c, ws)
	}
	k := ws[2:]
	if ks := GetInts(n, "kernel_shape"); ks != nil && !slices.Equal(ks, k) {
		return nil, fmt.Errorf("Conv kernel_shape %v differs from the weight's %v", ks, k)
	}
	w, err := nnGeometry(n, xs[2:], k)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	if need[0] {
		if dx, ok := nnConvAdjointStride1(b, dy, wt, w, g); ok {
			out[0] = dx
		} else {
			out[0] = nnConvTranspose(b, dy, wt, w, g)
		}
	}
	if need[1] && g == 1 && b.Type(x) == tensor.Float32 {
		out[1] = nnConvWeightGradIm2col(b, x, dy, w, m, c)
	} else if need[1] {
		var in string
		if g == 1 {
			in = b.Op("Transpose", []string{x}, AttrInts("perm", nnSwap01(r)...))
		} else {
			split := append([]int64{0, g, cg}, xs[2:]...)
			in = b.Op("Reshape", []string{x, b.Ints(split...)})
			perm := append([]int64{2, 1, 0}, nnRange(3, r+1)...)
			in = b.Op("Transpose", []string{in}, AttrInts("perm", perm...))
			in = b.Op("Reshape", []string{in, b.Ints(append([]int64{cg, -1}, xs[2:]...)...)})
		}
		kern := b.Op("Transpose", []string{dy}, AttrInts("perm", nnSwap01(r)...))
		// The end pads shrink by rem where they can (the positions no
		// window reached), so that k' = k in the usual case.
		pe := slices.Clone(w.pe)
		rem := w.rem()
		kOut := make([]int64, r-2)
		for i := range pe {
			pe[i] = max(0, pe[i]-rem[i])
			span := w.in[i] + w.pb[i] + pe[i] - ((w.out[i]-1)*w.s[i] + 1)
			kOut[i] = span/w.d[i] + 1
		}
		z := b.Op("Conv", []string{in, kern},
			AttrInts("strides", w.d...),
			AttrInts("dilations", w.s...),
			AttrInts("pads", append(slices.Clone(w.pb), pe...)...),
			AttrInt("group", g))
		dw := b.Op("Transpose", []string{z}, AttrInts("perm", nnSwap01(r)...))
		if !slices.Equal(kOut, k) {
			zeros := make([]int64, r-2)
			dw = b.Op("Slice", []string{dw, b.Ints(zeros...), b.Ints(k...), b.Ints(nnRange(2, r)...)})
		}
		out[1] = dw
	}
	if len(n.Input) > 2 && need[2] {
		out[2] = b.ReduceSum(dy, append([]int64{0}, nnRange(2, r)...), false)
	}
	return out, nil
}

// nnConvAdjointStride1 is the adjoint of a group-1 Conv with all strides 1
// as a Conv (which ONNX Runtime runs faster than ConvTranspose): with
// y[o] = Σ_κ x[o + d·κ − pb]·w[κ], dX[i] = Σ_κ′ dY[i − (d·(k−1) − pb) +
// d·κ′]·w[k−1−κ′], a correlation of dY with the kernel flipped on every
// spatial axis and its two channel axes swapped, padded by d·(k−1) − pb at
// the beginning and d·(k−1) − pe at the end. ok is false where that does
// not apply (a stride above 1, groups, or pads wider than the dilated
// kernel, which would need negative pads).
func nnConvAdjointStride1(b *Builder, dy, wt string, w nnWindow, g int64) (string, bool) {
	r := len(w.in)
	pads := make([]int64, 2*r)
	for i := range r {
		e := w.d[i] * (w.k[i] - 1)
		if w.s[i] != 1 || w.pb[i] > e || w.pe[i] > e {
			return "", false
		}
		pads[i], pads[r+i] = e-w.pb[i], e-w.pe[i]
	}
	if g != 1 {
		return "", false
	}
	wf := b.Op("Transpose", []string{wt}, AttrInts("perm", nnSwap01(r+2)...))
	starts, ends, steps := make([]int64, r), make([]int64, r), make([]int64, r)
	for i := range r {
		starts[i], ends[i], steps[i] = -1, math.MinInt64, -1
	}
	wf = b.Op("Slice", []string{wf, b.Ints(starts...), b.Ints(ends...), b.Ints(nnRange(2, r+2)...), b.Ints(steps...)})
	return b.Op("Conv", []string{dy, wf},
		AttrInts("kernel_shape", w.k...),
		AttrInts("dilations", w.d...),
		AttrInts("pads", pads...)), true
}

// nnConvWeightGradIm2col is dW of a group-1 Conv as one GEMM over an
// im2col matrix built by a Conv. For one or two spatial axes, X is
// transposed to [C, N, in…] and read as C images of one channel whose
// leading spatial axis is the batch: convolved with the Πk one-hot
// kernels [Πk, 1, 1, k…] (kernel 1 along the batch axis; with the Conv's
// strides, pads and dilations on the others; exact: each output copies
// one tap), it gives cols [C, Πk, N, out…] = [C·Πk, N·P] (P = Πout) with
// rows in W's (c, κ) order. Then dW = dY′ · colsᵀ, dY′ = dY transposed
// to [M, N·P]: one [M, N·P] × [N·P, C·Πk] product, reshaped to W's shape.
// A 1-D Conv gets a further unit axis, so that every im2col Conv is 3-D
// (ONNX Runtime would give a 2-D one its blocked NCHWc layout, whose
// reorders cost more than the Conv). Three spatial axes would need a 4-D
// Conv: there dW is Σ_n cols[n] · dY[n]ᵀ over cols [N, C·Πk, P] built with
// X as N·C one-channel images.
func nnConvWeightGradIm2col(b *Builder, x, dy string, w nnWindow, m, c int64) string {
	kk := nnNumel(w.k)
	onehot := make([]float32, kk*kk)
	for i := range kk {
		onehot[i*kk+i] = 1
	}
	r := len(w.in)
	p := nnNumel(w.out)
	if r <= 2 {
		// Spatial axes of the im2col Conv: [unit (1-D only), batch, in…].
		var lead []int64
		if r == 1 {
			lead = []int64{1}
		}
		with := func(batch int64, v []int64) []int64 {
			return append(append(slices.Clone(lead), batch), v...)
		}
		kern := b.Floats(append([]int64{kk, 1}, with(1, w.k)...), onehot)
		xt := b.Op("Transpose", []string{x}, AttrInts("perm", nnSwap01(r+2)...))
		xr := b.Op("Reshape", []string{xt, b.Ints(append([]int64{c, 1}, with(-1, w.in)...)...)})
		zero := make([]int64, len(lead)+1)
		cols := b.Op("Conv", []string{xr, kern},
			AttrInts("strides", with(1, w.s)...),
			AttrInts("dilations", with(1, w.d)...),
			AttrInts("pads", append(append(slices.Clone(zero), w.pb...), append(slices.Clone(zero), w.pe...)...)...))
		cols = b.Op("Reshape", []string{cols, b.Ints(c*kk, -1)})
		dyt := b.Op("Transpose", []string{dy}, AttrInts("perm", nnSwap01(r+2)...))
		dyt = b.Op("Reshape", []string{dyt, b.Ints(m, -1)})
		colsT := b.Op("Transpose", []string{cols}, AttrInts("perm", 1, 0))
		dw := b.Op("MatMul", []string{dyt, colsT})
		return b.Op("Reshape", []string{dw, b.Ints(append([]int64{m, c}, w.k...)...)})
	}
	kern := b.Floats(append([]int64{kk, 1}, w.k...), onehot)
	xr := b.Op("Reshape", []string{x, b.Ints(append([]int64{-1, 1}, w.in...)...)})
	cols := b.Op("Conv", []string{xr, kern},
		AttrInts("strides", w.s...),
		AttrInts("dilations", w.d...),
		AttrInts("pads", w.pads()...))
	cols = b.Op("Reshape", []string{cols, b.Ints(-1, c*kk, p)})
	dyt := b.Op("Reshape", []string{dy, b.Ints(-1, m, p)})
	dyt = b.Op("Transpose", []string{dyt}, AttrInts("perm", 0, 2, 1))
	dwt := b.ReduceSum(b.Op("MatMul", []string{cols, dyt}), []int64{0}, false)
	dw := b.Op("Transpose", []string{dwt}, AttrInts("perm", 1, 0))
	return b.Op("Reshape", []string{dw, b.Ints(append([]int64{m, c}, w.k...)...)})
}
