package quantize

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/tensor"
)

// optimizedOps saves ONNX Runtime's optimized form of m and counts its op
// types: what actually runs.
func optimizedOps(t *testing.T, m *onnxpb.ModelProto) map[string]int {
	t.Helper()
	p := filepath.Join(t.TempDir(), "optimized.onnx")
	s, err := ort.NewSessionFromModel(m, ort.Options{OptimizedModelPath: p})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	om, err := onnx.Load(p, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]int{}
	for _, n := range om.Proto.Graph.Node {
		c[n.OpType]++
	}
	return c
}

// The QDQ placement must be what ONNX Runtime fuses into integer kernels:
// no float Conv/Gemm/MatMul may be left running.
func TestORTFusesQuantizedModels(t *testing.T) {
	testutil.InitORT(t)
	cases := []struct {
		name  string
		m     *onnxpb.ModelProto
		mode  Mode
		want  map[string]int
		float []string
	}{
		{"mlp static", testmodels.MLP(testmodels.MLPConfig{Seed: 1}), Static, map[string]int{"QGemm": 3}, []string{"Gemm", "MatMul"}},
		// The first convolution (3 channels, 32×32) stays float.
		{"cnn static", testmodels.CNN(testmodels.CNNConfig{}), Static, map[string]int{"QLinearConv": 2, "QGemm": 1}, []string{"Gemm", "BatchNormalization"}},
		{"mlp dynamic", testmodels.MLP(testmodels.MLPConfig{Seed: 1}), Dynamic, map[string]int{"DynamicQuantizeMatMul": 3}, []string{"Gemm", "MatMul"}},
		{"transformer static", testmodels.Transformer(testmodels.TransformerConfig{}), Static, map[string]int{"QLinearMatMul": 1}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{Mode: c.mode, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true}, Eval: randomBatch(t, c.m, 4), LatencyRuns: 3}
			if c.mode == Static {
				opts.Calibration = randomBatch(t, c.m, 8)
			}
			res, err := Quantize(c.m, opts)
			if err != nil {
				t.Fatal(err)
			}
			ops := optimizedOps(t, res.Model)
			for op, n := range c.want {
				if ops[op] < n {
					t.Errorf("%s: %d %s nodes, want ≥ %d (ops %v)", c.name, ops[op], op, n, ops)
				}
			}
			for _, op := range c.float {
				if ops[op] > 0 {
					t.Errorf("%s: %d float %s left (ops %v)", c.name, ops[op], op, ops)
				}
			}
			if q := res.Validation.Outputs[0].SQNR(); q < 20 {
				t.Errorf("%s: output SQNR %.1f dB", c.name, q)
			}
		})
	}
}

// A MobileNetV3 block stays int8 from one convolution to the next: the
// hardswish (both spellings), the squeeze-excitation gate and the residual
// add run as QLinearAdd/QLinearMul, hardswish's division is a scale, and
// nothing but the first convolution and the model's ends is left in float.
func TestMobileNetBlocksStayInt8(t *testing.T) {
	testutil.InitORT(t)
	var a testmodels.Arch
	for _, z := range testmodels.Zoo() {
		if z.Name == "mobilenetv3" {
			a = z
		}
	}
	shapes, err := probe.Find(a.Model, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Mode: Static, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true}, Shapes: shapes,
		Calibration: open(t, "random", a.Model, dataset.Options{RandomSamples: 32, BatchSize: 8, Shapes: shapes.A, Seed: 1}),
		Eval:        open(t, "random", a.Model, dataset.Options{RandomSamples: 8, Shapes: shapes.A, Seed: 2}),
		LatencyRuns: 3}
	res, err := Quantize(a.Model, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Apply.Rescaled == 0 {
		t.Errorf("no Mul by 1/6 became a scale: %+v", res.Apply)
	}
	// The result reports what ORT runs: nothing quantized left unfused.
	if k := res.Kernels; k == nil || k.Ops["QLinearConv"] == 0 || len(k.Unfused) > 0 {
		t.Errorf("kernels %+v", k)
	}
	ops := optimizedOps(t, res.Model)
	for _, op := range []string{"HardSigmoid", "HardSwish", "Div", "Mul", "Add", "Clip", "GlobalAveragePool"} {
		if ops[op] > 0 {
			t.Errorf("%d float %s left (ops %v)", ops[op], op, ops)
		}
	}
	if ops["QLinearMul"] == 0 || ops["QLinearAdd"] == 0 || ops["Conv"] > 1 || ops["DequantizeLinear"] > 2 {
		t.Errorf("ops %v", ops)
	}
	if q := res.Validation.Outputs[0].SQNR(); q < 20 {
		t.Errorf("output SQNR %.1f dB", q)
	}
	if sc := res.SecondShape; sc == nil || sc.Skipped != "" || sc.SQNR == nil || *sc.SQNR < 20 {
		t.Errorf("second shape: %+v", sc)
	}
}

// With int8 activations ORT leaves convolutions whose input has several
// readers as DequantizeLinear → float Conv (docs/quantize.md): the result
// names them, and says so in a note.
func TestUnfusedNodesAreReported(t *testing.T) {
	testutil.InitORT(t)
	var a testmodels.Arch
	for _, z := range testmodels.Zoo() {
		if z.Name == "resnet" {
			a = z
		}
	}
	opts := Options{Mode: Static, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true, ActivationType: tensor.Int8},
		Calibration: open(t, "random", a.Model, dataset.Options{RandomSamples: 4, Shapes: a.ShapeA, Seed: 1}),
		Eval:        open(t, "random", a.Model, dataset.Options{RandomSamples: 2, Shapes: a.ShapeA, Seed: 2}),
		LatencyRuns: 3}
	res, err := Quantize(a.Model, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kernels == nil || len(res.Kernels.Unfused) == 0 {
		t.Fatalf("no unfused node reported: %+v", res.Kernels)
	}
	noted := false
	for _, n := range res.Notes {
		noted = noted || strings.Contains(n, "in float on dequantized inputs")
	}
	if !noted {
		t.Errorf("notes %v", res.Notes)
	}
}
