package calib

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
)

// Range is a float range to quantize a tensor onto; it always includes 0.
type Range struct{ Min, Max float32 }

// Ranges returns a range for every tensor, by cfg.Method (cfg.Bins is not
// used: the statistics' own histograms are):
//
//   - minmax: the observed [min, max];
//   - percentile: with cfg.Symmetric, [-t, t] for t the cfg.Percentile-th
//     percentile of |x|; otherwise (100 − cfg.Percentile)/2 percent is cut
//     from each tail of x;
//   - entropy: [-t, t] with cfg.Symmetric, otherwise [-t, t] clamped to
//     the observed [min, max], for the threshold t that TensorRT's entropy
//     calibration (Migacz, "8-bit Inference with TensorRT", 2017) picks,
//     as ONNX Runtime implements it. Over the histogram of |x| (the
//     histogram folded at 0), for each candidate i from 128 bins to the
//     last non-empty bin: P is bins [0, i) with every count beyond i added
//     to its last bin (the values clipping would saturate); Q is the same
//     bins merged into 128 groups of i/128 bins (the last group takes the
//     remainder), each group's sum then spread evenly over the group's
//     bins where P is non-zero; both are smoothed (ε = 1e-4 moved from the
//     non-zero bins onto the zero ones) and normalised; t is the upper
//     edge of the i with the least KL(P‖Q). Data within 128 bins is not
//     clipped. With more than 4096 candidates the search steps over
//     several bins at a time.
//
// Thresholds never exceed the observed extremes, and every range is then
// widened to include 0. It returns an error when cfg is invalid, when the
// method needs histograms and the statistics have none, or naming a
// tensor for which no finite value was seen.
func (s *Stats) Ranges(cfg Config) (map[string]Range, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Method.needsHistogram() && !s.hasHistograms() {
		return nil, fmt.Errorf("calibration method %s needs histograms, but the statistics were collected with %s; collect them with percentile or entropy", cfg.Method, s.Config.Method)
	}
	out := make(map[string]Range, len(s.Tensors))
	for _, name := range s.names() {
		r, err := s.Tensors[name].rangeFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = r
	}
	return out, nil
}

func (t *TensorStats) rangeFor(cfg Config) (Range, error) {
	if t.Count == 0 {
		return Range{}, errors.New("calibration saw no finite values")
	}
	lo, hi := t.Min, t.Max
	if cfg.Method.needsHistogram() {
		h := t.Histogram
		if h == nil {
			return Range{}, errors.New("histogram is missing")
		}
		absmax := t.absmax()
		var th float64
		switch {
		case cfg.Method == Percentile && !cfg.Symmetric:
			cut := (100 - cfg.Percentile) / 200
			w := h.width()
			lo = math.Max(lo, quantile(h.Counts, -h.Range, w, cut))
			hi = math.Min(hi, quantile(h.Counts, -h.Range, w, 1-cut))
			lo = math.Min(lo, hi)
		case cfg.Method == Percentile:
			th = math.Min(absmax, quantile(h.folded(), 0, h.width(), cfg.Percentile/100))
		default:
			th = math.Min(absmax, entropyThreshold(h.folded(), h.width()))
		}
		switch {
		case cfg.Method == Percentile && !cfg.Symmetric:
		case cfg.Symmetric:
			lo, hi = -th, th
		default:
			lo, hi = math.Max(lo, -th), math.Min(hi, th)
		}
	}
	return Range{Min: float32(math.Min(lo, 0)), Max: float32(math.Max(hi, 0))}, nil
}

// quantile returns the value below which a fraction q of the counts lie,
// for bins of width w starting at lo, interpolating linearly within the
// bin where the fraction is reached.
func quantile[T int64 | float64](counts []T, lo, w, q float64) float64 {
	var total float64
	for _, c := range counts {
		total += float64(c)
	}
	target := q * total
	var cum float64
	last := 0
	for j, c := range counts {
		fc := float64(c)
		if fc == 0 {
			continue
		}
		last = j
		if cum+fc >= target {
			return lo + w*(float64(j)+(target-cum)/fc)
		}
		cum += fc
	}
	return lo + w*float64(last+1)
}

// entropyBins is the number of bins |x| is quantized to: the 128 levels
// 0..127 of symmetric int8.
const entropyBins = 128

// maxEntropyCandidates bounds the thresholds tried; with more bins than
// that the search steps over several bins at a time.
const maxEntropyCandidates = 4096

// entropyThreshold returns the entropy calibration threshold (see Ranges)
// for hist, the histogram of |x| in bins of width w from 0.
func entropyThreshold(hist []float64, w float64) float64 {
	n := 0 // bins up to the last non-empty one
	for j := len(hist) - 1; j >= 0; j-- {
		if hist[j] > 0 {
			n = j + 1
			break
		}
	}
	if n <= entropyBins {
		return float64(n) * w
	}
	above := make([]float64, n+1) // above[i] = sum(hist[i:n])
	for j := n - 1; j >= 0; j-- {
		above[j] = above[j+1] + hist[j]
	}
	step := max(1, (n-entropyBins)/maxEntropyCandidates)
	p, q := make([]float64, n), make([]float64, n)
	best, bestKL := n, math.Inf(1)
	for i := entropyBins; i <= n; i += step {
		if kl := divergence(hist, above, i, p[:i], q[:i]); kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return float64(best) * w
}

// divergence returns KL(P‖Q) for the candidate i of entropyThreshold,
// using p and q (length i) as scratch; +Inf when smoothing is impossible.
func divergence(hist, above []float64, i int, p, q []float64) float64 {
	copy(p, hist[:i])
	p[i-1] += above[i]
	merged := i / entropyBins
	for g := range entropyBins {
		start, end := g*merged, (g+1)*merged
		if g == entropyBins-1 {
			end = i
		}
		sum := floats.Sum(hist[start:end])
		nonzero := 0
		for _, v := range p[start:end] {
			if v != 0 {
				nonzero++
			}
		}
		for k := start; k < end; k++ {
			q[k] = 0
			if p[k] != 0 && nonzero > 0 {
				q[k] = sum / float64(nonzero)
			}
		}
	}
	if !smooth(p) || !smooth(q) {
		return math.Inf(1)
	}
	floats.Scale(1/floats.Sum(p), p)
	floats.Scale(1/floats.Sum(q), q)
	return stat.KullbackLeibler(p, q)
}

// smooth moves ε = 1e-4 of mass onto each zero bin from the non-zero ones,
// as ONNX Runtime's smooth_distribution does. It reports false when that
// is impossible (no non-zero bins, or bins that would turn negative).
func smooth(d []float64) bool {
	const eps = 1e-4
	zeros := 0
	for _, v := range d {
		if v == 0 {
			zeros++
		}
	}
	nonzeros := len(d) - zeros
	if nonzeros == 0 {
		return false
	}
	if zeros == 0 {
		return true
	}
	eps1 := eps * float64(zeros) / float64(nonzeros)
	for k, v := range d {
		if v == 0 {
			d[k] = eps
			continue
		}
		if v <= eps1 {
			return false
		}
		d[k] = v - eps1
	}
	return true
}
