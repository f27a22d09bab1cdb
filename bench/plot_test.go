package bench

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plotResults are two results with skewed, seeded latencies and one
// without samples (left out of the plot).
func plotResults() []Result {
	rng := rand.New(rand.NewPCG(1, 2))
	samples := func(n int, base float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = base + rng.ExpFloat64()*base/10
		}
		return s
	}
	return []Result{
		{Model: "m/a.onnx", ProviderRan: "cpu", Batch: 1, Scenario: Latency, Samples: samples(5000, 2)},
		{Model: "m/b.onnx", ProviderRan: "cpu", Batch: 8, Scenario: Throughput, Concurrency: 4, Samples: samples(300, 9)},
		{Model: "m/c.onnx", ProviderRan: "cpu", Batch: 1, Scenario: Latency},
	}
}

func TestPlotPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latency.PNG")
	if err := Plot(path, plotResults(), false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s does not start with the PNG signature: % x", path, data[:min(8, len(data))])
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	// Two rows (a and b; c has no samples), wider than tall.
	if b := img.Bounds(); b.Dx() <= b.Dy() || b.Dy() < 400 {
		t.Errorf("image is %dx%d, want two rows of two panels", b.Dx(), b.Dy())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only the plot (no temporary file left)", len(entries))
	}
}

func TestPlotSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latency.svg")
	// One value repeated, NaN and Inf: a single-bin histogram, the
	// non-finite samples dropped.
	rs := append(plotResults(), Result{Model: "flat.onnx", ProviderRan: "cuda", Batch: 1, Scenario: Latency,
		Samples: []float64{3, 3, 3, math.NaN(), math.Inf(1)}})
	if err := Plot(path, rs, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s[:min(512, len(s))], "<svg") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") {
		t.Fatalf("%s is not an SVG document: %.200q", path, s)
	}
	for _, want := range []string{"a.onnx", "b.onnx", "flat.onnx", "histogram", "CDF", "p99"} {
		if !strings.Contains(s, want) {
			t.Errorf("%s does not mention %q", path, want)
		}
	}
	if strings.Contains(s, "c.onnx") {
		t.Errorf("%s plots c.onnx, which has no samples", path)
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plot.pdf", "plot", "plot.png.txt"} {
		path := filepath.Join(dir, name)
		err := Plot(path, plotResults(), false)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Plot(%s): error %v, want one naming the path", path, err)
		}
		if _, statErr := os.Stat(path); statErr == nil {
			t.Errorf("Plot(%s) wrote a file", path)
		}
	}
	noSamples := filepath.Join(dir, "none.png")
	if err := Plot(noSamples, []Result{{Model: "a.onnx"}}, false); err == nil || !strings.Contains(err.Error(), "no latency samples") {
		t.Errorf("Plot without samples: error %v", err)
	}
	missingDir := filepath.Join(dir, "no", "such", "dir", "p.svg")
	if err := Plot(missingDir, plotResults(), false); err == nil || !strings.Contains(err.Error(), missingDir) {
		t.Errorf("Plot into a missing folder: error %v, want one naming the path", err)
	}
}

// TestHistogramBins checks the bins hold every sample once, the maximum
// in the last bin, and are contiguous.
func TestHistogramBins(t *testing.T) {
	for _, samples := range [][]float64{seq(1000), {5}, {1, 1, 2}, {0.1, 0.2, 0.30000000000000004}} {
		bins, width := histogramBins(samples)
		var total float64
		for i, b := range bins {
			total += b.Weight
			if i > 0 && b.Min != bins[i-1].Max {
				t.Errorf("bins of %v: bin %d starts at %v, the previous ends at %v", samples, i, b.Min, bins[i-1].Max)
			}
		}
		if total != float64(len(samples)) {
			t.Errorf("bins of %d samples hold %v", len(samples), total)
		}
		if last := bins[len(bins)-1]; last.Weight == 0 || last.Max <= samples[len(samples)-1] {
			t.Errorf("bins of %v: the maximum is not in the last bin %+v", samples, last)
		}
		if !(width > 0) {
			t.Errorf("bins of %v: width %v", samples, width)
		}
	}
	// 1..1000 in 32 bins (⌈√1000⌉): the first holds 1 … 32.21875.
	bins, _ := histogramBins(seq(1000))
	if len(bins) != 32 || bins[0].Weight != 32 {
		t.Errorf("1..1000: %d bins, first holds %v; want 32 and 32", len(bins), bins[0].Weight)
	}
}
