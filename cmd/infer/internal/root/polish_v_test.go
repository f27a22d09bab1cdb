package root

import (
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
)

// Issue 16: bench and ort word their errors in domain terms; the CLI still
// says which flag to change.
func TestPolishVFlagWordingInCLIOnly(t *testing.T) {
	model := testutil.Testdata(t, "mlp.onnx")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", model, "--iterations", "1", "--scenario", "latency", "--concurrency", "2"}, "the latency scenario runs one stream; use --scenario throughput or server with --concurrency"},
		{[]string{"bench", model, "--iterations", "1", "--scenario", "server"}, "the server scenario needs --rate (requests per second)"},
		{[]string{"bench", model, "--iterations", "1", "--rate", "10"}, "--rate applies to the server scenario only"},
		{[]string{"bench", model, "--iterations", "1", "--scenario", "server", "--rate", "1e12"}, "--rate 1e+12: want more than 0 and at most 1e+06 requests per second"},
		{[]string{"bench", model, "--iterations", "1", "--ep-option", "fp16=1"}, `--ep-option "fp16=1" applies to no provider in --ep cpu (no --ep takes it)`},
		{[]string{"eval", model, "--data", "random", "--ep-option", "device_id"}, `--ep-option "device_id": want key=value`},
		{[]string{"eval", model, "--data", "random", "--ep-option", "fp16=1"}, `--ep-option "fp16=1" applies to no provider in --ep cpu`},
	}
	for _, c := range cases {
		oneLineError(t, infer(t, c.args...), 2, c.want)
	}
}
