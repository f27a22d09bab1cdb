package ort_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/x448/float16"
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

func mlpBytes(t *testing.T) ([]byte, *onnxpb.ModelProto) {
	t.Helper()
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, m
}

func ramp(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(float64(i)))
	}
	return v
}

func TestRunMLPWithExtraOutputs(t *testing.T) {
	testutil.InitORT(t)
	b, m := mlpBytes(t)
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Provider.Name != ort.CPU || len(s.Skipped) != 0 {
		t.Fatalf("provider %v skipped %v", s.Provider, s.Skipped)
	}
	in := s.Inputs()
	if len(in) != 1 || in[0].DType != tensor.Float32 || in[0].Shape[0] != -1 || in[0].DimParams[0] != "N" {
		t.Fatalf("inputs %+v", in)
	}
	x := tensor.MustNew([]int64{3, 64}, ramp(3*64))
	out, err := s.Run(map[string]*tensor.Tensor{in[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	logits := out[s.Outputs()[0].Name]
	if logits == nil || logits.Shape()[0] != 3 || logits.Shape()[1] != 10 {
		t.Fatalf("logits %v", logits)
	}

	// Expose the first hidden activation: the main output must not change.
	hidden := m.Graph.Node[1].Output[0]
	s2, err := ort.NewSession(b, ort.Options{ExtraOutputs: []string{hidden}, OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	out2, err := s2.Run(map[string]*tensor.Tensor{in[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	h := out2[hidden]
	if h == nil || h.Shape()[0] != 3 {
		t.Fatalf("extra output %q = %v", hidden, h)
	}
	a, c := tensor.Values[float32](logits), tensor.Values[float32](out2[s.Outputs()[0].Name])
	for i := range a {
		if math.Abs(float64(a[i]-c[i])) > 1e-5 {
			t.Fatalf("logits changed with extra outputs: %v vs %v", a[i], c[i])
		}
	}
	if _, err := ort.NewSession(b, ort.Options{ExtraOutputs: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown extra output: %v", err)
	}
}

func TestRunRejectsBadInputs(t *testing.T) {
	testutil.InitORT(t)
	b, _ := mlpBytes(t)
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := s.Inputs()[0].Name
	cases := map[string]map[string]*tensor.Tensor{
		"missing model input": {},
		"expects float32":     {name: tensor.MustNew([]int64{1, 64}, make([]float64, 64))},
		"expects [N,64]":      {name: tensor.MustNew([]int64{1, 63}, make([]float32, 63))},
		"expects rank 2":      {name: tensor.MustNew([]int64{64}, make([]float32, 64))},
		"not an input":        {name: tensor.MustNew([]int64{1, 64}, make([]float32, 64)), "extra": tensor.MustNew([]int64{1}, []float32{1})},
	}
	for want, in := range cases {
		if _, err := s.Run(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestConcurrentRun(t *testing.T) {
	testutil.InitORT(t)
	b, _ := mlpBytes(t)
	s, err := ort.NewSession(b, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := s.Inputs()[0].Name
	x := tensor.MustNew([]int64{2, 64}, ramp(128))
	want, err := s.Run(map[string]*tensor.Tensor{name: x})
	if err != nil {
		t.Fatal(err)
	}
	ref := tensor.Values[float32](want["logits"])
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := s.Run(map[string]*tensor.Tensor{name: x})
				if err != nil {
					errs <- err.Error()
					return
				}
				for j, v := range tensor.Values[float32](got["logits"]) {
					if v != ref[j] {
						errs <- "concurrent run differs"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// float16 inputs and outputs round-trip exactly (outputs are read through
// an appended Cast, see castHalfOutputs).
func TestFloat16IO(t *testing.T) {
	testutil.InitORT(t)
	bld := testmodels.NewBuilder("half", 17)
	x := bld.Input("x", tensor.Float16, "N", 5)
	y := bld.Op("Relu", []string{x})
	bld.Node("Identity", []string{y}, []string{"y"})
	bld.Output("y", tensor.Float16, "N", 5)
	b, err := proto.Marshal(bld.Model())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vals := make([]float16.Float16, 10)
	for i := range vals {
		vals[i] = float16.Fromfloat32(float32(i) - 4.75)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{2, 5}, vals)})
	if err != nil {
		t.Fatal(err)
	}
	got := out["y"]
	if got == nil || got.DType() != tensor.Float16 {
		t.Fatalf("y = %v (outputs %v)", got, out)
	}
	for i, v := range tensor.Values[float16.Float16](got) {
		want := vals[i].Float32()
		if want < 0 {
			want = 0
		}
		if v.Float32() != want {
			t.Fatalf("y[%d] = %v, want %v", i, v.Float32(), want)
		}
	}
}

func TestProvidersNeverFallBackSilently(t *testing.T) {
	info := testutil.InitORT(t)
	b, _ := mlpBytes(t)
	// One provider that cannot start here: an error naming it and the library.
	ps, err := ort.ParseProviders("tensorrt", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ort.NewSession(b, ort.Options{Providers: ps})
	if err == nil {
		t.Skip("TensorRT started: this machine has a GPU build and device")
	}
	if !strings.Contains(err.Error(), "tensorrt") || !strings.Contains(err.Error(), info.Path) {
		t.Fatalf("error should name the provider and library: %v", err)
	}
	// An explicit fallback list runs on CPU and records why the others failed.
	ps, err = ort.ParseProviders("tensorrt,cuda,cpu", []string{"fp16=true", "tensorrt.engine_cache=/tmp/x", "device_id=0"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(b, ort.Options{Providers: ps})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Provider.Name != ort.CPU || len(s.Skipped) != 2 || s.Skipped[0].Reason == "" {
		t.Fatalf("provider %v skipped %+v", s.Provider, s.Skipped)
	}
}

func TestParseProviders(t *testing.T) {
	bad := map[string][2]any{
		"unknown execution provider": {"gpu", nil},
		"listed twice":               {"cpu,cpu", nil},
		"want key=value":             {"cuda", []string{"device_id"}},
		"applies to no provider":     {"cpu", []string{"fp16=1"}},
	}
	for want, c := range bad {
		var opts []string
		if c[1] != nil {
			opts = c[1].([]string)
		}
		if _, err := ort.ParseProviders(c[0].(string), opts); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v", c, err)
		}
	}
	ps, err := ort.ParseProviders("trt,cuda", []string{"fp16=1", "device_id=1", "cuda.gpu_mem_limit=1000"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Name != ort.TensorRT || ps[0].Options["fp16"] != "1" || ps[0].Options["device_id"] != "1" || ps[1].Options["device_id"] != "1" || ps[1].Options["gpu_mem_limit"] != "1000" {
		t.Fatalf("%+v", ps)
	}
	if _, ok := ps[0].Options["gpu_mem_limit"]; ok {
		t.Fatal("cuda-only option given to tensorrt")
	}
}

func TestOptimizedModelPath(t *testing.T) {
	testutil.InitORT(t)
	b, _ := mlpBytes(t)
	p := filepath.Join(t.TempDir(), "opt.onnx")
	s, err := ort.NewSession(b, ort.Options{OptimizedModelPath: p})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil || len(m.Graph.Node) == 0 {
		t.Fatalf("optimized model unreadable: %v", err)
	}
}

// Scalar outputs and extra outputs of unknown rank come back with their
// true shape (read through an appended Unsqueeze, see adaptOutputs).
func TestScalarOutputs(t *testing.T) {
	testutil.InitORT(t)
	for _, opset := range []int64{11, 17} {
		bld := testmodels.NewBuilder("scalar", opset)
		x := bld.Input("x", tensor.Float32, 2, 3)
		r := bld.Op("Relu", []string{x})
		bld.Node("ReduceSum", []string{r}, []string{"total"}, testmodels.AttrInt("keepdims", 0))
		bld.Output("total", tensor.Float32)
		b, err := proto.Marshal(bld.Model())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ort.NewSession(b, ort.Options{ExtraOutputs: []string{r}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{2, 3}, []float32{1, -2, 3, -4, 5, 6})})
		s.Close()
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		tot := out["total"]
		if tot == nil || len(tot.Shape()) != 0 || tensor.Values[float32](tot)[0] != 15 {
			t.Fatalf("opset %d: total = %v %v", opset, tot, out)
		}
		if h := out[r]; h == nil || len(h.Shape()) != 2 || h.Shape()[1] != 3 {
			t.Fatalf("opset %d: extra output %v", opset, out[r])
		}
	}
}

// An intermediate float16 value exposed as an extra output has no declared
// type; it still comes back exactly.
func TestHalfExtraOutput(t *testing.T) {
	testutil.InitORT(t)
	bld := testmodels.NewBuilder("halfextra", 17)
	x := bld.Input("x", tensor.Float32, 4)
	h := bld.Op("Cast", []string{x}, testmodels.AttrInt("to", int64(tensor.Float16)))
	r := bld.Op("Relu", []string{h})
	bld.Node("Cast", []string{r}, []string{"y"}, testmodels.AttrInt("to", int64(tensor.Float32)))
	bld.Output("y", tensor.Float32, 4)
	b, err := proto.Marshal(bld.Model())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(b, ort.Options{ExtraOutputs: []string{h}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{4}, []float32{1.5, -2, 65504, 0.1})})
	if err != nil {
		t.Fatal(err)
	}
	got := out[h]
	if got == nil || got.DType() != tensor.Float16 {
		t.Fatalf("extra %q = %v", h, got)
	}
	want := []float32{1.5, -2, 65504, float16.Fromfloat32(0.1).Float32()}
	for i, v := range tensor.Values[float16.Float16](got) {
		if v.Float32() != want[i] {
			t.Fatalf("[%d] = %v, want %v", i, v.Float32(), want[i])
		}
	}
}

// Scalar inputs and models without inputs run (onnxruntime_go can do
// neither directly; see adaptInputs).
func TestScalarInputsAndNoInputs(t *testing.T) {
	testutil.InitORT(t)
	bld := testmodels.NewBuilder("scalarin", 17)
	a := bld.Input("a", tensor.Float32)
	x := bld.Input("x", tensor.Float32, 3)
	bld.Node("Mul", []string{x, a}, []string{"y"})
	bld.Output("y", tensor.Float32, 3)
	b, _ := proto.Marshal(bld.Model())
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*tensor.Tensor{"a": tensor.MustNew([]int64{}, []float32{2}), "x": tensor.MustNew([]int64{3}, []float32{1, 2, 3})})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := tensor.Values[float32](out["y"]); got[0] != 2 || got[2] != 6 {
		t.Fatalf("y = %v", got)
	}
	if len(s.Inputs()) != 2 || s.Inputs()[0].Name != "a" {
		t.Fatalf("inputs %+v", s.Inputs())
	}

	c := testmodels.NewBuilder("noinputs", 17)
	k := c.Initializer("k", []int64{2}, []float32{3, -4})
	c.Node("Abs", []string{k}, []string{"z"})
	c.Output("z", tensor.Float32, 2)
	b, _ = proto.Marshal(c.Model())
	s, err = ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Inputs()) != 0 {
		t.Fatalf("inputs %+v", s.Inputs())
	}
	out, err = s.Run(map[string]*tensor.Tensor{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensor.Values[float32](out["z"]); got[0] != 3 || got[1] != 4 {
		t.Fatalf("z = %v", got)
	}
}

func TestPreparedRunsMatchRun(t *testing.T) {
	testutil.InitORT(t)
	b, _ := mlpBytes(t)
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := map[string]*tensor.Tensor{s.Inputs()[0].Name: tensor.MustNew([]int64{4, 64}, ramp(256))}
	want, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Prepare(in)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 3; i++ {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	w, g := tensor.Values[float32](want["logits"]), tensor.Values[float32](got["logits"])
	if len(w) != len(g) || len(g) != 40 {
		t.Fatalf("lengths %d %d", len(w), len(g))
	}
	for i := range w {
		if w[i] != g[i] {
			t.Fatalf("[%d] %v != %v", i, g[i], w[i])
		}
	}
	if _, err := s.Prepare(map[string]*tensor.Tensor{}); err == nil {
		t.Fatal("Prepare accepted missing inputs")
	}
}

// A model whose only outputs are sequences gets an error, not a panic in
// onnxruntime_go (which cannot run a session without outputs).
func TestNoTensorOutputs(t *testing.T) {
	testutil.InitORT(t)
	_, err := ort.NewSessionFromFile(testutil.Fixture(t, "onnx-node/test_if_seq/model.onnx"), ort.Options{})
	if err == nil || !strings.Contains(err.Error(), "no tensor output") {
		t.Fatalf("got %v", err)
	}
}
