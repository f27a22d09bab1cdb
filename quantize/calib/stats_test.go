package calib

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
)

// statsOf builds statistics of one tensor "x" from batches, as Collect
// would.
func statsOf(t *testing.T, cfg Config, batches ...[]float32) *Stats {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Method.needsHistogram() {
		cfg.Bins = 0
	}
	ts := newTensorStats(cfg.Bins)
	for _, b := range batches {
		observe(ts, b)
	}
	return &Stats{Version: FormatVersion, Fingerprint: "f00d", Config: cfg, Samples: int64(len(batches)), Tensors: map[string]*TensorStats{"x": ts}}
}

func rangeOf(t *testing.T, s *Stats, cfg Config) Range {
	t.Helper()
	rs, err := s.Ranges(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rs["x"]
}

// grid returns n evenly spaced values from lo to hi, shuffled by a
// deterministic stride so that batches of it have different ranges.
func grid(n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*float64(i)/float64(n-1))
	}
	return out
}

func gaussian(n int, std float64, seed uint64) []float32 {
	return testmodels.NewRand(seed).Normal([]int64{int64(n)}, std)
}

func TestParseMethod(t *testing.T) {
	for in, want := range map[string]Method{"": MinMax, "MinMax": MinMax, "percentile": Percentile, " entropy ": Entropy} {
		if got, err := ParseMethod(in); err != nil || got != want {
			t.Errorf("ParseMethod(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMethod("kl"); err == nil || !strings.Contains(err.Error(), `"kl"`) {
		t.Errorf("ParseMethod(kl) error %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil || c.Method != MinMax || c.Bins != DefaultBins || c.Percentile != DefaultPercentile {
		t.Fatalf("defaults %+v %v", c, err)
	}
	for _, bad := range []Config{{Bins: 1000}, {Bins: 128}, {Bins: 1 << 17}, {Percentile: 101}, {Percentile: -1}, {Method: "mse"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestMinMaxExact(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	s := statsOf(t, Config{}, []float32{0.5, 2.25, nan}, []float32{1.75, inf, 3.125}, nil)
	x := s.Tensors["x"]
	if x.Min != 0.5 || x.Max != 3.125 || x.Count != 4 || x.NonFinite != 2 || x.Histogram != nil {
		t.Fatalf("stats %+v", x)
	}
	// All positive: the range is widened down to 0.
	if r := rangeOf(t, s, Config{}); r != (Range{0, 3.125}) {
		t.Errorf("minmax range %+v", r)
	}
	if _, err := s.Ranges(Config{Method: Entropy}); err == nil || !strings.Contains(err.Error(), "needs histograms") {
		t.Errorf("entropy on minmax statistics: %v", err)
	}
	empty := statsOf(t, Config{}, []float32{nan})
	if _, err := empty.Ranges(Config{}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("range of a tensor without values: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	// |x| is uniform on [0, 1]: its 99th percentile is 0.99.
	vals := grid(200001, -1, 1)
	s := statsOf(t, Config{Method: Percentile}, vals[:100000], vals[100000:])
	w := s.Tensors["x"].Histogram.width()
	if w != 1.0/1024 {
		t.Fatalf("bin width %v", w)
	}
	r := rangeOf(t, s, Config{Method: Percentile, Percentile: 99, Symmetric: true})
	if math.Abs(float64(r.Max)-0.99) > w || r.Min != -r.Max {
		t.Errorf("symmetric 99%% range %+v, want ±0.99 within %v", r, w)
	}
	// Uniform on [-3, 7]: cutting 0.5% off each tail leaves [-2.95, 6.95].
	s = statsOf(t, Config{Method: Percentile}, grid(100001, -3, 7))
	w = s.Tensors["x"].Histogram.width()
	r = rangeOf(t, s, Config{Method: Percentile, Percentile: 99})
	if math.Abs(float64(r.Min)+2.95) > w || math.Abs(float64(r.Max)-6.95) > w {
		t.Errorf("asymmetric 99%% range %+v, want [-2.95, 6.95] within %v", r, w)
	}
	// 100% keeps everything and never passes the observed extremes.
	r = rangeOf(t, s, Config{Method: Percentile, Percentile: 100})
	if r != (Range{-3, 7}) {
		t.Errorf("100%% range %+v", r)
	}
	// Positive data: the asymmetric range still includes 0.
	s = statsOf(t, Config{Method: Percentile}, grid(1001, 1, 2))
	if r := rangeOf(t, s, Config{Method: Percentile, Percentile: 99}); r.Min != 0 || r.Max < 1.9 || r.Max > 2 {
		t.Errorf("positive data range %+v", r)
	}
}

func TestEntropyClipsOutliers(t *testing.T) {
	vals := gaussian(200000, 1, 7)
	for i := range 20 {
		vals[i*9973] = float32(50 * (1 - 2*float64(i%2)))
	}
	// With 2048 bins over [-64, 64] the Gaussian fills fewer than the 128
	// bins of the smallest candidate, so every threshold up to 16 (where
	// the candidates start merging its bins) keeps it whole and the
	// search cannot tell them apart; with 8192 bins it resolves the bulk.
	for _, c := range []struct {
		bins   int
		lo, hi float32
	}{{DefaultBins, 8, 16}, {8192, 3, 8}} {
		s := statsOf(t, Config{Method: Entropy, Bins: c.bins}, vals[:100000], vals[100000:])
		r := rangeOf(t, s, Config{Method: Entropy, Symmetric: true})
		if r.Min != -r.Max || r.Max < c.lo || r.Max > c.hi {
			t.Errorf("bins %d: entropy range %+v; want a threshold in [%v, %v], well below the outliers' 50", c.bins, r, c.lo, c.hi)
		}
		bins := c.bins
		// Asymmetric: the same threshold, clamped to what was seen.
		a := rangeOf(t, s, Config{Method: Entropy})
		if a != r {
			t.Errorf("bins %d: asymmetric entropy range %+v, symmetric %+v", bins, a, r)
		}
	}
	// Data that fits in 128 bins of |x| is not clipped.
	s := statsOf(t, Config{Method: Entropy}, grid(1001, -0.05, 1))
	if r := rangeOf(t, s, Config{Method: Entropy}); r != (Range{-0.05, 1}) {
		t.Errorf("narrow data range %+v", r)
	}
	// ReLU-like data: the asymmetric range starts at 0.
	pos := gaussian(50000, 1, 3)
	for i, v := range pos {
		pos[i] = max(v, 0)
	}
	s = statsOf(t, Config{Method: Entropy}, pos)
	if r := rangeOf(t, s, Config{Method: Entropy}); r.Min != 0 || r.Max <= 0 {
		t.Errorf("relu range %+v", r)
	}
}

// TestHistogramStreamingIsExact checks that re-binning loses nothing: the
// histogram built batch by batch, with its range doubling along the way,
// equals the one built from all values at once.
func TestHistogramStreamingIsExact(t *testing.T) {
	vals := gaussian(30000, 1, 11)
	for i := range vals {
		vals[i] *= float32(math.Pow(10, float64(i)/10000)) // later batches are wider
	}
	cfg := Config{Method: Percentile}
	one := statsOf(t, cfg, vals)
	var batches [][]float32
	for i := 0; i < len(vals); i += 1000 {
		batches = append(batches, vals[i:i+1000])
	}
	many := statsOf(t, cfg, batches...)
	if !slices.Equal(one.Tensors["x"].Histogram.Counts, many.Tensors["x"].Histogram.Counts) || one.Tensors["x"].Histogram.Range != many.Tensors["x"].Histogram.Range {
		t.Fatal("streamed histogram differs from the one-pass histogram")
	}
	// Zeros first, then data 2^130 times wider: zeros stay next to zero.
	h := statsOf(t, cfg, []float32{0, 0, -1e-39}, []float32{3, -5}).Tensors["x"].Histogram
	half := len(h.Counts) / 2
	if h.Range != 8 || h.Counts[half] != 2 || h.Counts[half-1] != 1 || h.total() != 5 {
		t.Errorf("range %v, counts around zero %v %v, total %d", h.Range, h.Counts[half-1], h.Counts[half], h.total())
	}
}

func TestMergeHalvesEqualsOnePass(t *testing.T) {
	vals := gaussian(40000, 2, 5)
	vals[123] = 40 // the second half has a smaller range than the first
	for _, cfg := range []Config{{}, {Method: Entropy}} {
		whole := statsOf(t, cfg, vals)
		a := statsOf(t, cfg, vals[:20000])
		b := statsOf(t, cfg, vals[20000:])
		if err := b.Merge(a); err != nil { // merge the wider into the narrower
			t.Fatal(err)
		}
		w, m := whole.Tensors["x"], b.Tensors["x"]
		if m.Min != w.Min || m.Max != w.Max || m.Count != w.Count || b.Samples != 2 {
			t.Errorf("%s: merged %+v, one pass %+v", cfg.Method, m, w)
		}
		if cfg.Method == Entropy && (!reflect.DeepEqual(m.Histogram, w.Histogram) || m.Histogram.total() != 40000) {
			t.Errorf("%s: merged histogram differs from the one-pass histogram", cfg.Method)
		}
	}
	// Different bin counts merge onto the coarser one, still exactly.
	fine := statsOf(t, Config{Method: Percentile, Bins: 8192}, vals[:20000])
	coarse := statsOf(t, Config{Method: Percentile, Bins: 2048}, vals[20000:])
	if err := fine.Merge(coarse); err != nil {
		t.Fatal(err)
	}
	want := statsOf(t, Config{Method: Percentile, Bins: 2048}, vals)
	if fine.Config.Bins != 2048 || !reflect.DeepEqual(fine.Tensors["x"].Histogram, want.Tensors["x"].Histogram) {
		t.Errorf("merge across bin counts: bins %d", fine.Config.Bins)
	}
	// A zero Stats takes a copy.
	var z Stats
	if err := z.Merge(want); err != nil || !reflect.DeepEqual(z.Tensors, want.Tensors) {
		t.Errorf("merge into zero Stats: %v", err)
	}
	z.Tensors["x"].Histogram.Counts[0] = 99
	if want.Tensors["x"].Histogram.Counts[0] == 99 {
		t.Error("merge into zero Stats shares histograms")
	}
}

func TestMergeRefuses(t *testing.T) {
	a := statsOf(t, Config{}, []float32{1})
	b := statsOf(t, Config{}, []float32{2})
	b.Fingerprint = "beef"
	if err := a.Merge(b); err == nil || !strings.Contains(err.Error(), "different models") || !strings.Contains(err.Error(), "beef") {
		t.Errorf("different fingerprints: %v", err)
	}
	h := statsOf(t, Config{Method: Entropy}, []float32{2})
	if err := a.Merge(h); err == nil || !strings.Contains(err.Error(), "histograms (entropy)") {
		t.Errorf("minmax with entropy: %v", err)
	}
	h.Tensors["x"].Histogram.Counts[0]++
	if err := a.Merge(h); err == nil || !strings.Contains(err.Error(), `tensor "x"`) {
		t.Errorf("inconsistent histogram: %v", err)
	}
	if a.Tensors["x"].Max != 1 || a.Samples != 1 {
		t.Errorf("a refused merge changed the statistics: %+v", a.Tensors["x"])
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	vals := gaussian(10000, 1, 9)
	a := statsOf(t, Config{Method: Percentile}, vals[:5000])
	b := statsOf(t, Config{Method: Percentile}, vals[5000:])
	pa, pb := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := a.Save(pa, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(pb, false); err != nil {
		t.Fatal(err)
	}
	la, err := Load(pa)
	if err != nil {
		t.Fatal(err)
	}
	la.files = nil
	if !reflect.DeepEqual(la, a) {
		t.Errorf("round trip changed the statistics")
	}
	all, err := LoadAll(pa, pb)
	if err != nil {
		t.Fatal(err)
	}
	want := statsOf(t, Config{Method: Percentile}, vals)
	if !reflect.DeepEqual(all.Tensors, want.Tensors) || all.Samples != 2 {
		t.Errorf("LoadAll differs from one pass")
	}
	if !slices.Equal(all.files, []string{pa, pb}) {
		t.Errorf("files %v", all.files)
	}

	b.Fingerprint = "beef"
	if err := b.Save(pb, true); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAll(pa, pb); err == nil || !strings.Contains(err.Error(), "calibration file "+pb+" was made for another model than "+pa) {
		t.Errorf("LoadAll of two models: %v", err)
	}

	bad := map[string]string{
		"notjson.json": "{",
		"version.json": `{"version": 7, "fingerprint": "x"}`,
		"hist.json":    `{"version": 1, "fingerprint": "x", "config": {"method": "entropy", "bins": 256}, "tensors": {"t": {"count": 1, "min": 1, "max": 1, "histogram": {"range": 1, "counts": [1]}}}}`,
		"minmax.json":  `{"version": 1, "fingerprint": "x", "config": {"method": "minmax"}, "tensors": {"t": {"count": 1, "min": 2, "max": 1}}}`,
	}
	for name, body := range bad {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil || !strings.HasPrefix(err.Error(), "calibration file "+p+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%s): %v", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || strings.Count(err.Error(), "missing.json") != 1 {
		t.Errorf("missing file: %v", err)
	}
}
