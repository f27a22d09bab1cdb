package quantizecmd

import (
	"bytes"
	"testing"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/quantize"
	"github.com/infer-ml/infer/quantize/calib"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	var got *Options
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	cmd := NewCmd(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFlagsReachOptions(t *testing.T) {
	o := parse(t, "m.onnx", "--data", "d.npz", "--eval-data", "e.npz", "--calibration", "percentile", "--percentile", "99.9",
		"--calibration-samples", "64", "--per-channel=false", "--weight-type", "uint8", "--activation-type", "uint8",
		"--symmetric-activations", "--op-types", "Conv,MatMul", "--exclude-nodes", "a,b", "--max-accuracy-drop", "0.5",
		"--save-calibration", "c.json", "--threads", "1", "-o", "out.onnx", "--report", "r.json")
	qo, mode, err := plan(o)
	if err != nil {
		t.Fatal(err)
	}
	if mode != quantize.Static || o.Output != "out.onnx" || o.Report != "r.json" || o.EvalData != "e.npz" {
		t.Fatalf("mode %v options %+v", mode, o)
	}
	p := qo.Plan
	if p.PerChannel || p.WeightType != tensor.Uint8 || p.ActivationType != tensor.Uint8 || !p.SymmetricActivations ||
		len(p.OpTypes) != 2 || len(p.ExcludeNodes) != 2 {
		t.Fatalf("plan %+v", p)
	}
	if qo.Calib.Method != calib.Percentile || qo.Calib.Percentile != 99.9 || !qo.Calib.Symmetric || qo.CalibrationSamples != 64 {
		t.Fatalf("calibration %+v", qo.Calib)
	}
	if g := qo.Gate; g.MaxAccuracyDrop == nil || *g.MaxAccuracyDrop != 0.5 || g.MinSQNR != nil || qo.Session.IntraOpThreads != 1 {
		t.Fatalf("gates/session %+v", qo)
	}
	// Defaults: no data means dynamic, and no gate.
	o = parse(t, "m.onnx")
	qo, mode, err = plan(o)
	if err != nil || mode != quantize.Dynamic || qo.Gate.Quality() || qo.Gate.MinSpeedup != nil || !qo.Plan.PerChannel {
		t.Fatalf("defaults: mode %v %+v %v", mode, qo, err)
	}
	if got := defaultOutput("dir/model.onnx", "int8"); got != "dir/model.int8.onnx" {
		t.Fatalf("default output %q", got)
	}
}
