package testutil

import (
	"testing"

	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/tensor"
)

// testutil's median is the lower median every latency figure uses (it was
// the upper one, so a benchmark's p50 and infer's differed on even counts).
func TestMedianIsLower(t *testing.T) {
	if got := Median([]float64{4, 1, 3, 2}); got != 2 {
		t.Fatalf("Median of 1..4 = %v, want 2", got)
	}
}

// P50 times real runs of a model on ONNX Runtime.
func TestP50RunsModel(t *testing.T) {
	InitORT(t)
	m, err := onnx.Load(Testdata(t, "mlp.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.Zeros(tensor.Float32, []int64{1, 64})
	if err != nil {
		t.Fatal(err)
	}
	if p := P50(t, m.Proto, map[string]*tensor.Tensor{"input": x}, 5); !(p > 0) {
		t.Fatalf("P50 = %v ms", p)
	}
}
