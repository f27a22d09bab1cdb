package prune

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/infer-ml/infer/pkg/plotfile"
)

// PlotSensitivity draws one line per layer — the analysis metric (accuracy,
// else agreement, else SQNR) against sparsity — to path, PNG or SVG by its
// extension, written atomically.
func PlotSensitivity(path string, s *Sensitivity, replace bool) error {
	if err := plotfile.Check(path); err != nil {
		return err
	}
	if s == nil || len(s.Layers) == 0 {
		return fmt.Errorf("plot %s: no sensitivity measurements", path)
	}
	p := plot.New()
	p.Title.Text = "Sensitivity: each layer pruned on its own"
	p.X.Label.Text = "sparsity"
	value := func(pt Point) (float64, bool) {
		switch s.Metric {
		case "accuracy drop":
			if pt.Accuracy != nil {
				return *pt.Accuracy, true
			}
		case "disagreement":
			if pt.Agreement != nil {
				return *pt.Agreement, true
			}
		default:
			if pt.SQNR != nil {
				return *pt.SQNR, true
			}
		}
		return 0, false
	}
	switch s.Metric {
	case "accuracy drop":
		p.Y.Label.Text = "top-1 accuracy (%)"
	case "disagreement":
		p.Y.Label.Text = "top-1 agreement with the original (%)"
	default:
		p.Y.Label.Text = "output SQNR (dB)"
	}
	if s.RefAccuracy != nil && s.Metric == "accuracy drop" {
		ref := plotter.NewFunction(func(float64) float64 { return *s.RefAccuracy })
		ref.Color = color.Gray{Y: 128}
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ref)
		p.Legend.Add("original", ref)
	}
	for i, l := range s.Layers {
		var xy plotter.XYs
		for _, pt := range l.Points {
			if v, ok := value(pt); ok {
				xy = append(xy, plotter.XY{X: pt.Sparsity, Y: v})
			}
		}
		if len(xy) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		c := plotutil.Color(i)
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(i)
		line.Dashes = plotutil.Dashes(i / 7)
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("%s (%s)", l.Name, l.OpType), line, points)
	}
	p.X.Min, p.X.Max = 0, 1
	p.Legend.Top = false
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return plotfile.Write(path, replace, 8*vg.Inch, 5*vg.Inch, p.Draw)
}
