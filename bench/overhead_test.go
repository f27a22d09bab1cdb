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
// batch 64 on one thread of this project's machines.
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
// infer in between, and returns the latencies in milliseconds.
func bareLoop(t testing.TB, model []byte, batch, iters int) []float64 {
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
	return lat
}

func inferLoop(t testing.TB, m *onnx.Model, batch, iters int) []float64 {
	t.Helper()
	rep, err := bench.Run(bench.Config{
		Models: []bench.Model{{Path: m.Path, Model: m}}, Batches: []int{batch},
		Iterations: iters, IntraOpThreads: 1, Percentiles: []float64{50},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Results[0].Samples
}

// BenchmarkHarnessOverhead measures infer's p50 against a bare ONNX Runtime
// loop on the same model and inputs. The two alternate in short blocks so
// both see the same machine state, and each p50 is over all its samples;
// the reported ratio should be within 1 ± 0.03.
func BenchmarkHarnessOverhead(b *testing.B) {
	testutil.InitORT(b)
	m, raw := millisecondModel(b)
	const batch, iters, blocks = 64, 100, 20
	var bare, ours []float64
	for i := 0; i < b.N; i++ {
		for k := 0; k < blocks; k++ {
			bare = append(bare, bareLoop(b, raw, batch, iters)...)
			ours = append(ours, inferLoop(b, m, batch, iters)...)
		}
	}
	sort.Float64s(bare)
	sort.Float64s(ours)
	pb, po := bench.Percentile(bare, 50), bench.Percentile(ours, 50)
	b.ReportMetric(pb, "bare-p50-ms")
	b.ReportMetric(po, "infer-p50-ms")
	b.ReportMetric(po/pb, "infer/bare")
}

// BenchmarkServerOverload runs the server scenario at about twice the
// model's capacity and at about a third of it. Overloaded, requests queue:
// latency (from each request's scheduled arrival) grows through the run
// and the achieved rate stays near capacity; underloaded, latency stays
// near the service time. Metrics: p50 of the first and last tenth of
// requests at each load, as multiples of the service time.
func BenchmarkServerOverload(b *testing.B) {
	testutil.InitORT(b)
	m, _ := millisecondModel(b)
	const batch = 64
	service := inferLoop(b, m, batch, 200)
	sort.Float64s(service)
	svc := bench.Percentile(service, 50)
	capacity := 1000 / svc // requests per second, one worker
	for i := 0; i < b.N; i++ {
		for _, load := range []struct {
			name string
			rate float64
		}{{"over", 2 * capacity}, {"under", capacity / 3}} {
			rep, err := bench.Run(bench.Config{
				Models: []bench.Model{{Path: m.Path, Model: m}}, Batches: []int{batch},
				Scenario: bench.Server, Rate: load.rate, Iterations: 600, IntraOpThreads: 1,
			})
			if err != nil {
				b.Fatal(err)
			}
			r := rep.Results[0]
			n := len(r.Samples)
			head := append([]float64{}, r.Samples[:n/10]...)
			tail := append([]float64{}, r.Samples[n-n/10:]...)
			sort.Float64s(head)
			sort.Float64s(tail)
			b.ReportMetric(bench.Percentile(head, 50)/svc, load.name+"-first-p50/service")
			b.ReportMetric(bench.Percentile(tail, 50)/svc, load.name+"-last-p50/service")
			b.ReportMetric(r.RateAchieved/load.rate, load.name+"-achieved/target")
		}
	}
	b.ReportMetric(svc, "service-p50-ms")
}
