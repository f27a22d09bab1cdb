package bench

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/infer-ml/infer/pkg/plotfile"
)

// Plot sizes: one row of two panels per result.
const (
	plotWidth     = 11 * vg.Inch
	plotRowHeight = 3.5 * vg.Inch
	// cdfMaxSteps bounds the points of a CDF line; beyond it the line
	// takes every k-th sorted sample, which keeps SVG files small and
	// looks the same.
	cdfMaxSteps = 2000
)

// Plot writes, for each result with Samples, a row of two panels — a
// latency histogram and the empirical CDF — to path, as PNG or SVG by its
// extension (.png or .svg, any case). The file is written to a temporary
// file in the same folder and renamed over path, so path is either the old
// file or the whole new one. It returns an error naming path for another
// extension, when no result has finite samples, or when writing fails.
// Samples that are NaN or infinite are left out.
func Plot(path string, results []Result, replace bool) error {
	if err := plotfile.Check(path); err != nil {
		return err
	}
	var rows [][]*plot.Plot
	for _, r := range results {
		sorted := finiteSorted(r.Samples)
		if len(sorted) == 0 {
			continue
		}
		title := fmt.Sprintf("%s · %s · batch %d · %s", ModelName(r.Model), r.ProviderRan, r.Batch, scenarioCell(r))
		hist := histogramPlot(title, sorted)
		cdf, err := cdfPlot(title, sorted)
		if err != nil {
			return fmt.Errorf("plot %s: %s: %w", path, title, err)
		}
		rows = append(rows, []*plot.Plot{hist, cdf})
	}
	if len(rows) == 0 {
		return fmt.Errorf("plot %s: no latency samples to plot", path)
	}

	tiles := draw.Tiles{
		Rows: len(rows), Cols: 2,
		PadX: vg.Inch / 2, PadY: vg.Inch / 3,
		PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 4,
	}
	return plotfile.Grid(path, replace, plotWidth, plotRowHeight*vg.Length(len(rows)), rows, tiles)
}

// finiteSorted returns the finite samples, sorted.
func finiteSorted(samples []float64) []float64 {
	out := make([]float64, 0, len(samples))
	for _, v := range samples {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// histogramPlot draws the histogram of sorted samples.
func histogramPlot(title string, sorted []float64) *plot.Plot {
	bins, width := histogramBins(sorted)
	h := &plotter.Histogram{
		Bins:      bins,
		Width:     width,
		FillColor: color.RGBA{R: 70, G: 130, B: 180, A: 255},
		LineStyle: plotter.DefaultLineStyle,
	}
	p := plot.New()
	p.Title.Text = title + " — histogram"
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "runs"
	p.Add(h)
	return p
}

// histogramBins bins sorted (non-empty, finite) samples into ⌈√n⌉ bins,
// between 10 and 60, of equal width.
//
// The bins come from gonum's stat.Histogram rather than plotter.NewHist,
// whose bin index (x−min)/width can round up to one past the last bin for
// a sample just below the maximum, and which then panics.
func histogramBins(sorted []float64) ([]plotter.HistogramBin, float64) {
	n := min(60, max(10, int(math.Ceil(math.Sqrt(float64(len(sorted)))))))
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if hi == lo {
		// One value: a single bar one unit wide around it.
		n, lo, hi = 1, lo-0.5, hi+0.5
	}
	dividers := floats.Span(make([]float64, n+1), lo, hi)
	// stat.Histogram puts x in bin j when dividers[j] <= x < dividers[j+1];
	// the maximum must fall inside the last bin.
	dividers[n] = math.Nextafter(hi, math.Inf(1))
	counts := stat.Histogram(nil, dividers, sorted, nil)
	bins := make([]plotter.HistogramBin, n)
	for i := range bins {
		bins[i] = plotter.HistogramBin{Min: dividers[i], Max: dividers[i+1], Weight: counts[i]}
	}
	return bins, (hi - lo) / float64(n)
}

// cdfPlot draws the empirical CDF of sorted samples as a step line, with
// the median and p99 marked.
func cdfPlot(title string, sorted []float64) (*plot.Plot, error) {
	n := len(sorted)
	step := max(1, (n+cdfMaxSteps-1)/cdfMaxSteps)
	// The CDF is 0 left of the first sample and i/n from the i-th on.
	pts := plotter.XYs{{X: sorted[0], Y: 0}}
	for i := step; i < n; i += step {
		pts = append(pts, plotter.XY{X: sorted[i-1], Y: float64(i) / float64(n)})
	}
	pts = append(pts, plotter.XY{X: sorted[n-1], Y: 1})
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, err
	}
	line.StepStyle = plotter.PostStep
	line.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	line.Width = vg.Points(1.5)

	p := plot.New()
	p.Title.Text = title + " — CDF"
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "fraction of runs ≤ x"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid(), line)
	for _, m := range []struct {
		p   float64
		clr color.Color
	}{{50, color.RGBA{G: 140, A: 255}}, {99, color.RGBA{R: 200, A: 255}}} {
		v := Percentile(sorted, m.p)
		mark, err := plotter.NewLine(plotter.XYs{{X: v, Y: 0}, {X: v, Y: 1}})
		if err != nil {
			return nil, err
		}
		mark.Color = m.clr
		mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(mark)
		p.Legend.Add(fmt.Sprintf("%s %s ms", PercentileKey(m.p), fmtMS(v)), mark)
	}
	p.Legend.Top = false
	p.Legend.Left = false
	return p, nil
}
