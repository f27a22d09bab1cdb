package prune

import (
	"fmt"
	"math"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

func benchData(b *testing.B, m *onnxpb.ModelProto, n int) dataset.Source {
	src, err := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), dataset.Options{RandomSamples: n, BatchSize: n, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src
}

// BenchmarkChannelCNN224 prunes half the channels of the testdata CNN at
// 224×224 and compares it with the original: parameters, FLOPs and CPU
// latency (batch 1, one intra-op thread, alternating blocks). Targets:
// parameters ≤ 0.3×, speedup ≥ 1.6×.
func BenchmarkChannelCNN224(b *testing.B) {
	testutil.InitORT(b)
	m := testmodels.CNN(testmodels.CNN224Config())
	res, err := Prune(m, Options{Pattern: Channel, Sparsity: 0.5, Eval: benchData(b, m, 1), MaxAccuracyDrop: -1, LatencyRuns: 5})
	if err != nil {
		b.Fatal(err)
	}
	src := benchData(b, m, 1)
	in, err := src.Next()
	if err != nil {
		b.Fatal(err)
	}
	var orig, pruned []float64
	for i := 0; i < b.N; i++ {
		for k := 0; k < 5; k++ {
			orig = append(orig, testutil.P50(b, m, in.Inputs, 20))
			pruned = append(pruned, testutil.P50(b, res.Model, in.Inputs, 20))
		}
	}
	b.ReportMetric(float64(res.After.Params)/float64(res.Before.Params), "params-ratio")
	b.ReportMetric(float64(res.After.FLOPs)/float64(res.Before.FLOPs), "flops-ratio")
	b.ReportMetric(testutil.Median(orig), "orig-p50-ms")
	b.ReportMetric(testutil.Median(orig)/testutil.Median(pruned), "speedup")
}

// BenchmarkExactSparsity prunes the 1024-wide MLP and the 224×224 CNN
// unstructured (50%, layer scope) and 2:4, and reports the largest gap
// between a pruned weight's sparsity and the target (0 when exact) and
// whether every N:M group holds.
func BenchmarkExactSparsity(b *testing.B) {
	testutil.InitORT(b)
	models := []*onnxpb.ModelProto{
		testmodels.MLP(testmodels.MLPConfig{In: 1024, Hidden: []int64{1024, 1024, 1024}, Classes: 1024, Seed: 3}),
		testmodels.CNN(testmodels.CNN224Config()),
	}
	for i := 0; i < b.N; i++ {
		gap, violating := 0.0, int64(0)
		for _, m := range models {
			for _, p := range []Pattern{Unstructured, NM(2, 4)} {
				o := Options{Pattern: p, Sparsity: 0.5, Eval: benchData(b, m, 1), MaxAccuracyDrop: -1, LatencyRuns: 1}
				o.Selection.KeepFirstLast = p.Kind == "nm" // the CNN's first conv has 3 input channels
				res, err := Prune(m, o)
				if err != nil {
					b.Fatal(err)
				}
				for _, l := range res.Layers {
					want := math.Round(0.5*float64(l.Params)) / float64(l.Params)
					gap = math.Max(gap, math.Abs(l.Sparsity-want))
					violating += l.GroupsViolating
				}
			}
		}
		b.ReportMetric(gap, "max-sparsity-gap")
		b.ReportMetric(float64(violating), "nm-groups-violating")
	}
}

// BenchmarkMNISTSparsity is the accuracy-versus-sparsity table of the zoo
// MNIST model on its 10,000 digits, unstructured (layer scope) and channel
// pruning, without fine-tuning.
func BenchmarkMNISTSparsity(b *testing.B) {
	testutil.InitORT(b)
	mp, err := onnx.Load(testutil.Fixture(b, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	digits := testutil.Fixture(b, "mnist/digits.npz")
	for i := 0; i < b.N; i++ {
		for _, p := range []Pattern{Unstructured, Channel} {
			for _, s := range []float64{0.25, 0.5, 0.75, 0.9} {
				ev, err := dataset.Open(digits, dataset.SpecsFromGraph(mp.Proto.Graph), dataset.Options{})
				if err != nil {
					b.Fatal(err)
				}
				res, err := Prune(mp.Proto, Options{Pattern: p, Sparsity: s, Eval: ev, MaxAccuracyDrop: -1, LatencyRuns: 20})
				ev.Close()
				if err != nil {
					b.Fatal(err)
				}
				o := res.Validation.Primary()
				tag := fmt.Sprintf("%s-%02.0f", p.Kind, 100*s)
				b.ReportMetric(100*o.CandAccuracy(), tag+"-top1-%")
				if p.Kind == "channel" {
					b.ReportMetric(float64(res.After.Params)/float64(res.Before.Params), tag+"-params-ratio")
				}
			}
		}
	}
}
