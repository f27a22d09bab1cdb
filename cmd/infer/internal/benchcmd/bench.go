// Package benchcmd implements `infer bench`.
package benchcmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/bench"
	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/atomicfile"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/plotfile"
	"github.com/infer-ml/infer/pkg/report"
)

// Options of `infer bench`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory

	Models      []string
	EPs         []string
	EPOptions   []string
	Iterations  int
	Duration    time.Duration
	Warmup      string
	Batches     []int
	Shapes      []string
	Values      []string
	Data        string
	Seed        int64
	Threads     string
	GraphOpt    string
	Concurrency int
	Scenario    string
	Rate        float64
	Percentiles string
	Format      string
	Wide        bool
	Output      string
	Force       bool
	Baseline    string
	MaxRegr     string
	MaxP99      string
	MinThru     string
	Plot        string
	NoProgress  bool
	// CommandLine is the command as given, for the report.
	CommandLine []string
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "bench MODEL [MODEL...]",
		Short: "Measure latency and throughput on CPU, CUDA or TensorRT, compare models and gate on regressions",
		Long: `Measure each model × execution provider × batch size: session creation time,
first-run latency, latency min/mean/stddev/percentiles/max, throughput (runs/s
and samples/s), peak RSS growth and model size; with several models, speedup
relative to the first. The table and Markdown show p50/p90/p99, runs/s,
samples/s and the speedup, grouped under a line per provider, batch and
scenario (fits 100 columns); --wide shows everything, as json and csv
always do. --format json is the report schema every command shares
(docs/report.schema.json).

Inputs and output buffers are prepared before timing and only ONNX Runtime's
Run is timed (monotonic clock); warm-up runs are excluded and no outlier is
dropped. Percentiles are nearest-rank. Scenarios: latency (one stream),
throughput (--concurrency streams on one session), server (Poisson arrivals
at --rate, latency counted from each request's scheduled arrival, so
queueing shows).

Gates exit with code 3 and list what regressed: --baseline (an earlier
--format json report) with --max-regression, --max-p99, --min-throughput.`,
		Example: `  infer bench model.onnx
  infer bench model.onnx model.int8.onnx --iterations 1000 --batch 1,8,32
  infer bench model.onnx --ep tensorrt --ep-option fp16=true --ep-option engine_cache=.trt
  infer bench model.onnx --ep tensorrt,cuda,cpu --format markdown -o bench.md
  infer bench model.onnx --scenario server --rate 200 --concurrency 2 --duration 20s
  infer bench model.onnx --format json -o new.json --baseline main.json --max-regression 10%`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Models = args
			opts.CommandLine = cmdutil.CommandLine(c, args)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.EPs, "ep", nil, cmdutil.EPUsage+"; repeat --ep to measure several")
	fl.StringArrayVar(&opts.EPOptions, "ep-option", nil, "provider option KEY=VALUE or PROVIDER.KEY=VALUE (repeatable): fp16, int8, engine_cache, workspace, device_id or ONNX Runtime keys")
	fl.IntVar(&opts.Iterations, "iterations", 0, "measured runs (default: run for --duration)")
	fl.DurationVar(&opts.Duration, "duration", 0, "measure for this long (default 10s when --iterations is not given)")
	fl.StringVar(&opts.Warmup, "warmup", "10", "warm-up before measuring: a run count (10) or a duration (2s)")
	fl.IntSliceVar(&opts.Batches, "batch", nil, "batch sizes, e.g. 1,8,32 (default: the model's fixed batch size, else 1)")
	fl.StringSliceVar(&opts.Shapes, "shape", nil, "shape of a dynamic input, NAME=1x3x224x224 (repeatable; the batch axis follows --batch; default: realistic sizes the model runs at)")
	cmdutil.BindValues(fl, &opts.Values)
	fl.StringVar(&opts.Data, "data", "random", "inputs: random, or an .npz / folder / ONNX test-data folder (first batch used)")
	fl.Int64Var(&opts.Seed, "seed", 1, "seed for random inputs and server arrivals")
	fl.StringVar(&opts.Threads, "threads", "", cmdutil.ThreadsFlagUsage)
	fl.StringVar(&opts.GraphOpt, "graph-opt", "all", "ONNX Runtime graph optimization level: disable, basic, extended, all")
	fl.IntVar(&opts.Concurrency, "concurrency", 1, "concurrent streams (throughput) or workers (server) on one session")
	fl.StringVar(&opts.Scenario, "scenario", "", "latency, throughput or server (default: latency, or throughput with --concurrency > 1)")
	fl.Float64Var(&opts.Rate, "rate", 0, fmt.Sprintf("server scenario: mean arrival rate, requests per second (Poisson), at most %g; requests that find the queue full, or are queued when --duration ends, are dropped and counted", bench.MaxRate))
	fl.StringVar(&opts.Percentiles, "percentiles", "50,90,95,99,99.9", "latency percentiles to report")
	fl.StringVar(&opts.Format, "format", "table", "output format: table, json, csv, markdown")
	fl.BoolVar(&opts.Wide, "wide", false, "table and markdown: every column (session creation, first run, mean, stddev, all percentiles, min, max, RSS+, size)")
	fl.StringVarP(&opts.Output, "output", "o", "", "write the report to this file instead of stdout")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing -o or --plot file")
	fl.StringVar(&opts.Baseline, "baseline", "", "an earlier JSON report to compare with (see --max-regression)")
	fl.StringVar(&opts.MaxRegr, "max-regression", "", "fail (exit 3) when p50/p99 grow or throughput falls by more than this vs --baseline, e.g. 10%")
	fl.StringVar(&opts.MaxP99, "max-p99", "", "fail (exit 3) when any p99 latency exceeds this, e.g. 20ms")
	fl.StringVar(&opts.MinThru, "min-throughput", "", "fail (exit 3) when any throughput is below this many samples/s")
	fl.StringVar(&opts.Plot, "plot", "", "write latency histograms and CDFs to this .png or .svg")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Run benchmarks.
