package benchcmd

import (
	"bytes"
	"testing"
	"time"

	"github.com/infer-ml/infer/bench"
	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

func TestFlagsReachConfig(t *testing.T) {
	var got *Options
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	cmd := NewCmd(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"a.onnx", "b.onnx", "--ep", "cpu", "--ep", "tensorrt,cuda,cpu", "--ep-option", "fp16=true",
		"--duration", "3s", "--warmup", "2s", "--batch", "1,8,32", "--shape", "x=1x3", "--threads", "2,1",
		"--scenario", "server", "--rate", "150", "--concurrency", "3", "--percentiles", "99,50",
		"--format", "markdown", "--max-p99", "20ms", "--min-throughput", "500/s", "--plot", "p.png"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	cfg, gates, format, err := plan(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Models) != 2 || len(cfg.Providers) != 2 || cfg.Providers[1] != "tensorrt,cuda,cpu" || cfg.ProviderOptions[0] != "fp16=true" {
		t.Fatalf("providers %+v", cfg)
	}
	if cfg.Duration != 3*time.Second || cfg.WarmupDuration != 2*time.Second || len(cfg.Batches) != 3 || cfg.Batches[2] != 32 {
		t.Fatalf("timing %+v", cfg)
	}
	if cfg.IntraOpThreads != 2 || cfg.InterOpThreads != 1 || cfg.Scenario != bench.Server || cfg.Rate != 150 || cfg.Concurrency != 3 {
		t.Fatalf("runtime %+v", cfg)
	}
	if len(cfg.Percentiles) != 2 || cfg.Percentiles[0] != 50 || format != bench.FormatMarkdown {
		t.Fatalf("percentiles %v format %v", cfg.Percentiles, format)
	}
	if gates.MaxP99MS != 20 || gates.MinThroughput != 500 || gates.Baseline != nil || gates.MaxRegressionPct >= 0 {
		t.Fatalf("gates %+v", gates)
	}
}
