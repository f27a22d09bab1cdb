package root

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

func readReport(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQuantizeMNISTStatic(t *testing.T) {
	dir := t.TempDir()
	out, rep := filepath.Join(dir, "m.int8.onnx"), filepath.Join(dir, "r.json")
	cal := filepath.Join(dir, "cal.json")
	r := infer(t, "quantize", mnist(t), "--data", digits(t), "--calibration-samples", "300", "-o", out, "--report", rep, "--save-calibration", cal, "--debug-layers")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"top-1 accuracy", "layer-wise error", "Conv"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	rp := readReport(t, rep)
	v := rp["validation"].(map[string]any)
	if drop := v["accuracy_drop_points"].(float64); drop > 0.5 || v["samples"].(float64) != 9700 {
		t.Fatalf("validation %v", v)
	}
	// The written model loads, runs in ORT and holds int8 weights.
	m, err := onnx.Load(out, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	int8s := 0
	for _, in := range m.Proto.Graph.Initializer {
		if tensor.DType(in.DataType) == tensor.Int8 && len(in.Dims) > 0 {
			int8s++
		}
	}
	// The 1-channel first convolution stays float (docs/quantize.md).
	if int8s < 2 {
		t.Fatalf("%d int8 weight tensors", int8s)
	}
	s, err := ort.NewSessionFromFile(out, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The saved calibration reproduces the model without data; a second
	// run refuses to overwrite without --force.
	r = infer(t, "quantize", mnist(t), "--calibration-file", cal, "--eval-data", digits(t), "-o", out)
	oneLineError(t, r, 1, "--force")
	out2 := filepath.Join(dir, "again.onnx")
	r = infer(t, "quantize", mnist(t), "--calibration-file", cal, "--eval-data", digits(t), "-o", out2, "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"mode": "static"`) {
		t.Fatalf("from calibration file: exit %d\n%s", r.code, r.stderr)
	}
	// A calibration file for another model is refused.
	r = infer(t, "quantize", testutil.Testdata(t, "cnn.onnx"), "--calibration-file", cal, "--eval-data", "random", "-o", filepath.Join(dir, "x.onnx"))
	oneLineError(t, r, 1, "another model")
	// An already quantized model is refused.
	r = infer(t, "quantize", out, "--data", digits(t), "-o", filepath.Join(dir, "y.onnx"))
	oneLineError(t, r, 1, "already quantized")
}

func TestQuantizeAccuracyAware(t *testing.T) {
	dir := t.TempDir()
	out, rep := filepath.Join(dir, "m.int8.onnx"), filepath.Join(dir, "r.json")
	r := infer(t, "quantize", mnist(t), "--data", digits(t), "--calibration-samples", "100", "--max-accuracy-drop", "0", "-o", out, "--report", rep)
	rp := readReport(t, rep)
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("no model written: %v", err)
	}
	switch r.code {
	case 0:
		if rp["gate_met"] != true {
			t.Fatalf("exit 0 but gate not met: %v", rp["gates"])
		}
	case 3:
		if rp["gate_met"] != false || !strings.Contains(r.stderr, "best model") {
			t.Fatalf("exit 3: %v\n%s", rp["gates"], r.stderr)
		}
	default:
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if drop := rp["validation"].(map[string]any)["accuracy_drop_points"].(float64); r.code == 0 && drop > 0 {
		t.Fatalf("gate met with a drop of %v", drop)
	}
}

func TestQuantizeDynamicWithoutData(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "mlp.onnx")
	b, _ := os.ReadFile(testutil.Testdata(t, "mlp.onnx"))
	os.WriteFile(src, b, 0o644)
	r := infer(t, "quantize", src)
	if r.code != 0 || !strings.Contains(r.stderr, "covers convolutions") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "mlp.int8.onnx")); err != nil {
		t.Fatal("default output MODEL.int8.onnx not written")
	}
	// Nothing to quantize: a model without weights.
	bld := testmodels.NewBuilder("noweights", 17)
	x := bld.Input("x", tensor.Float32, "N", 4)
	bld.Node("Relu", []string{x}, []string{"y"})
	bld.Output("y", tensor.Float32, "N", 4)
	nw := filepath.Join(dir, "noweights.onnx")
	if _, err := onnx.Save(bld.Model(), nw, onnx.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	oneLineError(t, infer(t, "quantize", nw), 1, "nothing to quantize")
	// Data that does not match the model.
	oneLineError(t, infer(t, "quantize", src, "--data", digits(t), "-o", filepath.Join(dir, "z.onnx")), 1, "input")
}

func TestQuantizeUsageErrors(t *testing.T) {
	m := testutil.Testdata(t, "mlp.onnx")
	same := filepath.Join(t.TempDir(), "same.onnx")
	cases := [][]string{
		{"quantize", m, "-o", same, "--report", same},
		{"quantize", m, "--calibration", "entropy"},
		{"quantize", m, "--mode", "static"},
		{"quantize", m, "--data", "random", "--max-accuracy-drop", "1", "--min-sqnr", "30"},
		{"quantize", m, "--data", "random", "--percentile", "99.9"},
		{"quantize", m, "--data", "random", "--op-types", "Foo"},
		{"quantize", m, "--data", "random", "--weight-type", "int4"},
		{"quantize", m, "--mode", "turbo"},
		{"quantize", m, "--data", "random", "--calibration", "magic"},
		{"quantize", m, "--bogus"},
		{"quantize", m, "--data", "random", "--min-speedup", "NaN"},
		{"quantize", m, "--data", "random", "--min-sqnr", "NaN"},
		{"quantize", m, "--data", "random", "--max-accuracy-drop", "NaN"},
		{"quantize", m, "--data", "random", "--min-speedup", "-1"},
		{"quantize", m, "--precision", "fp16", "--latency-search=false"},
	}
	for _, args := range cases {
		if r := infer(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", args, r.code, r.stderr)
		}
	}
}

// --min-speedup is a gate: below it the model and report are written and
// the exit code is 3. The report lists the latency search's regions.
func TestQuantizeMinSpeedup(t *testing.T) {
	dir := t.TempDir()
	out, rep := filepath.Join(dir, "m.int8.onnx"), filepath.Join(dir, "r.json")
	r := infer(t, "quantize", testutil.Testdata(t, "mlp.onnx"), "--data", "random", "-o", out, "--report", rep, "--min-speedup", "1000")
	if r.code != 3 || !strings.Contains(r.stderr, "infer: quantize: --min-speedup 1000 not met") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("model not written: %v", err)
	}
	rp := readReport(t, rep)
	regions, _ := rp["quantize"].(map[string]any)["regions"].([]any)
	if len(regions) == 0 {
		t.Fatalf("report has no regions: %v", rp["quantize"])
	}
	for _, x := range regions {
		g := x.(map[string]any)
		if d := g["decision"]; d != "int8" && d != "float" || g["why"] == "" || len(g["nodes"].([]any)) == 0 {
			t.Errorf("region %v", g)
		}
	}
	if !strings.Contains(r.stdout, "region") {
		t.Errorf("table has no region lines:\n%s", r.stdout)
	}
}