func Run(opts *Options) error {
	cfg, gates, format, err := plan(opts)
	if err != nil {
		return err
	}
	inputs := append([]string{opts.Baseline, opts.Data}, opts.Models...)
	if err := cmdutil.CheckOutputs(opts.Force, inputs, opts.Output, opts.Plot); err != nil {
		return err
	}
	if _, err := opts.Factory.InitORT(); err != nil {
		return err
	}
	for _, path := range opts.Models {
		m, err := cmdutil.LoadModel(path)
		if err != nil {
			return err
		}
		cfg.Models = append(cfg.Models, bench.Model{Path: path, Model: m})
	}
	cfg.Progress = opts.Factory.Progress(opts.NoProgress)
	cfg.Log = opts.IO.ErrOut
	rep, err := bench.Run(cfg)
	if err != nil {
		return err
	}
	rep.SetHeader(report.NewHeader("bench", rep.ORTVersion, opts.CommandLine, optionsEcho(opts, &cfg, gates)))
	rep.Inputs = inputsOf(cfg.Models)
	rep.Gates = gates.Describe()
	regs, unmatched := gates.Check(rep)
	rep.Regressions = append(rep.Regressions, regs...)
	for _, u := range unmatched {
		fmt.Fprintf(opts.IO.ErrOut, "infer: bench: %s\n", u)
	}
	view := bench.Compact
	if opts.Wide {
		view = bench.Wide
	}
	var buf bytes.Buffer
	if err := bench.Write(&buf, rep, format, view); err != nil {
		return err
	}
	if opts.Output != "" {
		if err := atomicfile.WriteFile(opts.Output, buf.Bytes(), opts.Force); err != nil {
			return err
		}
		if format != bench.FormatTable {
			// Keep the terminal informed when the report went to a file.
			bench.WriteTable(opts.IO.Out, rep, view)
		}
	} else if _, err := io.Copy(opts.IO.Out, &buf); err != nil {
		return err
	}
	if opts.Plot != "" {
		if err := bench.Plot(opts.Plot, rep.Results, opts.Force); err != nil {
			return err
		}
	}
	if len(rep.Regressions) > 0 {
		var parts []string
		for _, r := range rep.Regressions {
			parts = append(parts, fmt.Sprintf("%s %s b%d %s %s (limit %s)", baseName(r.Model), r.Provider, r.Batch, r.Metric, describe(r), r.Limit))
		}
		return cmdutil.Gatef("%d regression(s): %s", len(rep.Regressions), strings.Join(parts, "; "))
	}
	return nil
}

