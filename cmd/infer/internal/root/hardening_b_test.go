package root

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// digitsLabelled writes the first n MNIST digits to path, the last one
// labelled last instead of its digit.
func digitsLabelled(t *testing.T, path string, n int, last int64) {
	npzHead(t, digits(t), path, n, func(name string, rows *tensor.Tensor) {
		if name == "label" {
			tensor.Values[int64](rows)[n-1] = last
		}
	})
}

// Labels that are not classes of the model's output (10 for MNIST's ten
// classes, or -1) made both models score lower, so gates passed; eval and
// quantize refuse them with one line naming the file, the label array,
// the sample and the value.
func TestOutOfRangeLabelsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []int64{10, -1} {
		data := filepath.Join(dir, fmt.Sprintf("label%d.npz", bad))
		digitsLabelled(t, data, 12, bad)
		want := fmt.Sprintf(`%s: label array "label", sample 11: label %d is `, data, bad)
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			oneLineError(t, infer(t, "eval", mnist(t), "--data", data), 1, want)
			out := filepath.Join(dir, fmt.Sprintf("q%d.onnx", bad))
			oneLineError(t, infer(t, "quantize", mnist(t), "--data", data, "-o", out), 1, want)
		})
	}
}

// withinTimeout runs f and fails the test if it has not returned after
// 10 s (a FIFO opened for reading blocks until a writer comes).
func withinTimeout(t *testing.T, what string, f func() result) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- f() }()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s hangs", what)
		return result{}
	}
}

// A FIFO inside a --data folder, as a test-data input, as a model's
// external data or as the model is refused at once, not opened and
// waited on.
func TestFIFOInputsRefused(t *testing.T) {
	dir := t.TempDir()
	mkfifo := func(path string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	npzDir := filepath.Join(dir, "npz")
	os.Mkdir(npzDir, 0o755)
	digitsLabelled(t, filepath.Join(npzDir, "a.npz"), 4, 0)
	npzFIFO := mkfifo(filepath.Join(npzDir, "b.npz"))
	pbFIFO := mkfifo(filepath.Join(dir, "pb", "test_data_set_0", "input_0.pb"))

	m := loadMLP(t)
	w := m.Graph.Initializer[0]
	w.RawData, w.DataLocation = nil, onnxpb.TensorProto_EXTERNAL
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: "location", Value: "w.bin"}}
	extDir := filepath.Join(dir, "ext")
	os.Mkdir(extDir, 0o755)
	extFIFO := mkfifo(filepath.Join(extDir, "w.bin"))
	model := writeProto(t, extDir, "mlp.onnx", m)
	modelFIFO := mkfifo(filepath.Join(dir, "model.onnx"))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"npz in a data folder", []string{"eval", mnist(t), "--data", npzDir}, npzFIFO + " is not a regular file"},
		{"test-data input", []string{"eval", mnist(t), "--data", filepath.Join(dir, "pb")}, pbFIFO + " is not a regular file"},
		{"external data", []string{"eval", model, "--data", "random"}, extFIFO + " is not a regular file"},
		{"model", []string{"eval", modelFIFO, "--data", "random"}, modelFIFO + " is not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := withinTimeout(t, c.name, func() result { return infer(t, c.args...) })
			oneLineError(t, r, 1, c.want)
		})
	}
}
