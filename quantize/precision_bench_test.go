package quantize

import (
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/quantize/half"
	"github.com/infer-ml/infer/quantize/int4"
)

func savedSize(b testing.TB, m *onnxpb.ModelProto) int64 {
	r, err := onnx.Save(m, filepath.Join(b.TempDir(), "m.onnx"), onnx.SaveOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return r.Bytes
}

// BenchmarkFP16 converts the testdata CNN and transformer block to fp16.
// Targets: file 0.50–0.52× the float file, output SQNR ≥ 40 dB on random
// data.
func BenchmarkFP16(b *testing.B) {
	testutil.InitORT(b)
	for _, c := range []struct {
		name string
		m    *onnxpb.ModelProto
	}{{"cnn", testmodels.CNN(testmodels.CNNConfig{})}, {"transformer", testmodels.Transformer(testmodels.TransformerConfig{})}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				res, err := Quantize(c.m, Options{Mode: FP16, Half: half.DefaultOptions(tensor.Float16), Eval: randomBatch(b, c.m, 8), LatencyRuns: 5})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(savedSize(b, res.Model))/float64(savedSize(b, c.m)), "size-ratio")
				b.ReportMetric(res.Validation.Outputs[0].SQNR(), "SQNR-dB")
			}
		})
	}
}

// BenchmarkInt4Transformer512 quantizes the transformer block at width 512
// to 4-bit MatMulNBits. Targets: MatMul weight bytes ≤ 0.16× of float;
// SQNR and latency reported.
func BenchmarkInt4Transformer512(b *testing.B) {
	testutil.InitORT(b)
	m := testmodels.Transformer(testmodels.TransformerConfig{D: 512, Heads: 8, Seq: 64, Opset: 17})
	src := randomBatch(b, m, 4)
	in, err := src.Next()
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		res, err := Quantize(m, Options{Mode: Int4, Int4: int4.Options{BlockSize: 32, Symmetric: true}, Eval: randomBatch(b, m, 4),
			LatencyRuns: 5})
		if err != nil {
			b.Fatal(err)
		}
		var fl, q []float64
		for k := 0; k < 5; k++ {
			fl = append(fl, p50(b, m, in.Inputs, 20))
			q = append(q, p50(b, res.Model, in.Inputs, 20))
		}
		sort.Float64s(fl)
		sort.Float64s(q)
		b.ReportMetric(float64(res.Apply.WeightBytes)/float64(res.Apply.WeightBytesIn), "matmul-weight-bytes-ratio")
		b.ReportMetric(res.Validation.Outputs[0].SQNR(), "SQNR-dB")
		b.ReportMetric(fl[2], "float-p50-ms")
		b.ReportMetric(fl[2]/q[2], "speedup")
	}
}

// BenchmarkMNISTFP16 evaluates the zoo model in fp16 on all 10,000 digits.
// Target: top-1 within 0.1 points of float.
func BenchmarkMNISTFP16(b *testing.B) {
	testutil.InitORT(b)
	mp, err := onnx.Load(testutil.Fixture(b, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	digits := testutil.Fixture(b, "mnist/digits.npz")
	for i := 0; i < b.N; i++ {
		ev, err := dataset.Open(digits, dataset.SpecsFromGraph(mp.Proto.Graph), dataset.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := Quantize(mp.Proto, Options{Mode: FP16, Half: half.DefaultOptions(tensor.Float16), Eval: ev, LatencyRuns: 5})
		ev.Close()
		if err != nil {
			b.Fatal(err)
		}
		o := res.Validation.Primary()
		b.ReportMetric(100*o.RefAccuracy(), "float-top1-%")
		b.ReportMetric(100*o.CandAccuracy(), "fp16-top1-%")
		b.ReportMetric(100*math.Abs(o.RefAccuracy()-o.CandAccuracy()), "diff-points")
	}
}
