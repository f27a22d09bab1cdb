package root

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The sweep runs every command, as a user would with only the required
// arguments, on models shaped like real exports (the zoo in make test,
// the public corpus in make realmodels-test). Every artifact must load
// and run in ONNX Runtime at two realistic input shapes that differ from
// each other and from the shape infer optimized at, and is compared with
// its source at both. A refusal is allowed only where it is expected,
// with its reason; nothing may panic or report an internal error.

// sweepModel is one model of a sweep.
type sweepModel struct {
	name   string
	path   string
	a, b   map[string][]int64
	values map[string]float64
	// args are added to every command that reads data (a small .npz for
	// models too slow for random data's default sample counts).
	args []string
}

// sweepCmd is one command of a sweep.
type sweepCmd struct {
	name     string
	args     []string
	artifact bool
	data     bool    // takes --data/--input-value
	minSQNR  float64 // quality floor at both shapes (0: none)
}

var sweepCmds = []sweepCmd{
	{name: "inspect", args: []string{"inspect"}},
	{name: "eval", args: []string{"eval", "--data", "random"}, data: true},
	{name: "int8 static", args: []string{"quantize", "--data", "random"}, artifact: true, data: true},
	{name: "int8 dynamic", args: []string{"quantize", "--mode", "dynamic"}, artifact: true, data: true},
	{name: "fp16", args: []string{"quantize", "--precision", "fp16"}, artifact: true, data: true, minSQNR: 30},
	{name: "bf16", args: []string{"quantize", "--precision", "bf16"}, artifact: true, data: true, minSQNR: 20},
	{name: "int4", args: []string{"quantize", "--precision", "int4"}, artifact: true, data: true},
	{name: "prune", args: []string{"prune", "--sparsity", "0.5"}, artifact: true, data: true},
	{name: "prune 2:4", args: []string{"prune", "--pattern", "2:4"}, artifact: true, data: true},
	{name: "prune channel", args: []string{"prune", "--pattern", "channel", "--sparsity", "0.5"}, artifact: true, data: true},
	{name: "bench", args: []string{"bench", "--iterations", "3"}, data: true},
}

// sweepRow is one result, for the table in docs/benchmarks.md.
type sweepRow struct {
	model, cmd string
	exit       int
	refusal    string
	validA     string
	validB     string
	sqnrA      string
	sqnrB      string
	speedup    string
}

// zooRefusals are the zoo's expected refusals: "arch/command" → part of
// the one-line reason.
var zooRefusals = map[string]string{
	"dbnet/int8 dynamic":   "nothing to quantize",
	"dbnet/int4":           "nothing to quantize",
	"ifbody/int8 static":   "nothing to quantize",
	"ifbody/int8 dynamic":  "nothing to quantize",
	"ifbody/int4":          "nothing to quantize",
	"ifbody/prune channel": "nothing to prune",
	"vad/prune channel":    "nothing to prune",
	// ONNX Runtime's CPU provider has no bfloat16 arithmetic.
	"crnn/bf16":        "no bf16 kernels",
	"dbnet/bf16":       "no bf16 kernels",
	"ifbody/bf16":      "no bf16 kernels",
	"mlp_fixed/bf16":   "no bf16 kernels",
	"mlp_torch/bf16":   "no bf16 kernels",
	"mobilenetv3/bf16": "no bf16 kernels",
	"resnet/bf16":      "no bf16 kernels",
}

func TestSweepZoo(t *testing.T) {
	if testing.Short() {
		t.Skip("the sweep runs every command on every zoo model")
	}
	testutil.InitORT(t)
	dir := t.TempDir()
	var models []sweepModel
	for _, a := range testmodels.Zoo() {
		path := filepath.Join(dir, a.Name+".onnx")
		b, err := testmodels.Marshal(a.Model)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		models = append(models, sweepModel{name: a.Name, path: path, a: a.ShapeA, b: a.ShapeB, values: a.Values})
	}
	sweep(t, models, zooRefusals)
}