func TestQuantizeDryRun(t *testing.T) {
	r := infer(t, "quantize", testutil.Testdata(t, "cnn.onnx"), "--data", "random", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "quantize") || !strings.Contains(r.stdout, "folded 3 BatchNormalization") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(strings.TrimSuffix(testutil.Testdata(t, "cnn.onnx"), ".onnx") + ".int8.onnx"); err == nil {
		t.Fatal("--dry-run wrote a model")
	}
}

func TestQuantizePrecisions(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "cnn.onnx")
	b, _ := os.ReadFile(testutil.Testdata(t, "cnn.onnx"))
	os.WriteFile(src, b, 0o644)
	r := infer(t, "quantize", src, "--precision", "fp16", "--json")
	if r.code != 0 {
		t.Fatalf("fp16: exit %d: %s", r.code, r.stderr)
	}
	half := filepath.Join(dir, "cnn.fp16.onnx")
	st, err := os.Stat(half)
	if err != nil {
		t.Fatal("default output MODEL.fp16.onnx not written")
	}
	if ratio := float64(st.Size()) / float64(len(b)); ratio < 0.45 || ratio > 0.55 {
		t.Fatalf("fp16 file is %.3f× the float file", ratio)
	}
	if !strings.Contains(r.stdout, `"mode": "fp16"`) || !strings.Contains(r.stdout, `"sqnr_db"`) {
		t.Fatalf("report: %s", r.stdout)
	}
	// Converting again is refused, in every precision.
	for _, p := range []string{"fp16", "int8", "int4"} {
		oneLineError(t, infer(t, "quantize", half, "--precision", p, "-o", filepath.Join(dir, "again-"+p+".onnx")), 1, "already fp16")
	}
	// int4 on the transformer block writes MatMulNBits.
	tr := filepath.Join(dir, "tr.onnx")
	bt, _ := os.ReadFile(testutil.Testdata(t, "transformer.onnx"))
	os.WriteFile(tr, bt, 0o644)
	r = infer(t, "quantize", tr, "--precision", "int4", "--block-size", "64")
	if r.code != 0 {
		t.Fatalf("int4: exit %d: %s", r.code, r.stderr)
	}
	m, err := onnx.Load(filepath.Join(dir, "tr.int4.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nbits := 0
	for _, n := range m.Proto.Graph.Node {
		if n.OpType == "MatMulNBits" {
			nbits++
		}
	}
	if nbits == 0 {
		t.Fatal("no MatMulNBits in the int4 model")
	}
	for _, args := range [][]string{
		{"quantize", src, "--precision", "int4", "--block-size", "48"},
		{"quantize", src, "--precision", "fp16", "--block-size", "64"},
		{"quantize", src, "--precision", "int4", "--keep-io-types=false"},
		{"quantize", src, "--precision", "fp16", "--calibration", "entropy"},
		{"quantize", src, "--precision", "int3"},
		{"quantize", src, "--block-ops", "Resize"},
	} {
		if r := infer(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", args, r.code, r.stderr)
		}
	}
}
