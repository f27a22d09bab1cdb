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
	res, err := Prune(m, Options{Pattern: Channel, Sparsity: 0.5, Eval: benchData(b, m, 1), LatencyRuns: 5})
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
				o := Options{Pattern: p, Sparsity: 0.5, Eval: benchData(b, m, 1), LatencyRuns: 1}
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
// MNIST model on its 10,000 digits, without fine-tuning: unstructured
// (layer scope, global scope, and --auto from a sensitivity analysis on
// the same digits) and channel pruning (layer scope and --auto).
func BenchmarkMNISTSparsity(b *testing.B) {
	testutil.InitORT(b)
	mp, err := onnx.Load(testutil.Fixture(b, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	digits := testutil.Fixture(b, "mnist/digits.npz")
	specs := dataset.SpecsFromGraph(mp.Proto.Graph)
	type variant struct {
		name         string
		p            Pattern
		global, auto bool
	}
	variants := []variant{
		{"unstructured", Unstructured, false, false},
		{"unstructured-global", Unstructured, true, false},
		{"unstructured-auto", Unstructured, false, true},
		{"channel", Channel, false, false},
		{"channel-auto", Channel, false, true},
	}
	for i := 0; i < b.N; i++ {
		for _, v := range variants {
			for _, s := range []float64{0.25, 0.5, 0.75, 0.9} {
				ev, err := dataset.Open(digits, specs, dataset.Options{})
				if err != nil {
					b.Fatal(err)
				}
				o := Options{Pattern: v.p, Sparsity: s, Global: v.global, Eval: ev, LatencyRuns: 20}
				var an dataset.Source
				if v.auto {
					if an, err = dataset.Open(digits, specs, dataset.Options{}); err != nil {
						b.Fatal(err)
					}
					o.Analyze, o.Auto, o.AnalysisData = true, true, an
				}
				res, err := Prune(mp.Proto, o)
				ev.Close()
				if an != nil {
					an.Close()
				}
				if err != nil {
					b.Fatal(err)
				}
				o1 := res.Validation.Primary()
				tag := fmt.Sprintf("%s-%02.0f", v.name, 100*s)
				b.ReportMetric(100*o1.CandAccuracy(), tag+"-top1-%")
				if v.p.Kind == "channel" {
					b.ReportMetric(float64(res.After.Params)/float64(res.Before.Params), tag+"-params-ratio")
					b.ReportMetric(res.Speed.RefP50MS/res.Speed.CandP50MS, tag+"-speedup")
				}
			}
		}
	}
}
