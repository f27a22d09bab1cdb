package plotfile

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The file type follows the extension in any case; anything else is
// refused before a file is made.
func TestWriteByExtension(t *testing.T) {
	dir := t.TempDir()
	p := plot.New()
	line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.Add(line)
	tiles := draw.Tiles{Rows: 1, Cols: 2}
	for _, name := range []string{"a.png", "b.SVG", "c.Png"} {
		path := filepath.Join(dir, name)
		if err := Grid(path, 4*vg.Inch, 2*vg.Inch, [][]*plot.Plot{{p, p}}, tiles); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(filepath.Ext(name), ".svg") {
			if !bytes.Contains(b, []byte("<svg")) {
				t.Fatalf("%s is not SVG", name)
			}
		} else if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	bad := filepath.Join(dir, "d.jpg")
	if err := Write(bad, vg.Inch, vg.Inch, p.Draw); err == nil || !strings.Contains(err.Error(), "want .png or .svg") {
		t.Fatalf("jpg: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatal("a refused plot left a file")
	}
	if Supported("x.pdf") || !Supported("x.PNG") {
		t.Fatal("Supported")
	}
}
