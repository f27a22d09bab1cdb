package int4

import (
	"math"
	"testing"
)

// TestNibbleOrder: with codes 0..15 repeating along K, byte j of a block
// holds value 2j in its low nibble and 2j+1 in its high nibble.
func TestNibbleOrder(t *testing.T) {
	const s = 0.25
	w := make([]float32, 32)
	for k := range w {
		// Code c dequantizes to (c − 8)·scale; the value −8·s has the
		// largest magnitude, so scale = −8s/−8 = s.
		w[k] = float32(k%16-8) * s
	}
	p, err := quantize(matrix{data: w, k: 32, n: 1}, 32, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.scales[0] != s || p.zeroPoints != nil {
		t.Fatalf("scale %v, zero points %v", p.scales[0], p.zeroPoints)
	}
	for j, b := range p.b {
		lo, hi := (2*j)%16, (2*j+1)%16
		if want := uint8(lo | hi<<4); b != want {
			t.Errorf("byte %d = %#02x, want %#02x", j, b, want)
		}
	}
	for k, v := range p.dequantize() {
		if v != w[k] {
			t.Errorf("W[%d] = %v, want %v", k, v, w[k])
		}
	}
}

// TestLayoutAndPadding: a transposed [N, K] weight with K = 40 in blocks of
// 16 (3 blocks, the last holding 8 values): codes laid out per column,
// zero points two per byte with the spare high nibble 8, and padding
// codes equal to the block's zero point.
func TestLayoutAndPadding(t *testing.T) {
	const k, n, bs = 40, 2, 16
	w := make([]float32, n*k) // [N, K]
	for i := range w {
		w[i] = float32(math.Sin(float64(i)))
	}
	w[k+3] = 0 // column 1 of W
	p, err := quantize(matrix{data: w, k: k, n: n, transposed: true}, bs, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.b) != n*3*bs/2 || len(p.scales) != n*3 || len(p.zeroPoints) != n*2 {
		t.Fatalf("sizes %d, %d, %d", len(p.b), len(p.scales), len(p.zeroPoints))
	}
	for col := 0; col < n; col++ {
		if hi := p.zeroPoints[col*2+1] >> 4; hi != 8 {
			t.Errorf("column %d: spare zero-point nibble %d, want 8", col, hi)
		}
		for pos := k - 2*bs; pos < bs; pos++ {
			if c, zp := p.code(2*bs+pos, col), p.zeroPoint(col, 2); c != zp {
				t.Errorf("column %d: padding %d has code %d, zero point %d", col, pos, c, zp)
			}
		}
	}
	deq := p.dequantize() // [K, N]
	for col := 0; col < n; col++ {
		for kk := 0; kk < k; kk++ {
			v, ref := deq[kk*n+col], w[col*k+kk]
			blk := kk / bs
			step := p.scales[col*3+blk]
			if math.Abs(float64(v-ref)) > float64(step)/2*1.0001 {
				t.Errorf("W[%d, %d] = %v, want %v within half a step %v", kk, col, v, ref, step)
			}
		}
	}
	if deq[3*n+1] != 0 {
		t.Errorf("0 dequantizes to %v (asymmetric keeps 0 exact)", deq[3*n+1])
	}
}

// TestExtremes: symmetric keeps the largest magnitude exact, sign
// included; a zero block has scale 0 and dequantizes to zeros.
func TestExtremes(t *testing.T) {
	for _, sign := range []float32{1, -1} {
		w := make([]float32, 16)
		for i := range w {
			w[i] = float32(i) / 100
		}
		w[5] = 3 * sign
		p, err := quantize(matrix{data: w, k: 16, n: 1}, 16, true)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.dequantize(); d[5] != w[5] {
			t.Errorf("sign %v: extreme dequantizes to %v", sign, d[5])
		}
	}
	for _, sym := range []bool{true, false} {
		p, err := quantize(matrix{data: make([]float32, 32), k: 32, n: 1}, 16, sym)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.dequantize() {
			if v != 0 {
				t.Fatalf("symmetric %v: zero block dequantizes to %v", sym, v)
			}
		}
		if p.scales[0] != 0 {
			t.Errorf("symmetric %v: scale %v", sym, p.scales[0])
		}
	}
	if _, err := quantize(matrix{data: []float32{float32(math.NaN())}, k: 1, n: 1}, 16, false); err == nil {
		t.Error("NaN accepted")
	}
}