// sweep runs sweepCmds on every model and checks the results.
func sweep(t *testing.T, models []sweepModel, refusals map[string]string) {
	var rows []sweepRow
	seen := map[string]bool{}
	for _, m := range models {
		for _, c := range sweepCmds {
			key := m.name + "/" + c.name
			t.Run(key, func(t *testing.T) {
				row := sweepOne(t, m, c, refusals[key])
				seen[key] = row.refusal != ""
				rows = append(rows, row)
			})
		}
	}
	for key := range refusals {
		if _, ran := seen[key]; ran && !seen[key] {
			t.Errorf("%s: expected a refusal (%q) but it succeeded: update the expectations", key, refusals[key])
		}
	}
	if path := os.Getenv("INFER_SWEEP_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(sweepTable(rows)), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func sweepOne(t *testing.T, m sweepModel, c sweepCmd, refusal string) sweepRow {
	row := sweepRow{model: m.name, cmd: c.name, validA: "–", validB: "–", sqnrA: "–", sqnrB: "–", speedup: "–"}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	report := filepath.Join(dir, "report.json")
	args := append(append([]string{}, c.args...), m.path)
	if c.data {
		args = append(args, "--no-progress")
		args = append(args, m.args...)
		names := make([]string, 0, len(m.values))
		for name := range m.values {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			args = append(args, "--input-value", fmt.Sprintf("%s=%g", name, m.values[name]))
		}
	}
	switch {
	case c.artifact:
		args = append(args, "-o", out, "--report", report)
	case c.args[0] == "bench":
		args = append(args, "--format", "json", "-o", report)
	}
	var env []string
	if os.Getenv(ort.EnvInferLib) == "" {
		env = []string{ort.EnvInferLib + "=" + filepath.Join(testutil.RepoRoot(t), ".ort", ort.LibFileName)}
	}
	r := inferProcess(t, dir, env, args...)
	row.exit = r.code
	for _, bad := range []string{"panic", "goroutine", "internal error", "SIGSEGV"} {
		if strings.Contains(r.stderr, bad) {
			t.Fatalf("%q on stderr (exit %d): %s", bad, r.code, firstLines(r.stderr, 5))
		}
	}
	if refusal != "" {
		if r.code != 1 || !strings.Contains(r.stderr, refusal) {
			if r.code == 0 {
				return row // reported by sweep as a stale expectation
			}
			t.Fatalf("want a refusal mentioning %q, got exit %d: %s", refusal, r.code, firstLines(r.stderr, 3))
		}
		oneLineError(t, r, 1, refusal)
		row.refusal = refusal
		return row
	}
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, firstLines(r.stderr, 3))
	}
	row.speedup = reportSpeedup(t, report)
	if !c.artifact {
		return row
	}
	ref, err := onnx.Load(m.path, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	art, err := onnx.Load(out, onnx.LoadOptions{})
	if err != nil {
		t.Fatalf("the artifact does not load: %v", err)
	}
	for i, shapes := range []map[string][]int64{m.a, m.b} {
		sc, err := compareArtifact(ref.Proto, art.Proto, shapes, m.values)
		if err != nil {
			t.Fatalf("shape %c: %v", 'A'+i, err)
		}
		if sc.NonFinite > 0 {
			t.Fatalf("shape %c (%s): %d non-finite outputs", 'A'+i, sc.Shapes, sc.NonFinite)
		}
		q := math.Inf(1)
		if sc.SQNR != nil {
			q = *sc.SQNR
		}
		if c.minSQNR > 0 && q < c.minSQNR {
			t.Errorf("shape %c (%s): SQNR %.1f dB, want at least %.0f", 'A'+i, sc.Shapes, q, c.minSQNR)
		}
		cell := "∞"
		if !math.IsInf(q, 1) {
			cell = fmt.Sprintf("%.1f", q)
		}
		if i == 0 {
			row.validA, row.sqnrA = "yes", cell
		} else {
			row.validB, row.sqnrB = "yes", cell
		}
	}
	return row
}

// compareArtifact runs the source and the artifact at shapes and compares
// their outputs.
func compareArtifact(ref, art *onnxpb.ModelProto, shapes map[string][]int64, values map[string]float64) (*eval.ShapeCheck, error) {
	rs, err := ort.NewSessionFromModel(ref, ort.Options{})
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	as, err := ort.NewSessionFromModel(art, ort.Options{})
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load the artifact: %w", err)
	}
	defer as.Close()
	return eval.CompareAt(rs, as, dataset.SpecsFromGraph(ref.GetGraph()), shapes, values, 7)
}

// regionNote names what the latency search of a quantize report kept
// float: " · float fallback", " · float: depthwise Conv, pooling", or "".
func regionNote(rep map[string]any) string {
	rep, _ = rep["quantize"].(map[string]any)
	if _, ok := rep["fallback"].(map[string]any); ok {
		return " · float fallback"
	}
	var float []string
	regions, _ := rep["regions"].([]any)
	for _, r := range regions {
		if g, ok := r.(map[string]any); ok && g["decision"] == "float" {
			float = append(float, fmt.Sprint(g["region"]))
		}
	}
	if len(float) == 0 {
		return ""
	}
	return " · float: " + strings.Join(float, ", ")
}

