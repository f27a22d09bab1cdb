package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/report"
)

// Format is a report format.
type Format string

// Formats.
const (
	// FormatTable is an aligned text table for terminals and CI logs.
	FormatTable Format = "table"
	// FormatJSON is the indented JSON of Report, what ReadReport reads.
	FormatJSON Format = "json"
	// FormatCSV is one row per result with a header row.
	FormatCSV Format = "csv"
	// FormatMarkdown is a GitHub-flavoured table for a pull-request comment.
	FormatMarkdown Format = "markdown"
)

// ParseFormat parses "table", "json", "csv" or "markdown" (any case). It
// returns an error naming s otherwise.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatTable, FormatJSON, FormatCSV, FormatMarkdown:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want table, json, csv or markdown", s)
}

// View picks the columns of the human formats, table and Markdown; JSON
// and CSV always hold everything.
type View int

// Views.
const (
	// Compact fits 100 columns: model, p50/p90/p99, runs/s, samples/s and
	// the speedup (and requests dropped, when a server run dropped some),
	// the results grouped under a line naming their provider, batch and
	// scenario (one line above the table when all results share them).
	Compact View = iota
	// Wide has every column.
	Wide
)

// Write writes r to w in format f; v applies to table and Markdown. It
// returns an error for an unknown format or when w fails.
func Write(w io.Writer, r *Report, f Format, v View) error {
	switch f {
	case FormatTable:
		return WriteTable(w, r, v)
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return WriteCSV(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r, v)
	}
	return fmt.Errorf("format %q: want table, json, csv or markdown", f)
}

// WriteJSON writes r as indented JSON on docs/report.schema.json, the
// form ReadReport reads. Empty lists are written as [] rather than null so
// that consumers can count them without a null check.
func WriteJSON(w io.Writer, r *Report) error {
	if r == nil {
		return errNoReport
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(documentOf(r)); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// document is the JSON form of a Report: the shared header and inputs,
// then bench's own section.
type document struct {
	report.Header
	Inputs      []report.File `json:"inputs"`
	Percentiles []float64     `json:"percentiles"`
	Results     []Result      `json:"results"`
	Gates       []string      `json:"gates_checked"`
	Regressions []Regression  `json:"regressions"`
}

// legacyDocument holds what a report written before the shared header
// (no "command") kept where the header now keeps something else.
type legacyDocument struct {
	Host struct {
		Cores int `json:"cores"`
	} `json:"host"`
	Gates []string `json:"gates"`
}

// documentOf is r's JSON form.
func documentOf(r *Report) *document {
	h, options := r.Host, r.Options
	if options == nil {
		options = map[string]any{}
	}
	return &document{
		Header: report.Header{
			Command: "bench", Infer: r.Infer, ORTVersion: r.ORTVersion, Date: r.Date,
			Host:        report.Host{Name: h.Name, OS: h.OS, Arch: h.Arch, CPUs: h.Cores, Go: h.Go, CPU: h.CPU},
			CommandLine: orEmpty(r.CommandLine), Options: options,
		},
		Inputs: orEmpty(r.Inputs), Percentiles: orEmpty(r.Percentiles), Results: orEmpty(r.Results),
		Gates: orEmpty(r.Gates), Regressions: orEmpty(r.Regressions),
	}
}

// reportOf is the Report that d is the JSON form of.
func reportOf(d *document) *Report {
	h := d.Host
	return &Report{
		Infer: d.Infer, ORTVersion: d.ORTVersion, Date: d.Date,
		Host:        Host{Name: h.Name, OS: h.OS, Arch: h.Arch, CPU: h.CPU, Cores: h.CPUs, Go: h.Go},
		CommandLine: d.CommandLine, Options: d.Options, Inputs: d.Inputs,
		Percentiles: d.Percentiles, Results: d.Results, Gates: d.Gates, Regressions: d.Regressions,
	}
}

// orEmpty is s, or an empty list for nil (JSON [] rather than null).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ReadReport reads a JSON report written by WriteJSON, such as a --baseline,
// or one written before bench reports had the shared header. It returns an
// error naming path if the file cannot be read, is not JSON, has data after
// the report, is another command's report, or holds no results.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var d document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("report %s: not a JSON bench report: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("report %s: data after the report", path)
	}
	if d.Command != "" && d.Command != "bench" {
		return nil, fmt.Errorf("report %s: an infer %s report, not a bench one (write one with infer bench --format json)", path, d.Command)
	}
	if len(d.Results) == 0 {
		return nil, fmt.Errorf("report %s: no results (is it an infer bench --format json report?)", path)
	}
	r := reportOf(&d)
	if d.Command == "" {
		var old legacyDocument
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, fmt.Errorf("report %s: not a JSON bench report: %w", path, err)
		}
		r.Host.Cores, r.Gates = old.Host.Cores, old.Gates
	}
	return r, nil
}