// settingFlagError words bench.Config's setting errors with the flags
// that set them; other errors pass unchanged.
func settingFlagError(err error) error {
	var re *bench.RateError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("--rate %g: %s", re.Rate, bench.RateLimits)
	case errors.Is(err, bench.ErrLatencyConcurrency):
		return errors.New("the latency scenario runs one stream; use --scenario throughput or server with --concurrency")
	case errors.Is(err, bench.ErrNoRate):
		return errors.New("the server scenario needs --rate (requests per second)")
	case errors.Is(err, bench.ErrRateNotServer):
		return errors.New("--rate applies to the server scenario only")
	}
	return err
}

// optionsEcho is the report's options: the settings used, defaults
// included, under the flag names without dashes, and the gates set.
func optionsEcho(opts *Options, cfg *bench.Config, gates bench.Gates) map[string]any {
	e := map[string]any{
		"ep": cfg.Providers, "scenario": string(cfg.Scenario), "concurrency": cfg.Concurrency,
		"warmup": opts.Warmup, "data": cfg.Data, "seed": cfg.Seed, "graph_opt": opts.GraphOpt, "percentiles": cfg.Percentiles,
	}
	if cfg.Iterations > 0 {
		e["iterations"] = cfg.Iterations
	} else {
		e["duration"] = cfg.Duration.String()
	}
	if cfg.Scenario == bench.Server {
		e["rate"] = cfg.Rate
	}
	for k, v := range map[string][]string{"ep_option": opts.EPOptions, "shape": opts.Shapes, "input_value": opts.Values} {
		if len(v) > 0 {
			e[k] = v
		}
	}
	if len(cfg.Batches) > 0 {
		e["batch"] = cfg.Batches
	}
	if opts.Threads != "" {
		e["threads"] = opts.Threads
	}
	if gates.Baseline != nil {
		e["baseline"], e["max_regression"] = opts.Baseline, gates.MaxRegressionPct
	}
	if gates.MaxP99MS > 0 {
		e["max_p99_ms"] = gates.MaxP99MS
	}
	if gates.MinThroughput > 0 {
		e["min_throughput"] = gates.MinThroughput
	}
	return e
}

// inputsOf describes the models measured, each path once.
func inputsOf(models []bench.Model) []report.File {
	var files []report.File
	seen := map[string]bool{}
	for _, m := range models {
		if !seen[m.Path] {
			seen[m.Path] = true
			files = append(files, report.Loaded("model", m.Path, m.Model))
		}
	}
	return files
}

func appliesToAny(eps []string, option string) bool {
	for _, ep := range eps {
		if len(ort.OptionsFor(ep, []string{option})) > 0 {
			return true
		}
	}
	return false
}

func describe(r bench.Regression) string {
	if r.Change != "" {
		return r.Change
	}
	return strconv.FormatFloat(r.Current, 'g', 4, 64)
}

func baseName(p string) string { return bench.ModelName(p) }

