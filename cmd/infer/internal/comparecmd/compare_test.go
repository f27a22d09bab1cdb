package comparecmd

import (
	"bytes"
	"math"
	"testing"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

func TestFlagsReachOptions(t *testing.T) {
	cases := []struct {
		args  []string
		check func(*Options) bool
	}{
		{[]string{"a.onnx", "b.onnx", "--data", "d.npz"}, func(o *Options) bool {
			return o.Ref == "a.onnx" && o.Cand == "b.onnx" && o.Data.Data == "d.npz" && o.MaxAccuracyDrop < 0 && o.MinAgreement < 0 && math.IsNaN(o.MinSQNR) && o.Runtime.EP == "cpu"
		}},
		{[]string{"a", "b", "--data", "random", "--max-accuracy-drop", "0.5", "--min-agreement", "99", "--min-sqnr", "30", "--limit", "10", "--batch-size", "4", "--shape", "x=1x3", "--ep", "cuda,cpu", "--ep-option", "device_id=1", "--threads", "2,1", "--json"}, func(o *Options) bool {
			return o.MaxAccuracyDrop == 0.5 && o.MinAgreement == 99 && o.MinSQNR == 30 && o.Data.Limit == 10 && o.Data.BatchSize == 4 &&
				len(o.Data.Shapes) == 1 && o.Runtime.EP == "cuda,cpu" && o.Runtime.EPOptions[0] == "device_id=1" && o.Runtime.Threads == "2,1" && o.JSON
		}},
	}
	for _, c := range cases {
		var got *Options
		f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
		cmd := NewCmd(f, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got == nil || !c.check(got) {
			t.Errorf("%v: options %+v", c.args, got)
		}
	}
}
