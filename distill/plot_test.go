package distill

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// history returns n epochs of a run that measured agreement and, with
// labels, accuracy.
func history(n int, labels bool) []EpochRecord {
	var h []EpochRecord
	for e := 1; e <= n; e++ {
		agree := 80 + float64(e)
		r := EpochRecord{Epoch: e, TrainLoss: 2 / float64(e), EvalAgreement: &agree, LR: 1e-3}
		if labels {
			acc := agree - 0.5
			r.EvalAccuracy = &acc
		}
		h = append(h, r)
	}
	return h
}

// TestPlotHistoryPNG: a PNG with two panels (loss, evaluation) decodes;
// a run without evaluation metrics (mse loss) gets the loss panel alone,
// half as wide.
func TestPlotHistoryPNG(t *testing.T) {
	dir := t.TempDir()
	teacher := 99.1
	width := func(name string, h []EpochRecord) int {
		p := filepath.Join(dir, name)
		if err := PlotHistory(p, h, &teacher, false); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return img.Bounds().Dx()
	}
	noEval := history(3, false)
	for i := range noEval {
		noEval[i].EvalAgreement = nil
	}
	two, one := width("curve.png", history(10, true)), width("loss.PNG", noEval)
	if two != 2*one {
		t.Fatalf("widths %d (loss and evaluation) and %d (loss alone): want two panels and one", two, one)
	}
}

// TestPlotHistorySVG: the SVG names the curves drawn, and leaves out the
// accuracy and teacher lines when the data had no labels.
func TestPlotHistorySVG(t *testing.T) {
	dir := t.TempDir()
	teacher := 99.1
	p := filepath.Join(dir, "curve.svg")
	if err := PlotHistory(p, history(4, true), &teacher, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Training loss", "agreement with the teacher", "student accuracy", "teacher accuracy", "epoch"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if err := PlotHistory(p, history(4, false), nil, true); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if !strings.Contains(string(b), "agreement with the teacher") || strings.Contains(string(b), "accuracy") {
		t.Errorf("unlabelled run: want agreement only")
	}
}

// TestPlotHistoryErrors: another extension, and a history without a
// finite loss, are errors naming the file; nothing is written.
func TestPlotHistoryErrors(t *testing.T) {
	dir := t.TempDir()
	nan := history(2, true)
	for i := range nan {
		nan[i].TrainLoss = math.NaN()
	}
	for _, c := range []struct {
		name string
		h    []EpochRecord
		want string
	}{
		{"curve.jpg", history(2, true), `unknown image type ".jpg"`},
		{"empty.png", nil, "no epoch with a finite training loss"},
		{"nan.svg", nan, "no epoch with a finite training loss"},
	} {
		p := filepath.Join(dir, c.name)
		err := PlotHistory(p, c.h, nil, false)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", c.name)
		}
	}
}
