package evalcmd

import (
	"bytes"
	"testing"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

func TestFlagsReachOptions(t *testing.T) {
	var got *Options
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	cmd := NewCmd(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"m.onnx", "--data", "d.npz", "--offset", "5", "--limit", "7", "--outputs", "a,b", "--graph-opt", "basic", "--no-progress", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Model != "m.onnx" || got.Data.Data != "d.npz" || got.Data.Offset != 5 || got.Data.Limit != 7 ||
		len(got.Outputs) != 2 || got.Runtime.OptLevel != "basic" || !got.NoProgress || !got.JSON {
		t.Fatalf("options %+v", got)
	}
	o, err := got.Runtime.Options()
	if err != nil || o.OptLevel != "basic" || len(o.Providers) != 1 {
		t.Fatalf("runtime options %+v %v", o, err)
	}
}