// plan turns flags into a bench.Config and gates; every bad value is a
// usage error.
func plan(opts *Options) (bench.Config, bench.Gates, bench.Format, error) {
	var cfg bench.Config
	gates := bench.Gates{MaxRegressionPct: -1}
	usage := func(err error) (bench.Config, bench.Gates, bench.Format, error) {
		return cfg, gates, "", &cmdutil.UsageError{Err: err}
	}
	format, err := bench.ParseFormat(opts.Format)
	if err != nil {
		return usage(err)
	}
	cfg.Providers = opts.EPs
	eps := cfg.Providers
	if len(eps) == 0 {
		eps = []string{"cpu"}
	}
	for _, ep := range eps {
		if _, err := ort.ParseProviders(ep, ort.OptionsFor(ep, opts.EPOptions)); err != nil {
			return usage(cmdutil.ProviderFlagError(err))
		}
	}
	// Each option must apply to some --ep; ParseProviders says why not.
	for _, o := range opts.EPOptions {
		if !appliesToAny(eps, o) {
			_, err := ort.ParseProviders(eps[0], []string{o})
			return usage(fmt.Errorf("%w (no --ep takes it)", cmdutil.ProviderFlagError(err)))
		}
	}
	cfg.ProviderOptions = opts.EPOptions
	if opts.Iterations < 0 {
		return usage(fmt.Errorf("--iterations %d: must be positive", opts.Iterations))
	}
	if opts.Iterations > 0 && opts.Duration > 0 {
		return usage(fmt.Errorf("--iterations and --duration exclude each other"))
	}
	if opts.Duration < 0 {
		return usage(fmt.Errorf("--duration %v: must be positive", opts.Duration))
	}
	cfg.Iterations, cfg.Duration = opts.Iterations, opts.Duration
	if n, err := strconv.Atoi(opts.Warmup); err == nil {
		if n < 0 {
			return usage(fmt.Errorf("--warmup %q: must not be negative", opts.Warmup))
		}
		cfg.WarmupRuns = n
		if n == 0 {
			cfg.WarmupDuration = time.Nanosecond // no warm-up
		}
	} else if d, err := time.ParseDuration(opts.Warmup); err == nil && d >= 0 {
		cfg.WarmupDuration = max(d, time.Nanosecond)
	} else {
		return usage(fmt.Errorf("--warmup %q: want a run count (10) or a duration (2s)", opts.Warmup))
	}
	for _, b := range opts.Batches {
		if b < 1 {
			return usage(fmt.Errorf("--batch %d: batch sizes must be at least 1", b))
		}
	}
	cfg.Batches = opts.Batches // none: each model's fixed batch size, else 1
	if cfg.Shapes, cfg.Values, err = cmdutil.ParseInputs(opts.Shapes, opts.Values); err != nil {
		return cfg, gates, "", err
	}
	cfg.Data, cfg.Seed = opts.Data, opts.Seed
	rt := cmdutil.RuntimeFlags{EP: "cpu", Threads: opts.Threads, OptLevel: opts.GraphOpt}
	so, err := rt.Options()
	if err != nil {
		return cfg, gates, "", err
	}
	cfg.IntraOpThreads, cfg.InterOpThreads, cfg.OptLevel = so.IntraOpThreads, so.InterOpThreads, so.OptLevel
	if opts.Concurrency < 1 {
		return usage(fmt.Errorf("--concurrency %d: must be at least 1", opts.Concurrency))
	}
	cfg.Concurrency, cfg.Scenario, cfg.Rate = opts.Concurrency, bench.Scenario(opts.Scenario), opts.Rate
	if opts.Rate < 0 || math.IsNaN(opts.Rate) || math.IsInf(opts.Rate, 0) {
		return usage(fmt.Errorf("--rate %v: must be a positive number of requests per second", opts.Rate))
	}
	if cfg.Percentiles, err = bench.ParsePercentiles(opts.Percentiles); err != nil {
		return usage(fmt.Errorf("--percentiles: %w", err))
	}
	if opts.MaxRegr != "" {
		if gates.MaxRegressionPct, err = bench.ParseRegression(opts.MaxRegr); err != nil {
			return usage(fmt.Errorf("--max-regression: %w", err))
		}
		if opts.Baseline == "" {
			return usage(fmt.Errorf("--max-regression needs --baseline"))
		}
	}
	if opts.Baseline != "" {
		if opts.MaxRegr == "" {
			return usage(fmt.Errorf("--baseline needs --max-regression (e.g. 10%%)"))
		}
		if gates.Baseline, err = bench.ReadReport(opts.Baseline); err != nil {
			return cfg, gates, "", err
		}
	}
	if opts.MaxP99 != "" {
		if gates.MaxP99MS, err = bench.ParseDurationMS(opts.MaxP99); err != nil {
			return usage(fmt.Errorf("--max-p99: %w", err))
		}
	}
	if opts.MinThru != "" {
		if gates.MinThroughput, err = bench.ParseThroughput(opts.MinThru); err != nil {
			return usage(fmt.Errorf("--min-throughput: %w", err))
		}
	}
	if err := cfg.Normalize(); err != nil {
		return usage(settingFlagError(err))
	}
	if opts.Plot != "" && !plotfile.Supported(opts.Plot) {
		return usage(fmt.Errorf("--plot %s: the file name must end in .png or .svg", opts.Plot))
	}
	return cfg, gates, format, nil
}
