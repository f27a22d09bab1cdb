package quantize

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
)

// BenchmarkZooInt8 quantizes every architecture of the zoo at its
// benchmark size with the defaults `infer quantize MODEL --data random`
// uses (static, uint8 activations on CPU, latency-aware search; the
// transformer encoder in dynamic mode as well), one intra-op thread, and
// measures the written model against the float one in 5 alternating
// rounds of 18 runs. Targets (latency-aware int8 issue): mobilenetv3 ≥ 1.5×, dbnet
// ≥ 1.5×, crnn ≥ 1.3×, encoder dynamic ≥ 1.8×, resnet ≥ 2×; never
// slower than float beyond the rounds' spread. INFER_BENCH_ZOO=a,b picks
// architectures.
func BenchmarkZooInt8(b *testing.B) {
	testutil.InitORT(b)
	pick := os.Getenv("INFER_BENCH_ZOO")
	for _, a := range testmodels.ZooBenchmark() {
		if pick != "" && !strings.Contains(","+pick+",", ","+a.Name+",") {
			continue
		}
		modes := []Mode{Static}
		if a.Name == "encoder" || strings.HasPrefix(a.Name, "mlp") {
			modes = append(modes, Dynamic)
		}
		for _, mode := range modes {
			b.Run(a.Name+"/"+string(mode), func(b *testing.B) {
				zooInt8(b, a, mode)
			})
		}
	}
}

func zooInt8(b *testing.B, a testmodels.Arch, mode Mode) {
	one := ort.Options{IntraOpThreads: 1}
	po := probe.Options{User: a.ShapeA, Values: a.Values, Seed: 1}
	shapes, err := probe.Find(a.Model, po)
	if err != nil {
		b.Fatal(err)
	}
	data := func(n int, seed int64) dataset.Source {
		s, err := dataset.Open("random", dataset.SpecsFromGraph(a.Model.Graph), dataset.Options{RandomSamples: n,
			Shapes: shapes.A, Values: a.Values, Seed: seed})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	for i := 0; i < b.N; i++ {
		o := Options{Mode: mode, Plan: PlanOptions{PerChannel: true}, Eval: data(8, 2), Session: one, Shapes: shapes, Probe: po}
		if mode == Static {
			o.Calibration = data(32, 1)
		}
		res, err := Quantize(a.Model, o)
		if errors.Is(err, ErrNothingToQuantize) {
			b.Skip(err)
		}
		if err != nil {
			b.Fatal(err)
		}
		in, err := eval.FirstBatch(o.Eval)
		if err != nil {
			b.Fatal(err)
		}
		sp, err := eval.CompareSpeedOn(a.Model, res.Model, one, in, 90)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(sp.RefP50MS, "float-p50-ms")
		b.ReportMetric(sp.Speedup, "speedup")
		b.ReportMetric(sp.Low, "speedup-low")
		b.ReportMetric(sp.High, "speedup-high")
		b.ReportMetric(float64(res.Validation.Outputs[0].SQNR()), "SQNR-dB")
		if o := res.Validation.Primary(); o != nil {
			b.ReportMetric(100*o.Agreement(), "top1-agree-%")
		}
		fb := 0.0
		if res.Fallback != nil {
			fb = 1
		}
		b.ReportMetric(fb, "float-fallback")
		floatRegions := 0
		for _, r := range res.Regions {
			if r.Decision == "float" {
				floatRegions++
			}
		}
		b.ReportMetric(float64(floatRegions), "float-regions")
	}
}
