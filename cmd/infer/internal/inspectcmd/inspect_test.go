package inspectcmd

import (
	"bytes"
	"testing"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
)

func TestFlagsReachOptions(t *testing.T) {
	var got *Options
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	cmd := NewCmd(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"m.onnx", "--dim", "N=8", "--dim", "S=128", "--no-run", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Model != "m.onnx" || len(got.Dims) != 2 || !got.NoRun || !got.JSON {
		t.Fatalf("options %+v", got)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 5994: "5,994", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}
