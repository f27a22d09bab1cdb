package distill

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/infer-ml/infer/pkg/plotfile"
)

// Plot size: one row of panels.
const (
	plotPanelWidth = 5.5 * vg.Inch
	plotHeight     = 4 * vg.Inch
)

// PlotHistory draws the learning curve of a run — the training loss per
// epoch and, when the run measured them, the evaluation agreement with the
// teacher and the accuracy per epoch (with the teacher's accuracy,
// teacherAccuracy, as a dashed line when not nil) — to path, PNG or SVG by
// its extension (any case), written atomically. Values that are NaN or
// infinite are left out. It returns an error naming path for another
// extension, for a history without a finite loss, or when writing fails.
func PlotHistory(path string, history []EpochRecord, teacherAccuracy *float64, replace bool) error {
	if err := plotfile.Check(path); err != nil {
		return err
	}
	loss := curve(history, func(r EpochRecord) *float64 { return &r.TrainLoss })
	if len(loss) == 0 {
		return fmt.Errorf("plot %s: no epoch with a finite training loss", path)
	}
	lp, err := lossPlot(loss)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	panels := []*plot.Plot{lp}
	ep, err := evalPlot(history, teacherAccuracy)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if ep != nil {
		panels = append(panels, ep)
	}
	return drawPanels(path, panels, replace)
}

// curve returns the finite values that value picks from each epoch, with
// the epoch number as X; nil values are left out.
func curve(history []EpochRecord, value func(EpochRecord) *float64) plotter.XYs {
	var xy plotter.XYs
	for _, r := range history {
		if v := value(r); v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
			xy = append(xy, plotter.XY{X: float64(r.Epoch), Y: *v})
		}
	}
	return xy
}

// lossPlot draws the training loss per epoch.
func lossPlot(loss plotter.XYs) (*plot.Plot, error) {
	p := newEpochPlot("Training loss (mean over the epoch's steps)")
	p.Y.Label.Text = "loss"
	if err := addLine(p, 0, "", loss); err != nil {
		return nil, err
	}
	return p, nil
}

// evalPlot draws the evaluation agreement and accuracy per epoch, or
// returns nil when no epoch measured either.
func evalPlot(history []EpochRecord, teacherAccuracy *float64) (*plot.Plot, error) {
	agreement := curve(history, func(r EpochRecord) *float64 { return r.EvalAgreement })
	accuracy := curve(history, func(r EpochRecord) *float64 { return r.EvalAccuracy })
	if len(agreement) == 0 && len(accuracy) == 0 {
		return nil, nil
	}
	p := newEpochPlot("Evaluation after each epoch")
	p.Y.Label.Text = "top-1 (%)"
	if teacherAccuracy != nil && len(accuracy) > 0 {
		ref := plotter.NewFunction(func(float64) float64 { return *teacherAccuracy })
		ref.Color = color.Gray{Y: 128}
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ref)
		p.Legend.Add("teacher accuracy", ref)
	}
	if err := addLine(p, 0, "agreement with the teacher", agreement); err != nil {
		return nil, err
	}
	if err := addLine(p, 1, "student accuracy", accuracy); err != nil {
		return nil, err
	}
	if teacherAccuracy != nil && len(accuracy) > 0 {
		// A function line has no data range: make room for it.
		p.Y.Min = math.Min(p.Y.Min, *teacherAccuracy-0.5)
		p.Y.Max = math.Max(p.Y.Max, math.Min(100, *teacherAccuracy+0.5))
	}
	// Learning curves rise from the bottom left: the legend goes top left,
	// below the teacher's line.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.YOffs = -vg.Inch / 4
	return p, nil
}

// newEpochPlot returns a plot with epochs on the X axis, integer ticks and
// a grid.
func newEpochPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.X.Tick.Marker = plot.TickerFunc(epochTicks)
	p.Add(plotter.NewGrid())
	return p
}

// epochTicks labels whole epochs, at most about ten of them.
func epochTicks(lo, hi float64) []plot.Tick {
	first, last := math.Ceil(lo), math.Floor(hi)
	step := math.Max(1, math.Ceil((last-first+1)/10))
	var ticks []plot.Tick
	for e := first; e <= last; e += step {
		ticks = append(ticks, plot.Tick{Value: e, Label: fmt.Sprintf("%.0f", e)})
	}
	return ticks
}

// addLine adds xy as the i-th styled line with points, and to the legend
// when name is not empty; an empty xy adds nothing.
func addLine(p *plot.Plot, i int, name string, xy plotter.XYs) error {
	if len(xy) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return err
	}
	c := plotutil.Color(i)
	line.Color, points.Color = c, c
	points.Shape = plotutil.Shape(i)
	p.Add(line, points)
	if name != "" {
		p.Legend.Add(name, line, points)
	}
	return nil
}

// drawPanels draws panels side by side and writes the image to path.
func drawPanels(path string, panels []*plot.Plot, replace bool) error {
	tiles := draw.Tiles{
		Rows: 1, Cols: len(panels),
		PadX: vg.Inch / 2, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 4,
	}
	return plotfile.Grid(path, replace, plotPanelWidth*vg.Length(len(panels)), plotHeight, [][]*plot.Plot{panels}, tiles)
}
