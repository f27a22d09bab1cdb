package prune

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/infer-ml/infer/pkg/onnx"
)

// PlotSensitivity draws one line per layer — the analysis metric (accuracy,
// else agreement, else SQNR) against sparsity — to path, PNG or SVG by its
// extension, written atomically.
func PlotSensitivity(path string, s *Sensitivity) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return fmt.Errorf("plot %s: unknown image type %q (want .png or .svg)", path, filepath.Ext(path))
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
	w, h := 8*vg.Inch, 5*vg.Inch
	var canvas vg.CanvasWriterTo
	if ext == ".png" {
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseBackgroundColor(color.White))}
	} else {
		canvas = vgsvg.New(w, h)
	}
	p.Draw(draw.New(canvas))
	if err := onnx.WriteAtomic(path, func(wr io.Writer) error {
		_, err := canvas.WriteTo(wr)
		return err
	}); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
