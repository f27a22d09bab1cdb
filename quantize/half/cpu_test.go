package half

import (
	"slices"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// A float16 Transpose keeping the last axis that feeds a MatMul with a
// constant B crashes ONNX Runtime 1.30's CPU session creation at graph
// level all (the CRNN head [T, N, C] → [N, T, C] → classes). Without
// CPUBlockNodes this test dies with SIGSEGV.
func TestCPUTransposeMatMul(t *testing.T) {
	b := testmodels.NewBuilder("crnn_head", 13)
	r := testmodels.NewRand(1)
	x := b.Input("x", tensor.Float32, "T", "N", 16)
	seq := b.Op("Reshape", []string{x, b.InitializerInt64("shape", []int64{3}, []int64{0, 0, 16})})
	tr := b.Op("Transpose", []string{seq}, testmodels.AttrInts("perm", 1, 0, 2))
	w := b.Initializer("w", []int64{16, 5}, r.Xavier([]int64{16, 5}, 16, 5))
	moved := b.Op("Transpose", []string{seq}, testmodels.AttrInts("perm", 1, 2, 0)) // moves the last axis: fine
	b.Node("MatMul", []string{tr, w}, []string{"y"})
	b.Node("ReduceSum", []string{moved, b.InitializerInt64("axes", []int64{1}, []int64{2})}, []string{"z"})
	b.Output("y", tensor.Float32, "N", "T", 5)
	b.Output("z", tensor.Float32, "N", 16)
	m := prepped(t, b.Model())

	block := CPUBlockNodes(m, tensor.Float16)
	want := []string{producerName(m, tr), producerName(m, "y")}
	if !slices.Equal(block, want) {
		t.Fatalf("CPUBlockNodes = %v, want %v", block, want)
	}
	if got := CPUBlockNodes(m, tensor.BFloat16Type); got != nil {
		t.Fatalf("bfloat16: %v", got)
	}
	out, _ := convert(t, m, Options{Type: tensor.Float16, KeepIOTypes: true, BlockNodes: block})
	if err := sessionErr(out); err != nil {
		t.Fatalf("converted model does not load: %v", err)
	}
	feeds := randomFeeds(t, m, 3)
	if q := sqnr(t, run(t, m, feeds), run(t, out, feeds)); q < minSQNRFloat16 {
		t.Fatalf("SQNR %.1f dB", q)
	}
}

func producerName(m *onnxpb.ModelProto, value string) string {
	for _, n := range m.GetGraph().GetNode() {
		if slices.Contains(n.GetOutput(), value) {
			return n.GetName()
		}
	}
	return ""
}
