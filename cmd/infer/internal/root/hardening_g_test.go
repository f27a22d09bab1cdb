package root

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Hardening (issue 15, item 18): graph inputs with a default value.

// defaultsW and defaultsB are the weights of defaultsModel: y = (x·W + b)·s.
var (
	defaultsW = []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, -0.5, 0.25}
	defaultsB = []float32{0.1, -0.1, 0}
)

// defaultsModel computes y = (x·W + b) * s for x [N 4] and s [N 3], where
// s has the default value [[1 1 1]] (an initializer named s). With
// xDefault, x instead has the default [[1 2 3 4]] and is the only input.
func defaultsModel(xDefault bool) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("defaults", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	y := b.Op("Add", []string{b.Op("MatMul", []string{x, b.Initializer("w", []int64{4, 3}, defaultsW)}), b.Initializer("b", []int64{3}, defaultsB)})
	if xDefault {
		b.Initializer("x", []int64{1, 4}, []float32{1, 2, 3, 4})
	} else {
		s := b.Input("s", tensor.Float32, "N", 3)
		b.Initializer("s", []int64{1, 3}, []float32{1, 1, 1})
		y = b.Op("Mul", []string{y, s})
	}
	b.Node("Identity", []string{y}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 3)
	return b.Model()
}

// defaultsClass is the class defaultsModel gives x (one row of 4) scaled
// by s (one row of 3), computed in Go.
func defaultsClass(x, s []float32) int64 {
	best := int64(0)
	var logits [3]float32
	for c := range logits {
		logits[c] = defaultsB[c]
		for k := range 4 {
			logits[c] += x[k] * defaultsW[3*k+c]
		}
		logits[c] *= s[c]
		if logits[c] > logits[best] {
			best = int64(c)
		}
	}
	return best
}

// writeDefaultsData writes n samples of x to an .npz file, with s when
// fed is set ([1 -1 0.5], [-1 1 1], ... by sample), labelled with the
// class the model gives them with that s (else s's default, ones); it
// returns how many labels differ from those of the default s.
func writeDefaultsData(t *testing.T, path string, n int, fed bool) (changed int) {
	t.Helper()
	x := make([]float32, 4*n)
	s := make([]float32, 3*n)
	labels := make([]int64, n)
	patterns := [][]float32{{1, -1, 0.5}, {-1, 1, 1}, {0.5, 1, -1}, {1, 1, 1}}
	ones := []float32{1, 1, 1}
	for i := range n {
		row := x[4*i : 4*i+4]
		for j := range row {
			row[j] = float32((i*7+j*3)%11) - 5
		}
		si := ones
		if fed {
			si = patterns[i%len(patterns)]
		}
		copy(s[3*i:], si)
		labels[i] = defaultsClass(row, si)
		if labels[i] != defaultsClass(row, ones) {
			changed++
		}
	}
	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	arrays := map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{int64(n), 4}, x), "label": tensor.MustNew([]int64{int64(n)}, labels)}
	if fed {
		arrays["s"] = tensor.MustNew([]int64{int64(n), 3}, s)
	}
	for _, name := range slices.Sorted(maps.Keys(arrays)) {
		if err := w.Add(name, arrays[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return changed
}

// A graph input with an initializer of the same name has a default value
// (IR 4 and later): data that holds it feeds it, otherwise the default
// stands. Before, such an input could never be fed ("s" is not an input
// of the model), and a model whose only input had a default was refused
// with "the model has no inputs to feed".
func TestDefaultedInputsCLI(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "s_default", defaultsModel(false))
	plain := filepath.Join(dir, "plain.npz")
	writeDefaultsData(t, plain, 40, false)
	withS := filepath.Join(dir, "with_s.npz")
	if changed := writeDefaultsData(t, withS, 40, true); changed < 10 {
		t.Fatalf("only %d of 40 labels depend on s; the test cannot tell s fed from s ignored", changed)
	}
	// Labels computed in Go with s's default (plain) or with the s the
	// data holds (with_s): all right at two batch sizes means ONNX Runtime
	// used the default, or the fed s, as it should.
	for _, data := range []string{plain, withS} {
		for _, batch := range []string{"1", "8"} {
			r := infer(t, "eval", model, "--data", data, "--batch-size", batch)
			if r.code != 0 || !strings.Contains(r.stdout, "100.00% (40/40)") {
				t.Fatalf("eval %s --batch-size %s: exit %d\n%s%s", filepath.Base(data), batch, r.code, r.stdout, r.stderr)
			}
		}
	}
	// Random data draws x and leaves s to its default.
	if r := infer(t, "eval", model, "--data", "random"); r.code != 0 {
		t.Fatalf("eval random: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A model whose only input has a default runs on it with random data
	// (16 samples, one run each), and takes x from data that holds it.
	only := writeModel(t, dir, "x_default", defaultsModel(true))
	if r := infer(t, "eval", only, "--data", "random", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"samples": 16`) {
		t.Fatalf("eval random on defaults: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	oneLineError(t, infer(t, "eval", only, "--data", "random", "--batch-size", "4"), 1, "each sample is one run")
	for _, batch := range []string{"1", "8"} {
		if r := infer(t, "eval", only, "--data", plain, "--batch-size", batch); r.code != 0 || !strings.Contains(r.stdout, "100.00% (40/40)") {
			t.Fatalf("eval x_default --batch-size %s: exit %d\n%s%s", batch, r.code, r.stdout, r.stderr)
		}
	}

	// Quantization makes s a constant weight: it works on data without s
	// (the artifact answers like the original at two batch sizes) and
	// refuses data that feeds s, in one line.
	out := filepath.Join(dir, "q.onnx")
	if r := infer(t, "quantize", model, "--data", plain, "-o", out, "--no-progress"); r.code != 0 {
		t.Fatalf("quantize: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, batch := range []string{"1", "8"} {
		if r := infer(t, "eval", out, "--data", plain, "--batch-size", batch); r.code != 0 || !strings.Contains(r.stdout, "(40/40)") {
			t.Fatalf("eval of the quantized model, --batch-size %s: exit %d\n%s%s", batch, r.code, r.stdout, r.stderr)
		}
	}
	oneLineError(t, infer(t, "quantize", model, "--data", withS, "-o", filepath.Join(dir, "q2.onnx"), "--no-progress"), 1,
		"feeds model input s, which has a default value")
}