// reportSpeedup reads the speedup over float from a quantize or prune
// report, or the model's runs per second from a bench report.
func reportSpeedup(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "–"
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, key := range []string{"latency", "speed"} {
		if o, ok := rep[key].(map[string]any); ok {
			if r, ok := o["rounds"].(map[string]any); ok {
				o = r
			}
			if s, ok := o["speedup"].(float64); ok {
				lo, _ := o["speedup_low"].(float64)
				hi, _ := o["speedup_high"].(float64)
				return fmt.Sprintf("%.2f× (%.2f–%.2f)", s, lo, hi) + regionNote(rep)
			}
		}
	}
	if res, ok := rep["results"].([]any); ok && len(res) > 0 {
		if r0, ok := res[0].(map[string]any); ok {
			lat, _ := r0["latency_ms"].(map[string]any)
			pct, _ := lat["percentiles"].(map[string]any)
			if p50, ok := pct["p50"].(float64); ok {
				return fmt.Sprintf("p50 %.3f ms", p50)
			}
		}
	}
	return "–"
}

func sweepTable(rows []sweepRow) string {
	var b strings.Builder
	b.WriteString("| model | command | exit | valid at A | valid at B | SQNR A dB | SQNR B dB | speed vs source |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		exit := fmt.Sprint(r.exit)
		if r.refusal != "" {
			exit += " (refused: " + r.refusal + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.model, r.cmd, exit, r.validA, r.validB, r.sqnrA, r.sqnrB, r.speedup)
	}
	return b.String()
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// realRefusals are the public corpus's expected refusals.
var realRefusals = map[string]string{
	"embedding_model/int8 dynamic":  "nothing to quantize", // convolutions only
	"embedding_model/int4":          "nothing to quantize",
	"embedding_model/bf16":          "no bf16 kernels",
	"melspectrogram/bf16":           "no bf16 kernels",
	"melspectrogram/prune channel":  "nothing to prune",
	"melspectrogram/prune 2:4":      "nothing to prune", // every convolution reads 1 channel
	"hey_jarvis_v0.1/bf16":          "no bf16 kernels",
	"hey_jarvis_v0.1/prune channel": "nothing to prune",
	"timer_v0.1/bf16":               "no bf16 kernels",
	// ISNet medium stores fp16 weights; small is already int8.
	"isnet_medium/int8 static":   "already fp16",
	"isnet_medium/int8 dynamic":  "already fp16",
	"isnet_medium/fp16":          "already fp16",
	"isnet_medium/bf16":          "already fp16",
	"isnet_medium/int4":          "already fp16",
	"isnet_medium/prune":         "float16, not float32",
	"isnet_medium/prune 2:4":     "float16, not float32",
	"isnet_medium/prune channel": "float16, not float32",
	"isnet_small/int8 static":    "already quantized",
	"isnet_small/int8 dynamic":   "already quantized",
	"isnet_small/fp16":           "already quantized",
	"isnet_small/bf16":           "already quantized",
	"isnet_small/int4":           "already quantized",
	"isnet_small/prune":          "nothing to prune",
	"isnet_small/prune 2:4":      "nothing to prune",
	"isnet_small/prune channel":  "nothing to prune",
}

func TestRealModelsSweep(t *testing.T) {
	testutil.InitORT(t)
	var models []sweepModel
	for _, rm := range testutil.RealModels() {
		var path string
		t.Run(rm.Name+"/fetched", func(t *testing.T) { path = testutil.RealModelPath(t, rm) })
		if path == "" {
			continue
		}
		m := sweepModel{name: rm.Name, path: path, a: rm.ShapeA, b: rm.ShapeB}
		if rm.Slow {
			// Seconds per run: two samples instead of random data's
			// hundreds (static int8 then validates on its calibration
			// samples, and says so).
			m.args = []string{"--data", smallData(t, path, rm.ShapeA)}
		}
		models = append(models, m)
	}
	if len(models) == 0 {
		t.Skip("no real model fetched")
	}
	sweep(t, models, realRefusals)
}

// smallData writes two random samples at shapes (the model's batch axis
// 0) to an .npz file beside the test's temporary files.
func smallData(t *testing.T, model string, shapes map[string][]int64) string {
	m, err := onnx.Load(model, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	specs := dataset.SpecsFromGraph(m.Proto.GetGraph())
	src, err := dataset.Open("random", specs, dataset.Options{RandomSamples: 2, Shapes: shapes})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rows := map[string][]*tensor.Tensor{}
	for range 2 {
		b, err := src.Next()
		if err != nil {
			t.Fatal(err)
		}
		for name, x := range b.Inputs {
			rows[name] = append(rows[name], x)
		}
	}
	path := filepath.Join(t.TempDir(), "small.npz")
	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, xs := range rows {
		x, err := tensor.Concat(xs...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(name, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
