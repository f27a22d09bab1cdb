package int4

import (
	"fmt"
	"math"
)

// defaultZeroPoint is the zero point ONNX Runtime uses for 4-bit blocks
// when MatMulNBits has no zero_points input: 2^(bits−1).
const defaultZeroPoint = 8

// matrix reads a float32 weight as W[k, n], whatever its storage order.
type matrix struct {
	data       []float32
	k, n       int
	transposed bool // stored [N, K] (Gemm with transB = 1)
}

func (m matrix) at(k, n int) float32 {
	if m.transposed {
		return m.data[n*m.k+k]
	}
	return m.data[k*m.n+n]
}

// packed is a weight in MatMulNBits form (see the package documentation).
type packed struct {
	k, n, blockSize, kBlocks int
	b                        []uint8   // [n, kBlocks, blockSize/2]
	scales                   []float32 // [n, kBlocks]
	zeroPoints               []uint8   // [n, (kBlocks+1)/2]; nil when symmetric
}

// bytes is the size the weight takes in the model.
func (p *packed) bytes() int64 {
	return int64(len(p.b)) + 4*int64(len(p.scales)) + int64(len(p.zeroPoints))
}

// zeroPoint returns block blk of column n's zero point.
func (p *packed) zeroPoint(n, blk int) int {
	if p.zeroPoints == nil {
		return defaultZeroPoint
	}
	b := p.zeroPoints[n*((p.kBlocks+1)/2)+blk/2]
	if blk%2 == 0 {
		return int(b & 0x0f)
	}
	return int(b >> 4)
}

// code returns the 4-bit code of W[k, n].
func (p *packed) code(k, n int) int {
	blk, pos := k/p.blockSize, k%p.blockSize
	b := p.b[(n*p.kBlocks+blk)*(p.blockSize/2)+pos/2]
	if pos%2 == 0 {
		return int(b & 0x0f)
	}
	return int(b >> 4)
}

// dequantize returns the weight MatMulNBits computes with, as W[k, n]
// row-major [K, N].
func (p *packed) dequantize() []float32 {
	w := make([]float32, p.k*p.n)
	for n := 0; n < p.n; n++ {
		for k := 0; k < p.k; k++ {
			blk := k / p.blockSize
			w[k*p.n+n] = float32(p.code(k, n)-p.zeroPoint(n, blk)) * p.scales[n*p.kBlocks+blk]
		}
	}
	return w
}

// quantize packs w into blocks of blockSize along K. It returns an error
// if w holds a NaN or an infinity (a block's scale would be meaningless).
func quantize(w matrix, blockSize int, symmetric bool) (*packed, error) {
	kBlocks := (w.k + blockSize - 1) / blockSize
	half := blockSize / 2
	p := &packed{
		k: w.k, n: w.n, blockSize: blockSize, kBlocks: kBlocks,
		b:      make([]uint8, w.n*kBlocks*half),
		scales: make([]float32, w.n*kBlocks),
	}
	zpStride := (kBlocks + 1) / 2
	if !symmetric {
		p.zeroPoints = make([]uint8, w.n*zpStride)
	}
	block := make([]float32, blockSize)
	for n := 0; n < w.n; n++ {
		for blk := 0; blk < kBlocks; blk++ {
			k0 := blk * blockSize
			vals := block[:min(blockSize, w.k-k0)]
			for i := range vals {
				v := w.at(k0+i, n)
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("W[%d, %d] is %v", k0+i, n, v)
				}
				vals[i] = v
			}
			var scale float32
			zp := defaultZeroPoint
			if symmetric {
				scale = symmetricScale(vals)
			} else {
				scale, zp = asymmetricScale(vals)
			}
			var recip float32
			if scale != 0 {
				recip = 1 / scale
			}
			p.scales[n*kBlocks+blk] = scale
			if !symmetric {
				i := n*zpStride + blk/2
				if blk%2 == 0 {
					// The high nibble stays 8 when no odd block fills it.
					p.zeroPoints[i] = uint8(zp) | defaultZeroPoint<<4
				} else {
					p.zeroPoints[i] = p.zeroPoints[i]&0x0f | uint8(zp)<<4
				}
			}
			out := p.b[(n*kBlocks+blk)*half:][:half]
			for i := 0; i < blockSize; i++ {
				q := uint8(zp) // padding past K dequantizes to 0
				if i < len(vals) {
					q = code(vals[i], recip, zp)
				}
				if i%2 == 0 {
					out[i/2] = q
				} else {
					out[i/2] |= q << 4
				}
			}
		}
	}
	return p, nil
}

// symmetricScale is MLAS's: the value of largest magnitude, sign kept,
// maps to code 0 (−8 after the implicit zero point 8).
func symmetricScale(vals []float32) float32 {
	lo, hi := minMax(vals)
	m := lo
	if abs32(hi) > abs32(lo) {
		m = hi
	}
	return m / -8
}

// asymmetricScale is MLAS's: the range, widened to hold 0, spread over
// codes 0..15, with 0 exact.
func asymmetricScale(vals []float32) (float32, int) {
	lo, hi := minMax(vals)
	lo, hi = min(lo, 0), max(hi, 0)
	scale := (hi - lo) / 15
	if scale == 0 {
		return 0, 0
	}
	zp := math.Round(float64(-lo / scale))
	return scale, int(min(max(zp, 0), 15))
}

func code(v, recip float32, zp int) uint8 {
	q := math.Round(float64(v*recip) + float64(zp))
	return uint8(min(max(q, 0), 15))
}

func minMax(vals []float32) (lo, hi float32) {
	lo, hi = vals[0], vals[0]
	for _, v := range vals[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }
