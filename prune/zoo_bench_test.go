package prune

import (
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

// BenchmarkZooChannel prunes half the channels of the zoo's CNNs at their
// benchmark size (MobileNetV3-Small-style and ResNet-18-style at 224×224,
// DB with FPN at 640×640; random data, no fine-tuning), one intra-op
// thread, and measures the result against the source in 5 alternating
// rounds of 18 runs. Targets (channel-pruning issue): MobileNetV3 and DB
// FLOPs ≤ 0.6× and ≥ 1.4×, ResNet FLOPs ≤ 0.5× and ≥ 1.6×.
// INFER_BENCH_ZOO=a,b picks architectures.
func BenchmarkZooChannel(b *testing.B) {
	testutil.InitORT(b)
	pick := os.Getenv("INFER_BENCH_ZOO")
	for _, a := range testmodels.ZooBenchmark() {
		if a.Name != "mobilenetv3" && a.Name != "resnet" && a.Name != "dbnet" ||
			pick != "" && !strings.Contains(","+pick+",", ","+a.Name+",") {
			continue
		}
		b.Run(a.Name, func(b *testing.B) {
			one := ort.Options{IntraOpThreads: 1}
			po := probe.Options{User: a.ShapeA, Seed: 1}
			shapes, err := probe.Find(a.Model, po)
			if err != nil {
				b.Fatal(err)
			}
			ev, err := dataset.Open("random", dataset.SpecsFromGraph(a.Model.Graph), dataset.Options{RandomSamples: 4, Shapes: shapes.A, Seed: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer ev.Close()
			for i := 0; i < b.N; i++ {
				res, err := Prune(a.Model, Options{Pattern: Channel, Sparsity: 0.5, Eval: ev, Session: one, Shapes: shapes, Probe: po})
				if err != nil {
					b.Fatal(err)
				}
				in, err := eval.FirstBatch(ev)
				if err != nil {
					b.Fatal(err)
				}
				sp, err := eval.CompareSpeedOn(a.Model, res.Model, one, in, 90)
				if err != nil {
					b.Fatal(err)
				}
				refused := 0
				for _, g := range res.Groups {
					if g.Reason != "" {
						refused++
					}
				}
				b.ReportMetric(float64(res.After.Params)/float64(res.Before.Params), "params-ratio")
				b.ReportMetric(float64(res.After.FLOPs)/float64(res.Before.FLOPs), "flops-ratio")
				b.ReportMetric(sp.RefP50MS, "orig-p50-ms")
				b.ReportMetric(sp.Speedup, "speedup")
				b.ReportMetric(sp.Low, "speedup-low")
				b.ReportMetric(sp.High, "speedup-high")
				b.ReportMetric(float64(refused), "refused-groups")
			}
		})
	}
}
