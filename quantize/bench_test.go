package quantize

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/quantize/calib"
)

// The test binary quantizes a model file in a child process when asked,
// so a benchmark can read that process's peak RSS alone.
func TestMain(m *testing.M) {
	if in := os.Getenv("INFER_BENCH_QUANTIZE_IN"); in != "" {
		os.Exit(childQuantize(in, os.Getenv("INFER_BENCH_QUANTIZE_OUT")))
	}
	os.Exit(m.Run())
}

func childQuantize(in, out string) int {
	if _, err := ort.Init(os.Getenv("INFER_ORT_LIB")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("INFER_BENCH_PPROF"); p != "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	step := func(what string) {
		if os.Getenv("INFER_BENCH_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "%s %.2fs\n", what, time.Since(t0).Seconds())
		}
	}
	m, err := onnx.Load(in, onnx.LoadOptions{})
	step("load")
	if err == nil {
		var f *onnxpb.ModelProto
		if f, _, err = Prepare(m.Proto, Dynamic); err == nil {
			step("prepare")
			if _, _, err = ApplyDynamic(f, PlanOptions{PerChannel: true}); err == nil {
				step("apply")
				_, err = onnx.Save(f, out, onnx.SaveOptions{ExternalThreshold: 1 << 20})
				step("save")
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// p50 times Run on prepared buffers, one intra-op thread.
func p50(b testing.TB, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor, runs int) float64 {
	return testutil.P50(b, m, inputs, runs)
}

func randomBatch(b testing.TB, m *onnxpb.ModelProto, n int) dataset.Source {
	src, err := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), dataset.Options{RandomSamples: n, BatchSize: n, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	return src
}

// speedups quantizes m statically (calibrated on one random batch) and
// dynamically and reports float p50 / int8 p50 for each, measured in
// alternating blocks on the same inputs.
func speedups(b *testing.B, m *onnxpb.ModelProto, batch int, dynamic bool) {
	testutil.InitORT(b)
	src := randomBatch(b, m, batch)
	defer src.Close()
	in, err := src.Next()
	if err != nil {
		b.Fatal(err)
	}
	one := ort.Options{IntraOpThreads: 1}
	static, err := Quantize(m, Options{Mode: Static, Plan: PlanOptions{PerChannel: true}, Calibration: randomBatch(b, m, batch),
		Eval: randomBatch(b, m, batch), Session: one})
	if err != nil {
		b.Fatal(err)
	}
	var dyn *Result
	if dynamic {
		if dyn, err = Quantize(m, Options{Mode: Dynamic, Plan: PlanOptions{PerChannel: true}, Eval: randomBatch(b, m, batch),
			Session: one}); err != nil {
			b.Fatal(err)
		}
	}
	var fl, st, dy []float64
	for i := 0; i < b.N; i++ {
		for k := 0; k < 5; k++ {
			fl = append(fl, p50(b, m, in.Inputs, 20))
			st = append(st, p50(b, static.Model, in.Inputs, 20))
			if dynamic {
				dy = append(dy, p50(b, dyn.Model, in.Inputs, 20))
			}
		}
	}
	med := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	b.ReportMetric(med(fl), "float-p50-ms")
	b.ReportMetric(med(fl)/med(st), "static-speedup")
	b.ReportMetric(float64(static.Validation.Outputs[0].SQNR()), "static-SQNR-dB")
	if dynamic {
		b.ReportMetric(med(fl)/med(dy), "dynamic-speedup")
		b.ReportMetric(float64(dyn.Validation.Outputs[0].SQNR()), "dynamic-SQNR-dB")
	}
}

// BenchmarkMLP1024 is the MatMul-heavy MLP of the quantize issue: width
// 1024, 4 layers, batch 64, 1 intra-op thread. Targets: static ≥ 3×,
// dynamic ≥ 1.5×.
func BenchmarkMLP1024(b *testing.B) {
	m := testmodels.MLP(testmodels.MLPConfig{In: 1024, Hidden: []int64{1024, 1024, 1024}, Classes: 1024, Seed: 3})
	speedups(b, m, 64, true)
}

// BenchmarkCNN224 is the testdata CNN at 224×224, batch 1. Target: static
// ≥ 2×.
func BenchmarkCNN224(b *testing.B) {
	speedups(b, testmodels.CNN(testmodels.CNN224Config()), 1, false)
}

// BenchmarkMNIST calibrates the zoo model on 500 digits and evaluates it
// on the other 9,500. Targets: top-1 drop ≤ 0.3 points, file ≤ 0.35×.
func BenchmarkMNIST(b *testing.B) {
	testutil.InitORT(b)
	path := testutil.Fixture(b, "mnist/model.onnx")
	digits := testutil.Fixture(b, "mnist/digits.npz")
	mp, err := onnx.Load(path, onnx.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	specs := dataset.SpecsFromGraph(mp.Proto.Graph)
	for i := 0; i < b.N; i++ {
		cal, _ := dataset.Open(digits, specs, dataset.Options{Limit: 500})
		ev, _ := dataset.Open(digits, specs, dataset.Options{Offset: 500})
		res, err := Quantize(mp.Proto, Options{Mode: Static, Plan: PlanOptions{PerChannel: true}, Calib: calib.Config{Method: calib.MinMax},
			Calibration: cal, Eval: ev, Session: ort.Options{IntraOpThreads: 1}})
		cal.Close()
		ev.Close()
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(b.TempDir(), "q.onnx")
		sr, err := onnx.Save(res.Model, out, onnx.SaveOptions{})
		if err != nil {
			b.Fatal(err)
		}
		o := res.Validation.Primary()
		b.ReportMetric(100*o.RefAccuracy(), "float-top1-%")
		b.ReportMetric(100*o.CandAccuracy(), "int8-top1-%")
		b.ReportMetric(100*(o.RefAccuracy()-o.CandAccuracy()), "drop-points")
		b.ReportMetric(float64(sr.Bytes)/float64(mp.FileBytes), "size-ratio")
		b.ReportMetric(res.Speed.Speedup, "speedup")
		b.ReportMetric(res.Speed.Low, "speedup-low")
		b.ReportMetric(res.Speed.High, "speedup-high")
	}
}

// BenchmarkQuantize400MB quantizes (dynamic, no calibration) a generated
// model of 400 MB of float weights in a child process and compares its
// wall time with loading and saving the same model; it reports the child's
// peak RSS relative to the model size. Targets: < 3× and < 2.5×.
func BenchmarkQuantize400MB(b *testing.B) {
	lib := testutil.InitORT(b)
	dir := b.TempDir()
	// Four 5000×5000 float32 Gemm weights: 400 MB.
	m := testmodels.MLP(testmodels.MLPConfig{In: 5000, Hidden: []int64{5000, 5000, 5000}, Classes: 5000, Seed: 1})
	in := filepath.Join(dir, "big.onnx")
	if _, err := onnx.Save(m, in, onnx.SaveOptions{ExternalThreshold: 1 << 20}); err != nil {
		b.Fatal(err)
	}
	m = nil
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	exe, _ := os.Executable()
	child := func(quant bool) (time.Duration, int64) {
		out := filepath.Join(dir, fmt.Sprintf("out%v.onnx", quant))
		os.Remove(out)
		os.Remove(out + ".data")
		var cmd *exec.Cmd
		if quant {
			cmd = exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "INFER_BENCH_QUANTIZE_IN="+in, "INFER_BENCH_QUANTIZE_OUT="+out, "INFER_ORT_LIB="+lib.Path)
		} else {
			cmd = exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "INFER_BENCH_LOADSAVE_IN="+in, "INFER_BENCH_LOADSAVE_OUT="+out)
		}
		t0 := time.Now()
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, msg)
		}
		return time.Since(t0), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	}
	for i := 0; i < b.N; i++ {
		ls, _ := child(false)
		qt, rss := child(true)
		b.ReportMetric(qt.Seconds()/ls.Seconds(), "quantize/loadsave-time")
		b.ReportMetric(float64(rss)/float64(size), "peakRSS/model")
		b.ReportMetric(qt.Seconds(), "quantize-s")
		b.ReportMetric(ls.Seconds(), "loadsave-s")
	}
}

func init() {
	// The load/save child shares TestMain with quantization.
	if in := os.Getenv("INFER_BENCH_LOADSAVE_IN"); in != "" {
		m, err := onnx.Load(in, onnx.LoadOptions{})
		if err == nil {
			_, err = onnx.Save(m.Proto, os.Getenv("INFER_BENCH_LOADSAVE_OUT"), onnx.SaveOptions{ExternalThreshold: 1 << 20})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}
