package ort

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// A model with more weights than spillBytes reaches ONNX Runtime through
// a temporary file with external data: it answers exactly as from bytes,
// extra outputs included, and the temporary folder is gone once the
// session has started.
func TestSpilledSessionMatches(t *testing.T) {
	initORT(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	b := testmodels.NewBuilder("spill", 17)
	x := b.Input("x", tensor.Float32, "N", 3)
	w := make([]float32, 3*600)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	h := b.Op("MatMul", []string{x, b.Initializer("w", []int64{3, 600}, w)})
	b.Node("Relu", []string{h}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 600)
	m := b.Model()
	in, err := tensor.New([]int64{2, 3}, []float32{1, 2, 3, -1, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	run := func() map[string]*tensor.Tensor {
		s, err := NewSessionFromModel(m, Options{ExtraOutputs: []string{h}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.Run(map[string]*tensor.Tensor{"x": in})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := run()
	old := spillBytes
	spillBytes = 1
	defer func() { spillBytes = old }()
	got := run()
	for _, name := range []string{"y", h} {
		if !slices.Equal(got[name].Data().([]float32), want[name].Data().([]float32)) {
			t.Fatalf("%s differs when the model is spilled", name)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if len(m.Graph.Initializer[0].GetRawData()) != 4*len(w) {
		t.Fatal("spilling changed the caller's model")
	}
}

// A large half-precision model's untyped extra outputs are typed by asking
// ONNX Runtime through the scratch file too (outputInfo), and read back
// as float16.
func TestSpilledHalfExtraOutput(t *testing.T) {
	initORT(t)
	t.Setenv("TMPDIR", t.TempDir())
	b := testmodels.NewBuilder("halfspill", 17)
	x := b.Input("x", tensor.Float32, 4)
	a := b.Op("Add", []string{x, b.Initializer("w", []int64{4}, []float32{1, 1, 1, 1})})
	h := b.Op("Cast", []string{a}, testmodels.AttrInt("to", int64(tensor.Float16)))
	b.Node("Cast", []string{b.Op("Relu", []string{h})}, []string{"y"}, testmodels.AttrInt("to", int64(tensor.Float32)))
	b.Output("y", tensor.Float32, 4)
	old := spillBytes
	spillBytes = 1
	defer func() { spillBytes = old }()
	s, err := NewSessionFromModel(b.Model(), Options{ExtraOutputs: []string{h}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{4}, []float32{1, -3, 2, 0})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[h]; got == nil || got.DType() != tensor.Float16 {
		t.Fatalf("extra output %q = %v, want float16", h, got)
	}
}

// initORT loads the repository's ONNX Runtime as testutil.InitORT does
// (which this package's internal tests cannot import: testutil imports it).
func initORT(t *testing.T) {
	t.Helper()
	lib := "" // Init reads INFER_ORT_LIB itself
	if os.Getenv(EnvInferLib) == "" {
		abs, err := filepath.Abs(filepath.Join("..", "..", ".ort", LibFileName))
		if err != nil {
			t.Fatal(err)
		}
		lib = abs
	}
	if _, err := Init(lib); err != nil {
		t.Fatalf("ONNX Runtime: %v (run `make setup`)", err)
	}
}
