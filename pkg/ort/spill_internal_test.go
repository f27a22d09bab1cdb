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
	lib := "" // Init reads INFER_ORT_LIB itself (testutil imports this package)
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
