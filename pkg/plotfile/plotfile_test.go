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
		if err := Grid(path, false, 4*vg.Inch, 2*vg.Inch, [][]*plot.Plot{{p, p}}, tiles); err != nil {
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
	if err := Write(bad, false, vg.Inch, vg.Inch, p.Draw); err == nil || !strings.Contains(err.Error(), "want .png or .svg") {
		t.Fatalf("jpg: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatal("a refused plot left a file")
	}
	if Supported("x.pdf") || !Supported("x.PNG") {
		t.Fatal("Supported")
	}
}

// An existing plot is replaced only with replace (--force), so a plot
// that appeared after the run's output checks is not overwritten.
func TestWriteReplacesOnlyWhenAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.svg")
	if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := plot.New()
	if err := Write(path, false, vg.Inch, vg.Inch, p.Draw); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("without replace: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine" {
		t.Fatal("the existing file was replaced")
	}
	if err := Write(path, true, vg.Inch, vg.Inch, p.Draw); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("<svg")) {
		t.Fatal("replace did not write the plot")
	}
}