// ModelName is the base name of a model path, as reports show it and as
// Gates match results: the part after the last / or \.
func ModelName(path string) string {
	return path[strings.LastIndexAny(path, `/\`)+1:]
}

// percentilesOf returns the percentiles that r's columns show: r.Percentiles,
// or when that is empty the ones found in its results, in increasing order.
func percentilesOf(r *Report) []float64 {
	if len(r.Percentiles) > 0 {
		return r.Percentiles
	}
	var ps []float64
	for _, res := range r.Results {
		for k := range res.Latency.Percentiles {
			if p, err := strconv.ParseFloat(strings.TrimPrefix(k, "p"), 64); err == nil && PercentileKey(p) == k {
				ps = append(ps, p)
			}
		}
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// column is one column of the human tables (text and Markdown).
type column struct {
	header string
	left   bool // text, left-aligned in Markdown; numbers are right-aligned
	cell   func(Result) string
}

func fmtMS(v float64) string   { return strconv.FormatFloat(v, 'f', 3, 64) }
func fmtRate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// providerCell is the provider that ran, and what was asked for when that
// differs (a fallback list, or a provider that failed to start).
func providerCell(r Result) string {
	if r.Provider != "" && r.Provider != r.ProviderRan {
		return r.ProviderRan + " (asked " + r.Provider + ")"
	}
	return r.ProviderRan
}

// scenarioCell is the scenario with the server's achieved rate and
// drops: "server c=2 @50/s (got 49.2/s) dropped 3".
func scenarioCell(r Result) string {
	s := scenarioLabel(r)
	if r.Scenario == Server {
		if r.RateAchieved > 0 {
			s += " (got " + fmtRate(r.RateAchieved) + "/s)"
		}
		if r.Dropped > 0 {
			s += fmt.Sprintf(" dropped %d", r.Dropped)
		}
	}
	return s
}

// scenarioLabel is the scenario as it was asked for: "latency",
// "throughput c=4", "server c=2 @50/s".
func scenarioLabel(r Result) string {
	switch r.Scenario {
	case Throughput:
		return fmt.Sprintf("%s c=%d", r.Scenario, r.Concurrency)
	case Server:
		return fmt.Sprintf("%s c=%d @%s/s", r.Scenario, r.Concurrency, strconv.FormatFloat(r.RateTarget, 'f', -1, 64))
	}
	return string(r.Scenario)
}

func rssCell(r Result) string {
	if r.PeakRSSGrowthBytes < 0 {
		return "n/a"
	}
	return onnx.HumanBytes(r.PeakRSSGrowthBytes)
}

func batchCell(r Result) string { return strconv.Itoa(r.Batch) }

func providerRanCell(r Result) string { return r.ProviderRan }

func speedupCell(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + "×"
}

// group is results measured on one provider, batch and scenario, in
// report order; label says those once ("cuda · batch 1 · latency").
type group struct {
	label   string
	results []Result
}

// humanColumns are the columns of WriteTable and WriteMarkdown in view v,
// and the results grouped as the view shows them: Wide in one unlabelled
// group, Compact by provider, batch and scenario, which are not columns.
func humanColumns(r *Report, v View) ([]column, []group) {
	if v == Wide {
		return wideColumns(r), []group{{results: r.Results}}
	}
	gs := groupResults(r.Results)
	if len(gs) == 0 {
		gs = []group{{}} // no result: the header alone
	}
	return compactColumns(r), gs
}

// groupResults groups rs by provider, batch and scenario, the groups in
// the order of their first result.
func groupResults(rs []Result) []group {
	provider := providerRanCell
	if distinct(rs, providerCell) > distinct(rs, providerRanCell) {
		provider = providerCell // the same provider ran for different --ep lists
	}
	var gs []group
	index := map[string]int{}
	for _, res := range rs {
		label := provider(res) + " · batch " + batchCell(res) + " · " + scenarioLabel(res)
		i, ok := index[label]
		if !ok {
			i = len(gs)
			index[label] = i
			gs = append(gs, group{label: label})
		}
		gs[i].results = append(gs[i].results, res)
	}
	return gs
}

// wideColumns are every column; the speedup columns only when some result
// has one.
func wideColumns(r *Report) []column {
	cols := []column{
		{"model", true, func(r Result) string { return ModelName(r.Model) }},
		{"provider", true, providerCell},
		{"batch", false, batchCell},
		{"scenario", true, scenarioCell},
		{"create ms", false, func(r Result) string { return fmtMS(r.SessionCreateMS) }},
		{"first ms", false, func(r Result) string { return fmtMS(r.FirstRunMS) }},
		{"mean ms", false, func(r Result) string { return fmtMS(r.Latency.Mean) }},
		{"stddev ms", false, func(r Result) string { return fmtMS(r.Latency.Stddev) }},
	}
	cols = append(cols, percentileColumns(percentilesOf(r))...)
	cols = append(cols,
		column{"min ms", false, func(r Result) string { return fmtMS(r.Latency.Min) }},
		column{"max ms", false, func(r Result) string { return fmtMS(r.Latency.Max) }},
		column{"runs/s", false, func(r Result) string { return fmtRate(r.RunsPerSec) }},
		column{"samples/s", false, func(r Result) string { return fmtRate(r.SamplesPerSec) }},
		column{"RSS+", false, rssCell},
		column{"size", false, func(r Result) string { return onnx.HumanBytes(r.ModelBytes) }},
	)
	if slices.ContainsFunc(r.Results, func(r Result) bool { return r.SpeedupP50 != nil }) {
		cols = append(cols, column{"speedup p50", false, func(r Result) string { return speedupCell(r.SpeedupP50) }})
	}
	if slices.ContainsFunc(r.Results, func(r Result) bool { return r.SpeedupThroughput != nil }) {
		cols = append(cols, column{"speedup thr", false, func(r Result) string { return speedupCell(r.SpeedupThroughput) }})
	}
	return cols
}

// compactColumns are the Compact view's columns: the model, latency
// percentiles, server requests dropped (when some were), runs/s,
// samples/s and the speedup (when some result has one).
func compactColumns(r *Report) []column {
	cols := []column{{"model", true, func(r Result) string { return ModelName(r.Model) }}}
	cols = append(cols, percentileColumns(compactPercentiles(r))...)
	if slices.ContainsFunc(r.Results, func(r Result) bool { return r.Dropped > 0 }) {
		cols = append(cols, column{"dropped", false, func(r Result) string { return strconv.FormatInt(r.Dropped, 10) }})
	}
	cols = append(cols,
		column{"runs/s", false, func(r Result) string { return fmtRate(r.RunsPerSec) }},
		column{"samples/s", false, func(r Result) string { return fmtRate(r.SamplesPerSec) }},
	)
	if slices.ContainsFunc(r.Results, func(r Result) bool { return r.SpeedupP50 != nil }) {
		cols = append(cols, column{"speedup", false, func(r Result) string { return speedupCell(r.SpeedupP50) }})
	}
	return cols
}

// compactPercentiles are p50, p90 and p99 of the default percentiles, or
// every percentile when others were asked for.
func compactPercentiles(r *Report) []float64 {
	ps := percentilesOf(r)
	if !slices.Equal(ps, DefaultPercentiles) {
		return ps
	}
	return []float64{50, 90, 99}
}

// percentileColumns are one latency column per percentile in ps.
func percentileColumns(ps []float64) []column {
	var cols []column
	for _, p := range ps {
		key := PercentileKey(p)
		cols = append(cols, column{key + " ms", false, func(r Result) string {
			v, ok := r.Latency.Percentiles[key]
			if !ok {
				return "-"
			}
			return fmtMS(v)
		}})
	}
	return cols
}

// distinct counts the different values cell takes over rs.
func distinct(rs []Result, cell func(Result) string) int {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[cell(r)] = true
	}
	return len(seen)
}

// comparisons are one line per result with a speedup, in words:
// "b.onnx vs a.onnx (cpu, batch 1, latency): p50 0.65× (slower), samples/s 0.66× (slower)".
func comparisons(r *Report) []string {
	if len(r.Results) == 0 {
		return nil
	}
	first := ModelName(r.Results[0].Model)
	var lines []string
	for _, res := range r.Results {
		if res.SpeedupP50 == nil && res.SpeedupThroughput == nil {
			continue
		}
		var parts []string
		if res.SpeedupP50 != nil {
			parts = append(parts, "p50 "+ratioText(*res.SpeedupP50))
		}
		if res.SpeedupThroughput != nil {
			parts = append(parts, "samples/s "+ratioText(*res.SpeedupThroughput))
		}
		lines = append(lines, fmt.Sprintf("%s vs %s (%s, batch %d, %s): %s",
			ModelName(res.Model), first, res.ProviderRan, res.Batch, res.Scenario, strings.Join(parts, ", ")))
	}
	return lines
}

// ratioText is a speedup in words: "0.65× (slower)", "1.41× (faster)",
// "1.00× (same)".
func ratioText(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	switch {
	case s == "1.00":
		return s + "× (same)"
	case v > 1:
		return s + "× (faster)"
	}
	return s + "× (slower)"
}

// headline says what ran where: versions and date, then the host, each
// part empty when unknown.
func headline(r *Report) (run, machine string) {
	var parts []string
	if r.Infer != "" {
		parts = append(parts, "infer "+r.Infer)
	}
	if r.ORTVersion != "" {
		parts = append(parts, "ONNX Runtime "+r.ORTVersion)
	}
	if r.Date != "" {
		parts = append(parts, r.Date)
	}
	run = strings.Join(parts, " · ")
	parts = nil
	if h := r.Host; h.OS != "" || h.Arch != "" {
		parts = append(parts, h.OS+"/"+h.Arch)
	}
	if h := r.Host; h.CPU != "" || h.Cores > 0 {
		cpu := h.CPU
		if cpu == "" {
			cpu = "CPU"
		}
		if h.Cores > 0 {
			cpu += fmt.Sprintf(" (%d cores)", h.Cores)
		}
		parts = append(parts, cpu)
	}
	return run, strings.Join(parts, " · ")
}

// nonEmpty are the strings of ss that are not "".
func nonEmpty(ss ...string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

// skippedLines are "model: entry" for every skipped provider, each once.
func skippedLines(r *Report) []string {
	var lines []string
	for _, res := range r.Results {
		for _, s := range res.ProvidersSkipped {
			line := ModelName(res.Model) + ": " + s
			if !slices.Contains(lines, line) {
				lines = append(lines, line)
			}
		}
	}
	return lines
}

// regressionValue formats a gate's baseline or current value with the unit
// of its metric.
func regressionValue(metric string, v float64) string {
	switch metric {
	case MetricThroughput, MetricSamplesPerSec:
		return fmtRate(v) + "/s"
	}
	return fmtMS(v) + " ms"
}

// regressionText is one failed gate in words.
func regressionText(g Regression) string {
	s := fmt.Sprintf("%s %s batch %d: %s ", g.Model, g.Provider, g.Batch, g.Metric)
	if g.Baseline != 0 {
		s += regressionValue(g.Metric, g.Baseline) + " → "
	}
	s += regressionValue(g.Metric, g.Current) + " (limit " + g.Limit
	if g.Change != "" {
		s += ", " + g.Change
	}
	return s + ")"
}

// WriteTable writes r as an aligned text table in view v: a headline (two
// lines), one row per result — in Compact grouped under a line naming
// their provider, batch and scenario, which is the headline's third line
// when every result shares them —, the providers that were skipped and,
// when gates were checked, a REGRESSION block or the line
// "gates passed: ...".
func WriteTable(w io.Writer, r *Report, v View) error {
	if r == nil {
		return errNoReport
	}
	var b bytes.Buffer
	cols, groups := humanColumns(r, v)
	run, machine := headline(r)
	shared := ""
	if len(groups) == 1 {
		shared = groups[0].label
	}
	if lines := nonEmpty(run, machine, shared); len(lines) > 0 {
		b.WriteString(strings.Join(lines, "\n") + "\n\n")
	}
	if err := writeRows(&b, cols, groups); err != nil {
		return err
	}
	out := b.String()
	if skipped := skippedLines(r); len(skipped) > 0 {
		out += "\nskipped providers:\n"
		for _, s := range skipped {
			out += "  " + s + "\n"
		}
	}
	switch {
	case len(r.Regressions) > 0:
		out += fmt.Sprintf("\nREGRESSION: %d gate(s) failed\n", len(r.Regressions))
		for _, g := range r.Regressions {
			out += "  " + regressionText(g) + "\n"
		}
	case len(r.Gates) > 0:
		out += "\ngates passed: " + strings.Join(r.Gates, "; ") + "\n"
	}
	_, err := io.WriteString(w, out)
	return err
}

// writeRows writes the header row and the groups' rows, aligned together;
// with several groups each starts with its label and its rows are
// indented by two spaces.
func writeRows(b *bytes.Buffer, cols []column, gs []group) error {
	labelled := len(gs) > 1
	indent := ""
	if labelled {
		indent = "  "
	}
	var tb bytes.Buffer
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	row := make([]string, len(cols))
	for i, c := range cols {
		row[i] = c.header
	}
	writeTabRow(tw, row)
	for _, g := range gs {
		for _, res := range g.results {
			for i, c := range cols {
				row[i] = c.cell(res)
			}
			row[0] = indent + row[0]
			writeTabRow(tw, row)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(tb.String(), "\n")
	b.WriteString(lines[0])
	next := 1
	for _, g := range gs {
		if labelled {
			b.WriteString(g.label + "\n")
		}
		for range g.results {
			b.WriteString(lines[next])
			next++
		}
	}
	return nil
}

func writeTabRow(w io.Writer, cells []string) {
	io.WriteString(w, strings.Join(cells, "\t")+"\n")
}

// WriteCSV writes one row per result after a header row. Columns are in a
// fixed order, with one <key>_ms column per percentile of the report;
// numbers are written in full precision, a missing value as an empty cell.
func WriteCSV(w io.Writer, r *Report) error {
	if r == nil {
		return errNoReport
	}
	ps := percentilesOf(r)
	header := []string{"model", "model_bytes", "provider", "provider_ran", "providers_skipped",
		"batch", "scenario", "concurrency", "rate_target", "rate_achieved",
		"session_create_ms", "first_run_ms", "warmup_runs", "iterations", "wall_seconds",
		"count", "min_ms", "mean_ms", "stddev_ms"}
	for _, p := range ps {
		header = append(header, PercentileKey(p)+"_ms")
	}
	header = append(header, "max_ms", "runs_per_sec", "samples_per_sec", "peak_rss_growth_bytes",
		"speedup_p50", "speedup_throughput")
	cw := csv.NewWriter(w)
	cw.Write(header)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return num(*v)
	}
	for _, res := range r.Results {
		rec := []string{res.Model, strconv.FormatInt(res.ModelBytes, 10), res.Provider, res.ProviderRan,
			strings.Join(res.ProvidersSkipped, "; "),
			strconv.Itoa(res.Batch), string(res.Scenario), strconv.Itoa(res.Concurrency),
			num(res.RateTarget), num(res.RateAchieved),
			num(res.SessionCreateMS), num(res.FirstRunMS), strconv.Itoa(res.WarmupRuns),
			strconv.Itoa(res.Iterations), num(res.WallSeconds),
			strconv.Itoa(res.Latency.Count), num(res.Latency.Min), num(res.Latency.Mean), num(res.Latency.Stddev)}
		for _, p := range ps {
			if v, ok := res.Latency.Percentiles[PercentileKey(p)]; ok {
				rec = append(rec, num(v))
			} else {
				rec = append(rec, "")
			}
		}
		rec = append(rec, num(res.Latency.Max), num(res.RunsPerSec), num(res.SamplesPerSec),
			strconv.FormatInt(res.PeakRSSGrowthBytes, 10), opt(res.SpeedupP50), opt(res.SpeedupThroughput))
		cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV report: %w", err)
	}
	return nil
}

// mdEscape makes s safe in a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer(`|`, `\|`, "\n", " ", "`", "\\`").Replace(s)
}

func mdRow(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// WriteMarkdown writes r as GitHub-flavoured Markdown for a pull-request
// comment, in view v: a headline, the results table (in Compact, one per
// provider, batch and scenario, each after a line naming them), skipped
// providers, a Comparison section saying in words how each model compares
// with the first, and, only when gates were checked, a Regressions section
// that starts with ✅ or ❌.
func WriteMarkdown(w io.Writer, r *Report, v View) error {
	if r == nil {
		return errNoReport
	}
	var b strings.Builder
	cols, groups := humanColumns(r, v)
	run, machine := headline(r)
	if h := strings.Join(nonEmpty(run, machine), " · "); h != "" {
		b.WriteString(mdEscape(h) + "\n\n")
	}
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\n")
		}
		if g.label != "" {
			b.WriteString(mdEscape(g.label) + "\n\n")
		}
		writeMarkdownTable(&b, cols, g.results)
	}
	if skipped := skippedLines(r); len(skipped) > 0 {
		b.WriteString("\nSkipped providers:\n\n")
		for _, s := range skipped {
			b.WriteString("- " + mdEscape(s) + "\n")
		}
	}
	if cmp := comparisons(r); len(cmp) > 0 {
		b.WriteString("\n### Comparison\n\n")
		for _, c := range cmp {
			b.WriteString("- " + mdEscape(c) + "\n")
		}
	}
	writeMarkdownGates(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdownTable writes one table: the header, the alignment row and
// a row per result.
func writeMarkdownTable(b *strings.Builder, cols []column, rs []Result) {
	row := make([]string, len(cols))
	for i, c := range cols {
		row[i] = c.header
	}
	mdRow(b, row)
	for i, c := range cols {
		row[i] = "---:"
		if c.left {
			row[i] = "---"
		}
	}
	mdRow(b, row)
	for _, res := range rs {
		for i, c := range cols {
			row[i] = mdEscape(c.cell(res))
		}
		mdRow(b, row)
	}
}

// writeMarkdownGates writes the Regressions section: ✅ and the gates
// checked, or ❌ and a table of what failed; nothing when no gate was
// checked.
func writeMarkdownGates(b *strings.Builder, r *Report) {
	if len(r.Gates) == 0 && len(r.Regressions) == 0 {
		return
	}
	b.WriteString("\n### Regressions\n\n")
	switch n := len(r.Regressions); n {
	case 0:
		b.WriteString("✅ no regressions (" + mdEscape(strings.Join(r.Gates, "; ")) + ")\n")
	default:
		noun := "regressions"
		if n == 1 {
			noun = "regression"
		}
		fmt.Fprintf(b, "❌ %d %s\n\n", n, noun)
		mdRow(b, []string{"model", "provider", "batch", "metric", "baseline", "current", "limit", "change"})
		mdRow(b, []string{"---", "---", "---:", "---", "---:", "---:", "---", "---:"})
		for _, g := range r.Regressions {
			base := "-"
			if g.Baseline != 0 {
				base = regressionValue(g.Metric, g.Baseline)
			}
			change := g.Change
			if change == "" {
				change = "-"
			}
			mdRow(b, []string{mdEscape(g.Model), mdEscape(g.Provider), strconv.Itoa(g.Batch), mdEscape(g.Metric),
				base, regressionValue(g.Metric, g.Current), mdEscape(g.Limit), change})
		}
	}
}

// errNoReport is returned by the writers for a nil *Report.
var errNoReport = errors.New("write report: no report (nil)")
