package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/report"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/")

func ptr(v float64) *float64 { return &v }

// goldenReport is a fixed report: two models, a fallback list where
// TensorRT was skipped, two batch sizes, speedups, a server result and
// two failed gates.
func goldenReport() *Report {
	ps := []float64{50, 90, 95, 99, 99.9}
	lat := func(lo, mean, sd, hi float64, p ...float64) Stats {
		m := map[string]float64{}
		for i, v := range p {
			m[PercentileKey(ps[i])] = v
		}
		return Stats{Count: 1000, Min: lo, Mean: mean, Stddev: sd, Max: hi, Percentiles: m}
	}
	return &Report{
		Infer:      "v0.9.0",
		ORTVersion: "1.22.0",
		Date:       "2025-06-01T12:00:00Z",
		Host:       Host{Name: "ci-7", OS: "linux", Arch: "amd64", CPU: "AMD EPYC 7B13", Cores: 16, Go: "go1.26.0"},
		CommandLine: []string{"infer", "bench", "models/resnet50.onnx", "models/resnet50.int8.onnx",
			"--ep=tensorrt,cuda,cpu", "--ep=cpu", "--batch=1,8", "--baseline=main.json", "--max-regression=10%", "--min-throughput=500"},
		// JSON's own types, so that the report reads back equal.
		Options: map[string]any{"ep": []any{"tensorrt,cuda,cpu", "cpu"}, "batch": []any{1.0, 8.0}, "scenario": "latency",
			"iterations": 1000.0, "baseline": "main.json", "max_regression": 10.0, "min_throughput": 500.0},
		Inputs: []report.File{
			{Role: "model", Path: "models/resnet50.onnx", SHA256: strings.Repeat("ab", 32), Bytes: 102_760_448, Params: map[string]int64{"float32": 25_557_032}},
			{Role: "model", Path: "models/resnet50.int8.onnx", SHA256: strings.Repeat("cd", 32), Bytes: 25_690_112, Params: map[string]int64{"int8": 25_503_912, "float32": 53_120}},
		},
		Percentiles: ps,
		Results: []Result{
			{
				Model: "models/resnet50.onnx", ModelBytes: 102_760_448,
				Provider: "tensorrt,cuda,cpu", ProviderRan: "cuda",
				ProvidersSkipped: []string{"tensorrt: libnvinfer.so.10 not found"},
				Batch:            1, Scenario: Latency, Concurrency: 1,
				SessionCreateMS: 812.5, FirstRunMS: 95.25, WarmupRuns: 10, Iterations: 1000, WallSeconds: 2.1,
				Latency:    lat(1.9, 2.1, 0.12, 4.75, 2.05, 2.2, 2.3, 2.9, 4.1),
				RunsPerSec: 476.19, SamplesPerSec: 476.19, PeakRSSGrowthBytes: 734_003_200,
			},
			{
				Model: "models/resnet50.int8.onnx", ModelBytes: 25_690_112,
				Provider: "tensorrt,cuda,cpu", ProviderRan: "cuda",
				ProvidersSkipped: []string{"tensorrt: libnvinfer.so.10 not found"},
				Batch:            1, Scenario: Latency, Concurrency: 1,
				SessionCreateMS: 640, FirstRunMS: 70, WarmupRuns: 10, Iterations: 1000, WallSeconds: 1.5,
				Latency:    lat(1.2, 1.5, 0.1, 3.5, 1.45, 1.6, 1.7, 2.2, 3.3),
				RunsPerSec: 666.67, SamplesPerSec: 666.67, PeakRSSGrowthBytes: -1,
				SpeedupP50: ptr(1.4138), SpeedupThroughput: ptr(1.4),
			},
			{
				Model: "models/resnet50.onnx", ModelBytes: 102_760_448,
				Provider: "cpu", ProviderRan: "cpu",
				Batch: 8, Scenario: Server, Concurrency: 2, RateTarget: 50, RateAchieved: 49.2,
				SessionCreateMS: 300, FirstRunMS: 150, WarmupRuns: 10, Iterations: 400, WallSeconds: 8.13,
				Latency:    lat(35, 41.5, 3.25, 120, 40, 45, 48, 60.5, 110),
				RunsPerSec: 49.2, SamplesPerSec: 393.6, PeakRSSGrowthBytes: 209_715_200,
			},
		},
		Gates: []string{"p50 and p99 at most +10%, runs/s at most -10% vs the baseline", "samples/s ≥ 500/s"},
		Regressions: []Regression{
			{Model: "resnet50.onnx", Provider: "cuda", Batch: 1, Metric: "p99", Baseline: 2.35, Current: 2.9, Limit: "+10%", Change: "+23.4%"},
			{Model: "resnet50.onnx", Provider: "cpu", Batch: 8, Metric: "samples/s", Current: 393.6, Limit: "≥ 500/s"},
		},
	}
}

