package root

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/infer-ml/infer/internal/testutil"
)

// reportSchema compiles docs/report.schema.json.
func reportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jsonschema.NewCompiler().Compile(path)
	if err != nil {
		t.Fatalf("docs/report.schema.json: %v", err)
	}
	return s
}

// validReport checks a command's --json document against the schema and
// returns it.
func validReport(t *testing.T, s *jsonschema.Schema, what string, r result) map[string]any {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, r.stdout)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("%s: the report does not match docs/report.schema.json: %v\n%s", what, err, r.stdout)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every command's --json report validates against the one schema, with
// the same validation field names (reference_* and candidate_*), the
// header and the files with their sha256; an fp16 report echoes its own
// options and no int8 ones, and a report lists only the gates set.
func TestReportsMatchSchema(t *testing.T) {
	s := reportSchema(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "d.npz")
	digitsSubset(t, data, 300)
	cnn := testutil.Testdata(t, "cnn.onnx")
	int8 := validReport(t, s, "quantize int8", infer(t, "quantize", mnist(t), "--data", data, "--calibration-samples", "100", "-o", filepath.Join(dir, "q.onnx"), "--json", "--no-progress"))
	fp16 := validReport(t, s, "quantize fp16", infer(t, "quantize", cnn, "--precision", "fp16", "-o", filepath.Join(dir, "h.onnx"), "--json"))
	pruned := validReport(t, s, "prune", infer(t, "prune", mnist(t), "--data", data, "--max-accuracy-drop", "50", "-o", filepath.Join(dir, "p.onnx"), "--json", "--no-progress"))
	validReport(t, s, "distill", infer(t, distillArgs(t, data, filepath.Join(dir, "ck"), filepath.Join(dir, "s.onnx"), "--json", "--min-agreement", "1")...))
	validReport(t, s, "compare", infer(t, "compare", mnist(t), filepath.Join(dir, "p.onnx"), "--data", data, "--min-agreement", "10", "--json", "--no-progress"))
	validReport(t, s, "eval", infer(t, "eval", mnist(t), "--data", data, "--json", "--no-progress"))

	v := int8["validation"].(map[string]any)
	if _, ok := v["reference_accuracy"].(float64); !ok || v["reference"] != "original" {
		t.Errorf("int8 validation %v", v)
	}
	if o := int8["options"].(map[string]any); o["min_sqnr"] != nil || o["max_accuracy_drop"] != nil || len(int8["gates"].([]any)) != 0 {
		t.Errorf("int8 report shows gates that were not set: options %v, gates %v", o, int8["gates"])
	}
	o := fp16["options"].(map[string]any)
	if o["keep_io_types"] != true || o["block_ops"] == nil || o["per_channel"] != nil || o["weight_type"] != nil || o["activation_type"] != nil {
		t.Errorf("fp16 options %v", o)
	}
	g := pruned["gates"].([]any)
	if len(g) != 1 || g[0].(map[string]any)["gate"] != "max_accuracy_drop" || pruned["options"].(map[string]any)["max_accuracy_drop"] != 50.0 {
		t.Errorf("prune gates %v", g)
	}
	if out := pruned["output"].(map[string]any); len(out["sha256"].(string)) != 64 || out["role"] != "output" {
		t.Errorf("prune output %v", out)
	}
}

// --max-accuracy-drop without labels is a usage error naming the flag in
// every command that takes it, before any work: prune used to gate on the
// agreement instead, and quantize failed with exit 1.
func TestAccuracyGateNeedsLabelsEverywhere(t *testing.T) {
	dir := t.TempDir()
	const unlabelled = "random"
	for _, args := range [][]string{
		{"quantize", mnist(t), "--data", unlabelled, "--max-accuracy-drop", "1", "-o", filepath.Join(dir, "q.onnx")},
		{"prune", mnist(t), "--max-accuracy-drop", "1", "-o", filepath.Join(dir, "p.onnx")},
		{"compare", mnist(t), mnist(t), "--data", "random", "--max-accuracy-drop", "1"},
		distillArgs(t, unlabelled, filepath.Join(dir, "ck"), filepath.Join(dir, "s.onnx"), "--max-accuracy-drop", "1"),
	} {
		r := infer(t, args...)
		oneLineError(t, r, 2, "--max-accuracy-drop needs labels")
	}
	// Without labels, agreement is the gate to ask for: prune's 95%
	// sparsity cannot keep 100% agreement (exit 3, model written).
	r := infer(t, "prune", mnist(t), "--sparsity", "0.95", "--data", unlabelled, "--min-agreement", "100", "-o", filepath.Join(dir, "a.onnx"))
	if r.code != 3 || !strings.Contains(r.stderr, "--min-agreement 100 not met: top-1 agreement") || !strings.Contains(r.stderr, "the pruned model was written to") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}
