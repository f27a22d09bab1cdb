package root

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The commands a CI script runs with nothing but the required arguments,
// on models shaped like real exports.

// writeArch writes a zoo model into dir and returns its path.
func writeArch(t *testing.T, dir, name string) string {
	t.Helper()
	for _, a := range testmodels.Zoo() {
		if a.Name == name {
			return writeModel(t, dir, name, a.Model)
		}
	}
	t.Fatalf("no zoo model %q", name)
	return ""
}

func writeModel(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	b, err := testmodels.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A calibration file of 500 samples, the default --calibration-samples,
// leaves nothing to validate on: the calibration samples are used, and
// the output and report say so.
func TestQuantizeWholeFileIsCalibration(t *testing.T) {
	dir := t.TempDir()
	z, err := tensor.OpenNPZ(digits(t))
	if err != nil {
		t.Fatal(err)
	}
	calib := filepath.Join(dir, "calib.npz")
	w, err := tensor.CreateNPZ(calib, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Input3", "label"} {
		x, err := z.Read(name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := x.Rows(5000, 5500) // every digit but 0 and 1's first ones
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(name, rows); err != nil {
			t.Fatal(err)
		}
	}
	z.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.json")
	r := infer(t, "quantize", mnist(t), "--data", calib, "-o", filepath.Join(dir, "q.onnx"), "--report", report, "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "validation: calibration data (optimistic)") || !strings.Contains(r.stdout, "(calibration data, optimistic), 500 samples") {
		t.Fatalf("the validation data is not named:\n%s\n%s", r.stdout, r.stderr)
	}
	var rep struct {
		Validation struct {
			Optimistic bool     `json:"optimistic"`
			Accuracy   *float64 `json:"candidate_accuracy"`
		} `json:"validation"`
	}
	b, _ := os.ReadFile(report)
	if err := json.Unmarshal(b, &rep); err != nil || !rep.Validation.Optimistic || rep.Validation.Accuracy == nil {
		t.Fatalf("report validation %+v (%v)", rep.Validation, err)
	}
}

// A model exported for batch 64 benches at 64 by default, and inspect
// says which batch its FLOPs are for.
func TestFixedBatchDefaults(t *testing.T) {
	dir := t.TempDir()
	model := writeArch(t, dir, "mlp_fixed")
	out := filepath.Join(dir, "b.json")
	r := infer(t, "bench", model, "--iterations", "3", "--format", "json", "-o", out, "--no-progress")
	if r.code != 0 {
		t.Fatalf("bench: exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Results []struct {
			Batch int `json:"batch"`
		} `json:"results"`
	}
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Results) != 1 || rep.Results[0].Batch != 64 {
		t.Fatalf("bench results %+v (%v)", rep.Results, err)
	}
	r = infer(t, "inspect", model)
	if r.code != 0 || !strings.Contains(r.stdout, "FLOPs (batch 64)") || !strings.Contains(r.stdout, "at x [64 1024]") {
		t.Fatalf("inspect: exit %d\n%s", r.code, r.stdout)
	}
}

// A Silero-VAD-like model (2-D audio, a state batched on axis 1, a scalar
// int64 sample rate) converts to fp16 with no data and no values, and the
// artifact answers like the original at a second shape.
func TestScalarAndStateInputs(t *testing.T) {
	dir := t.TempDir()
	model := writeArch(t, dir, "vad")
	out := filepath.Join(dir, "vad.fp16.onnx")
	r := infer(t, "quantize", model, "--precision", "fp16", "-o", out, "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "second shape") || strings.Contains(r.stdout, "not checked") {
		t.Fatalf("no second-shape check:\n%s", r.stdout)
	}
	// Batch size 4 for the state's axis 1, a value for the scalar.
	r = infer(t, "eval", out, "--data", "random", "--batch-size", "4", "--input-value", "sr=8000")
	if r.code != 0 {
		t.Fatalf("eval: exit %d: %s", r.code, r.stderr)
	}
}

// An input random data cannot invent gets one line naming it and the flag
// that gives it a value.
func TestInputRandomDataCannotInvent(t *testing.T) {
	dir := t.TempDir()
	model := writeModel(t, dir, "sample_rate", testmodels.SampleRate())

	r := infer(t, "eval", model, "--data", "random")
	oneLineError(t, r, 1, "--input-value")
	if !strings.Contains(r.stderr, "sr") {
		t.Fatalf("the input is not named: %s", r.stderr)
	}
	r = infer(t, "eval", model, "--data", "random", "--input-value", "sr=16000")
	if r.code != 0 {
		t.Fatalf("with the value: exit %d: %s", r.code, r.stderr)
	}
	r = infer(t, "eval", model, "--data", "random", "--input-value", "sr=fast")
	oneLineError(t, r, 2, "not a finite number")
}