// goldenCase is one golden file: a format in a view.
type goldenCase struct {
	format Format
	view   View
	file   string
}

func TestGoldenReports(t *testing.T) {
	for _, c := range []goldenCase{
		{FormatTable, Compact, "report.table"},
		{FormatTable, Wide, "report.wide.table"},
		{FormatJSON, Compact, "report.json"},
		{FormatCSV, Compact, "report.csv"},
		{FormatMarkdown, Compact, "report.markdown"},
		{FormatMarkdown, Wide, "report.wide.markdown"},
	} {
		f := c.format
		t.Run(c.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, goldenReport(), f, c.view); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from %s (go test -update rewrites it); got:\n%s", f, golden, buf.Bytes())
			}
			// Writing again gives the same bytes: the writers depend on
			// nothing but the report (no map order, no clock).
			var again bytes.Buffer
			if err := Write(&again, goldenReport(), f, c.view); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Errorf("%s: a second write differs from the first", f)
			}
		})
	}
}

func TestReadReportRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, goldenReport()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "base.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenReport(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadReport(WriteJSON(r)) = %+v\nwant %+v", got, want)
	}
}

// A baseline written before bench reports had the shared header (no
// "command"; host "cores"; "gates") still reads, all it held kept.
func TestReadReportBeforeSharedHeader(t *testing.T) {
	got, err := ReadReport(filepath.Join("testdata", "report.v0.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := goldenReport()
	want.Host.Name, want.Host.Go, want.CommandLine, want.Options, want.Inputs = "", "", nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadReport(report.v0.json) = %+v\nwant %+v", got, want)
	}
}

func TestReadReportErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path    string
		mention string
	}{
		{filepath.Join(dir, "missing.json"), "missing.json"},
		{write("table.txt", "model  provider\n"), "not a JSON bench report"},
		{write("empty.json", `{"infer": "v1", "results": []}`), "no results"},
		{write("other.json", `{"name": "x"}`), "no results"},
		{write("two.json", `{"results": [{"model": "a"}]} {}`), "data after the report"},
		{write("types.json", `{"results": [{"batch": "one"}]}`), "not a JSON bench report"},
		{write("quantize.json", `{"command": "quantize", "inputs": [], "quantize": {"mode": "static"}}`), "an infer quantize report, not a bench one"},
		{write("header.json", `{"command": "bench", "results": []}`), "no results"},
	}
	for _, tt := range tests {
		_, err := ReadReport(tt.path)
		if err == nil {
			t.Errorf("ReadReport(%s): no error", tt.path)
			continue
		}
		if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("ReadReport(%s) error %q: want the path and %q", tt.path, err, tt.mention)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": FormatTable, "JSON": FormatJSON, " csv ": FormatCSV, "markdown": FormatMarkdown} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "md", "yaml", "tabl"} {
		if got, err := ParseFormat(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseFormat(%q) = %q, %v; want an error naming it", in, got, err)
		}
	}
	if err := Write(new(bytes.Buffer), goldenReport(), "xml", Compact); err == nil {
		t.Error(`Write(format "xml"): no error`)
	}
	for _, f := range []Format{FormatTable, FormatJSON, FormatCSV, FormatMarkdown} {
		if err := Write(new(bytes.Buffer), nil, f, Compact); err == nil {
			t.Errorf("Write(nil report, %s): no error", f)
		}
	}
}

func TestMarkdownNoRegressions(t *testing.T) {
	r := goldenReport()
	r.Regressions = nil
	r.Gates = []string{"p99 ≤ 20ms"}
	r.Results[0].Model = "a|b.onnx"
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r, Compact); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "### Regressions\n\n✅ no regressions (p99 ≤ 20ms)\n") {
		t.Errorf("markdown of a gated run without regressions lacks the ✅ line:\n%s", out)
	}
	if strings.Contains(out, "❌") {
		t.Errorf("markdown without regressions has ❌:\n%s", out)
	}
	if !strings.Contains(out, `| a\|b.onnx |`) {
		t.Errorf("a | in a model name is not escaped:\n%s", out)
	}
	one := goldenReport()
	one.Regressions = one.Regressions[:1]
	buf.Reset()
	if err := WriteMarkdown(&buf, one, Compact); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "❌ 1 regression\n") {
		t.Errorf("markdown with one regression lacks \"❌ 1 regression\":\n%s", buf.String())
	}
}

// TestPercentileColumnsFromResults covers a report without Percentiles
// (an older or hand-made one): the columns come from the results' keys.
func TestPercentileColumnsFromResults(t *testing.T) {
	r := goldenReport()
	r.Percentiles = nil
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(buf.String(), "\n")
	if !strings.Contains(header, ",stddev_ms,p50_ms,p90_ms,p95_ms,p99_ms,p99.9_ms,max_ms,") {
		t.Errorf("CSV header %q: percentile columns not in increasing order", header)
	}
}
