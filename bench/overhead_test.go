package bench_test

import (
	"sort"
	"testing"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/infer-ml/infer/bench"
	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
)

// millisecondModel is an MLP that takes about a millisecond per run at
// batch 8 on one thread of this project's machines.
func millisecondModel(t testing.TB) (*onnx.Model, []byte) {
	t.Helper()
	m := testmodels.MLP(testmodels.MLPConfig{In: 512, Hidden: []int64{1024, 512}, Classes: 10, Seed: 5})
	b, err := testmodels.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := onnx.LoadBytes(b, "", onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm.Path = "mlp-1ms.onnx"
	return lm, b
}

// bareLoop times ONNX Runtime's Run on pre-bound tensors with nothing of
// infer in between, and returns the p50 in milliseconds.
func bareLoop(t testing.TB, model []byte, batch, iters int) float64 {
	t.Helper()
	in, err := ortgo.NewTensor(ortgo.NewShape(int64(batch), 512), make([]float32, batch*512))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	for i, d := range in.GetData() {
		in.GetData()[i] = d + float32(i%7)*0.1
	}
	out, err := ortgo.NewEmptyTensor[float32](ortgo.NewShape(int64(batch), 10))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	so.SetIntraOpNumThreads(1)
	s, err := ortgo.NewAdvancedSessionWithONNXData(model, []string{"input"}, []string{"logits"}, []ortgo.Value{in}, []ortgo.Value{out}, so)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	for i := 0; i < 10; i++ {
		s.Run()
	}
	lat := make([]float64, iters)
	for i := range lat {
		t0 := time.Now()
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		lat[i] = float64(time.Since(t0)) / 1e6
	}
	sort.Float64s(lat)
	return bench.Percentile(lat, 50)
}

func inferLoop(t testing.TB, m *onnx.Model, batch, iters int) float64 {
	t.Helper()
	rep, err := bench.Run(bench.Config{
		Models: []bench.Model{{Path: m.Path, Model: m}}, Batches: []int{batch},
		Iterations: iters, IntraOpThreads: 1, Percentiles: []float64{50},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Results[0].Latency.Percentiles["p50"]
}

// BenchmarkHarnessOverhead measures infer's p50 against a bare ONNX Runtime
// loop on the same model and inputs, alternating blocks so both see the
// same machine state; the reported ratio should be within 1 ± 0.03.
func BenchmarkHarnessOverhead(b *testing.B) {
	testutil.InitORT(b)
	m, raw := millisecondModel(b)
	const batch, iters, blocks = 8, 300, 5
	var bare, ours []float64
	for i := 0; i < b.N; i++ {
		for k := 0; k < blocks; k++ {
			bare = append(bare, bareLoop(b, raw, batch, iters))
			ours = append(ours, inferLoop(b, m, batch, iters))
		}
	}
	sort.Float64s(bare)
	sort.Float64s(ours)
	pb, po := bench.Percentile(bare, 50), bench.Percentile(ours, 50)
	b.ReportMetric(pb, "bare-p50-ms")
	b.ReportMetric(po, "infer-p50-ms")
	b.ReportMetric(po/pb, "infer/bare")
}
