package bench

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// twoModels is what `infer bench a.onnx b.onnx` reports: one provider,
// one batch, the second model slower, and no gate.
func twoModels() *Report {
	r := goldenReport()
	r.Results = r.Results[:2]
	r.Results[0].Model, r.Results[1].Model = "a.onnx", "b.onnx"
	for i := range r.Results {
		r.Results[i].Provider, r.Results[i].ProvidersSkipped = "cpu", nil
		r.Results[i].ProviderRan = "cpu"
	}
	r.Results[1].SpeedupP50, r.Results[1].SpeedupThroughput = ptr(0.65), ptr(0.66)
	r.Gates, r.Regressions = nil, nil
	return r
}

// Markdown of an ungated run says what was compared, and never "no
// regressions": nothing was checked.
func TestMarkdownUngatedSaysWhatWasCompared(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, twoModels(), Compact); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "no regressions") || strings.Contains(out, "✅") || strings.Contains(out, "### Regressions") {
		t.Errorf("an ungated run claims no regressions:\n%s", out)
	}
	if want := "- b.onnx vs a.onnx (cpu, batch 1, latency): p50 0.65× (slower), samples/s 0.66× (slower)\n"; !strings.Contains(out, want) {
		t.Errorf("no comparison line %q in:\n%s", want, out)
	}
}

// The default table of a two-model run fits 100 columns and still names
// the provider, batch and scenario once; the wide one has every column.
func TestTableCompactFitsWideHasAll(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, twoModels(), Compact); err != nil {
		t.Fatal(err)
	}
	compact := buf.String()
	for _, line := range strings.Split(compact, "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	for _, want := range []string{"cpu · batch 1 · latency\n", "p50 ms", "p90 ms", "p99 ms", "runs/s", "samples/s", "speedup", "0.65×"} {
		if !strings.Contains(compact, want) {
			t.Errorf("compact table lacks %q:\n%s", want, compact)
		}
	}
	buf.Reset()
	if err := WriteTable(&buf, twoModels(), Wide); err != nil {
		t.Fatal(err)
	}
	wide := buf.String()
	for _, want := range []string{"provider", "batch", "scenario", "create ms", "first ms", "mean ms", "stddev ms",
		"p95 ms", "p99.9 ms", "min ms", "max ms", "RSS+", "size", "speedup p50", "speedup thr", "98 MiB", "700 MiB", "24.5 MiB"} {
		if !strings.Contains(wide, want) {
			t.Errorf("wide table lacks %q:\n%s", want, wide)
		}
	}
}

func TestGatesDescribe(t *testing.T) {
	if d := (Gates{MaxRegressionPct: -1}).Describe(); len(d) != 0 {
		t.Errorf("no gate on: %q", d)
	}
	g := Gates{Baseline: &Report{}, MaxRegressionPct: 10, MaxP99MS: 20, MinThroughput: 500}
	want := []string{"p50 and p99 at most +10%, runs/s at most -10% vs the baseline", "p99 ≤ 20ms", "samples/s ≥ 500/s"}
	if d := g.Describe(); strings.Join(d, "|") != strings.Join(want, "|") {
		t.Errorf("Describe() = %q, want %q", d, want)
	}
}

// The compact table of the golden report, where provider, batch and
// scenario (a server one) all vary, fits 100 columns, and so do the
// Markdown tables: the results are grouped under a line naming those
// instead of columns. The table was 115 wide.
func TestCompactFitsWhenEverythingVaries(t *testing.T) {
	for _, f := range []Format{FormatTable, FormatMarkdown} {
		var buf bytes.Buffer
		if err := Write(&buf, goldenReport(), f, Compact); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, line := range strings.Split(out, "\n") {
			if f == FormatMarkdown && !strings.HasPrefix(line, "|") {
				continue // prose, which Markdown wraps
			}
			if n := utf8.RuneCountInString(line); n > 100 {
				t.Errorf("%s: line of %d columns: %q", f, n, line)
			}
		}
		for _, want := range []string{"cuda · batch 1 · latency\n", "cpu · batch 8 · server c=2 @50/s\n", "1.41×"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", f, want, out)
			}
		}
	}
}

// Results are grouped by provider, batch and scenario in the order each
// first appears, so that the models measured at one batch size are
// together; a server run's drops get a column.
func TestCompactGroupsResults(t *testing.T) {
	r := twoModels()
	a, b := r.Results[0], r.Results[1]
	a8, b8 := a, b
	a8.Batch, b8.Batch, b8.Dropped = 8, 8, 7
	r.Results = []Result{a, a8, b, b8} // the order Run measures them in
	var buf bytes.Buffer
	if err := WriteTable(&buf, r, Compact); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	want := "cpu · batch 1 · latency\n  a.onnx  2.050   2.200   2.900   0        476.2   476.2      -\n" +
		"  b.onnx  1.450   1.600   2.200   0        666.7   666.7      0.65×\n" +
		"cpu · batch 8 · latency\n  a.onnx  2.050   2.200   2.900   0        476.2   476.2      -\n" +
		"  b.onnx  1.450   1.600   2.200   7        666.7   666.7      0.65×\n"
	if !strings.Contains(out, want) || !strings.Contains(out, "p99 ms  dropped  runs/s") {
		t.Errorf("not grouped by batch with a dropped column; got:\n%s\nwant rows:\n%s", out, want)
	}
}
