package calib

import (
	"errors"
	"fmt"
	"math"
)

// minRange is the smallest histogram half-width, the smallest normal
// float32: a tensor of zeros or denormals still gets a histogram that
// merges with others.
var minRange = math.Ldexp(1, -126)

// Histogram counts values in len(Counts) equal bins over [-Range, Range]
// (see the package comment). Bin i covers [-Range + i·w, -Range + (i+1)·w)
// with w = 2·Range/len(Counts); a value equal to Range goes to the last
// bin. Range is 0 while the histogram is empty, otherwise a power of two.
type Histogram struct {
	Range  float64 `json:"range"`
	Counts []int64 `json:"counts"`
}

func newHistogram(bins int) *Histogram { return &Histogram{Counts: make([]int64, bins)} }

func (h *Histogram) clone() *Histogram {
	return &Histogram{Range: h.Range, Counts: append([]int64(nil), h.Counts...)}
}

// width returns the width of one bin.
func (h *Histogram) width() float64 { return 2 * h.Range / float64(len(h.Counts)) }

// total returns the number of values counted.
func (h *Histogram) total() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// rangeFor returns the histogram half-width that holds |x| ≤ absmax: the
// smallest power of two not below absmax (and not below minRange).
func rangeFor(absmax float64) float64 {
	if absmax <= minRange {
		return minRange
	}
	frac, exp := math.Frexp(absmax) // absmax = frac · 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		return absmax
	}
	return math.Ldexp(1, exp)
}

func isPowerOfTwo(x float64) bool {
	frac, _ := math.Frexp(x)
	return frac == 0.5
}

// widen grows the range to r (a power of two; smaller r is ignored),
// re-binning the counts exactly.
func (h *Histogram) widen(r float64) {
	if r <= h.Range {
		return
	}
	if h.Range == 0 {
		h.Range = r
		return
	}
	_, e1 := math.Frexp(h.Range)
	_, e2 := math.Frexp(r)
	k := e2 - e1 // the range grows by s = 2^k
	n := len(h.Counts)
	half := n / 2
	out := make([]int64, n)
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		var j int
		if k >= 63 || 1<<k >= half {
			// The whole old range fits in the two bins next to zero.
			j = half - 1
			if i >= half {
				j = half
			}
		} else {
			// Old bin i starts at new position (i + (s−1)·half)/s; s
			// divides half, so old bins never straddle a new edge.
			j = (i + ((1<<k)-1)*half) >> k
		}
		out[j] += c
	}
	h.Range, h.Counts = r, out
}

// coarsen reduces the bin count to bins (a power of two not above the
// current count), adding neighbouring bins; this is exact.
func (h *Histogram) coarsen(bins int) {
	r := len(h.Counts) / bins
	if r <= 1 {
		return
	}
	out := make([]int64, bins)
	for i, c := range h.Counts {
		out[i/r] += c
	}
	h.Counts = out
}

// merge adds o's counts, re-binning both onto the wider range and the
// coarser bins. o is not changed.
func (h *Histogram) merge(o *Histogram) {
	if len(o.Counts) < len(h.Counts) {
		h.coarsen(len(o.Counts))
	}
	if len(o.Counts) > len(h.Counts) || o.Range < h.Range {
		o = o.clone()
		o.coarsen(len(h.Counts))
		o.widen(h.Range)
	}
	h.widen(o.Range)
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
}

// add counts the finite values of vals; the range must already hold them.
func histAdd[T float32 | float64](h *Histogram, vals []T) {
	n := len(h.Counts)
	half := n / 2
	inv := float64(half) / h.Range // a power of two, so x·inv is exact
	for _, v := range vals {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		f := x * inv
		j := int(f)
		if f < float64(j) { // floor for negative values
			j--
		}
		j += half
		if j < 0 {
			j = 0
		} else if j >= n {
			j = n - 1
		}
		h.Counts[j]++
	}
}

// folded returns the histogram of |x|: half the bins over [0, Range).
func (h *Histogram) folded() []float64 {
	half := len(h.Counts) / 2
	out := make([]float64, half)
	for k := range out {
		out[k] = float64(h.Counts[half+k] + h.Counts[half-1-k])
	}
	return out
}

// check returns an error describing what makes h unusable with bins bins
// for a tensor of count finite values within [-absmax, absmax].
func (h *Histogram) check(bins int, count int64, absmax float64) error {
	if len(h.Counts) != bins {
		return fmt.Errorf("histogram has %d bins, the file says %d", len(h.Counts), bins)
	}
	if h.Range != 0 && (math.IsInf(h.Range, 0) || h.Range < minRange || !isPowerOfTwo(h.Range)) {
		return fmt.Errorf("histogram range %g is not a power of two from 2^-126", h.Range)
	}
	var n int64
	for _, c := range h.Counts {
		if c < 0 {
			return errors.New("histogram has a negative count")
		}
		n += c
	}
	if n != count {
		return fmt.Errorf("histogram counts %d values, the tensor %d", n, count)
	}
	if count > 0 && (h.Range == 0 || absmax > h.Range) {
		return fmt.Errorf("histogram range %g does not hold the tensor's absmax %g", h.Range, absmax)
	}
	return nil
}
