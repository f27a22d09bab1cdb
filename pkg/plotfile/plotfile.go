// Package plotfile writes gonum plots to .png or .svg files atomically:
// the one place bench, prune and distill choose the image format by the
// file name and publish the image (through pkg/atomicfile).
package plotfile

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/infer-ml/infer/pkg/atomicfile"
)

// Supported reports whether path names an image type Write can produce:
// .png or .svg, in any case.
func Supported(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".png" || ext == ".svg"
}

// Check returns an error naming path when its type is not supported.
func Check(path string) error {
	if !Supported(path) {
		return fmt.Errorf("plot %s: unknown image type %q (want .png or .svg)", path, filepath.Ext(path))
	}
	return nil
}

// Write draws an image of w × h with draw (a white background for PNG)
// and writes it to path atomically, in the format its extension names;
// an existing file is replaced only with replace (--force).
func Write(path string, replace bool, w, h vg.Length, paint func(draw.Canvas)) error {
	if err := Check(path); err != nil {
		return err
	}
	var canvas vg.CanvasWriterTo
	if strings.ToLower(filepath.Ext(path)) == ".png" {
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseBackgroundColor(color.White))}
	} else {
		canvas = vgsvg.New(w, h)
	}
	paint(draw.New(canvas))
	if err := atomicfile.Write(path, replace, func(wr io.Writer) error {
		_, err := canvas.WriteTo(wr)
		return err
	}); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// Grid draws rows of plots aligned in tiles and writes them to path (see
// Write).
func Grid(path string, replace bool, w, h vg.Length, rows [][]*plot.Plot, tiles draw.Tiles) error {
	return Write(path, replace, w, h, func(dc draw.Canvas) {
		cells := plot.Align(rows, tiles, dc)
		for i, row := range rows {
			for j, p := range row {
				p.Draw(cells[i][j])
			}
		}
	})
}
