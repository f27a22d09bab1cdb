package root

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/infer-ml/infer/internal/testutil"
)

// fileSHA256 is the hex sha256 of the file at path.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// benchGolden is bench's golden JSON report (two providers, two batch
// sizes, a server result, regressions) as a document.
func benchGolden(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "bench", "testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// bench --format json is on the shared schema: the header (command line,
// options used with the gates set), the models with their sha256, and
// bench's own section; the golden report (server result, regressions)
// validates too. bench's keys are refused in other commands' reports and
// required in bench's. Before, the bench report had no header and did
// not validate.
func TestPolishXBenchReportMatchesSchema(t *testing.T) {
	s := reportSchema(t)
	dir := t.TempDir()
	a, b := writeMLP(t, dir, "a.onnx", 16), writeMLP(t, dir, "b.onnx", 32)
	doc := validReport(t, s, "bench", infer(t, "bench", a, b, a, "--iterations", "20", "--batch", "1,2", "--threads", "1",
		"--max-p99", "10s", "--format", "json", "--no-progress"))
	if doc["command"] != "bench" || len(doc["results"].([]any)) != 6 {
		t.Fatalf("command %v, %d results", doc["command"], len(doc["results"].([]any)))
	}
	inputs := doc["inputs"].([]any)
	if len(inputs) != 2 {
		t.Fatalf("inputs %v: want each model once", inputs)
	}
	for i, path := range []string{a, b} {
		f := inputs[i].(map[string]any)
		if f["path"] != path || f["sha256"] != fileSHA256(t, path) || f["role"] != "model" {
			t.Errorf("input %d: %v, want %s with its sha256", i, f, path)
		}
	}
	o := doc["options"].(map[string]any)
	if o["iterations"] != 20.0 || o["max_p99_ms"] != 10000.0 || o["scenario"] != "latency" || o["threads"] != "1" ||
		!slices.Equal(o["batch"].([]any), []any{1.0, 2.0}) || o["baseline"] != nil || o["min_throughput"] != nil {
		t.Errorf("options %v", o)
	}
	if g := doc["gates_checked"].([]any); len(g) != 1 || g[0] != "p99 ≤ 10000ms" {
		t.Errorf("gates_checked %v", g)
	}
	if cl := doc["command_line"].([]any); cl[0] != "infer" || cl[1] != "bench" || !slices.Contains(cl, any("--max-p99=10s")) {
		t.Errorf("command line %v", cl)
	}

	valid := func(m map[string]any) error {
		b, _ := json.Marshal(m)
		d, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return s.Validate(d)
	}
	if err := valid(benchGolden(t)); err != nil {
		t.Errorf("bench/testdata/report.json does not match docs/report.schema.json: %v", err)
	}
	other := benchGolden(t)
	other["command"] = "eval"
	if valid(other) == nil {
		t.Error("an eval report with bench's results validates")
	}
	noResults := benchGolden(t)
	delete(noResults, "results")
	if valid(noResults) == nil {
		t.Error("a bench report without results validates")
	}
}

// A baseline written by an earlier infer (no header: results, "gates",
// host "cores") still gates: a run slower than it exits 3 naming the
// metric. Its latencies are made tiny so that any real run regresses.
// Another command's report as a baseline is refused in one line.
func TestPolishXBenchOldBaseline(t *testing.T) {
	dir := t.TempDir()
	model := testutil.Testdata(t, "mlp.onnx")
	r := infer(t, "bench", model, "--iterations", "20", "--threads", "1", "--format", "json", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	doc := readJSON(t, r.stdout)
	for _, k := range []string{"command", "command_line", "options", "inputs", "gates_checked"} {
		delete(doc, k)
	}
	doc["host"] = map[string]any{"os": "linux", "arch": "amd64", "cpu": "x", "cores": 1}
	for _, res := range doc["results"].([]any) {
		lat := res.(map[string]any)["latency_ms"].(map[string]any)
		lat["percentiles"] = map[string]any{"p50": 1e-6, "p99": 1e-6}
	}
	old := filepath.Join(dir, "old.json")
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(old, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = infer(t, "bench", model, "--iterations", "20", "--threads", "1", "--baseline", old, "--max-regression", "10%", "--no-progress")
	if r.code != 3 || !strings.Contains(r.stderr, "p50") || !strings.Contains(r.stdout, "REGRESSION") {
		t.Fatalf("against an old baseline: exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}

	e := infer(t, "eval", model, "--data", "random", "--json", "--no-progress")
	if e.code != 0 {
		t.Fatalf("eval: exit %d: %s", e.code, e.stderr)
	}
	evalReport := filepath.Join(dir, "eval.json")
	if err := os.WriteFile(evalReport, []byte(e.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r = infer(t, "bench", model, "--iterations", "5", "--baseline", evalReport, "--max-regression", "10%")
	oneLineError(t, r, 1, "an infer eval report, not a bench one")
}
