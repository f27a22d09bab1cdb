package root

import (
	"strings"
	"testing"
	"time"

	"github.com/infer-ml/infer/internal/testutil"
)

// Issue 15, items 5, 9 and 10: time and memory bounded whatever the flags.

// inferWithin runs the CLI in this process and fails the test when it has
// not ended within limit (it then keeps running until the test binary
// exits).
func inferWithin(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- infer(t, args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("infer %s: still running after %v", strings.Join(args, " "), limit)
		return result{}
	}
}

// A server benchmark at the highest rate ends at --duration and reports
// the requests it could not serve; a rate whose arrival gaps round to
// nothing is a usage error (it used to run forever, growing by gigabytes).
func TestHardeningBenchServerBounded(t *testing.T) {
	model := testutil.Testdata(t, "cnn.onnx")
	r := inferWithin(t, 20*time.Second, "bench", model, "--scenario", "server", "--rate", "1e6",
		"--duration", "1s", "--threads", "1", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rep := readJSON(t, r.stdout)
	res := rep["results"].([]any)[0].(map[string]any)
	if d, _ := res["dropped"].(float64); d <= 0 {
		t.Fatalf("no dropped requests reported at 1e6/s:\n%s", r.stdout)
	}
	table := inferWithin(t, 20*time.Second, "bench", model, "--scenario", "server", "--rate", "1e6",
		"--duration", "200ms", "--threads", "1")
	if table.code != 0 || !strings.Contains(table.stdout, "dropped ") {
		t.Fatalf("the table does not report drops: exit %d\n%s%s", table.code, table.stdout, table.stderr)
	}
	for _, rate := range []string{"1e12", "+Inf", "NaN", "-5"} {
		r := inferWithin(t, 20*time.Second, "bench", model, "--scenario", "server", "--rate", rate, "--duration", "1s")
		oneLineError(t, r, 2, "--rate")
		if rate == "1e12" && !strings.Contains(r.stderr, "at most 1e+06") {
			t.Fatalf("--rate 1e12: the limit is not named: %q", r.stderr)
		}
	}
}

// A --shape whose random inputs cannot fit in memory is refused in one
// line naming the input, its shape and the bytes needed and available,
// before anything is allocated (it crashed Go out of memory), and so is
// one whose size overflows int64. (The first needs 360 GB to generate.)
func TestHardeningShapeTooLarge(t *testing.T) {
	model := writeArch(t, t.TempDir(), "mobilenetv3") // x [N,3,H,W]
	for _, shape := range []string{"x=1x3x100000x100000", "x=1x3x2147483647x2147483647"} {
		for _, args := range [][]string{
			{"eval", model, "--data", "random", "--shape", shape},
			{"quantize", model, "--shape", shape, "-o", t.TempDir() + "/q.onnx"},
		} {
			r := infer(t, args...)
			oneLineError(t, r, 1, `model input "x"`)
			for _, want := range []string{strings.ReplaceAll(strings.TrimPrefix(shape, "x="), "x", " "), "bytes to generate", "bytes of memory available"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%v: %q does not say %q", args, r.stderr, want)
				}
			}
		}
	}
}

// --threads beyond 4 per core (at least 16), or negative, is a usage
// error naming the limit; ONNX Runtime took minutes to start 100000.
func TestHardeningThreadsBounded(t *testing.T) {
	model := testutil.Testdata(t, "mlp.onnx")
	for _, threads := range []string{"100000", "1,100000", "-1"} {
		for _, args := range [][]string{
			{"eval", model, "--data", "random", "--threads", threads},
			{"bench", model, "--iterations", "1", "--threads", threads},
		} {
			r := inferWithin(t, 20*time.Second, args...)
			oneLineError(t, r, 2, "--threads")
			if threads != "-1" && !strings.Contains(r.stderr, "allowed") {
				t.Errorf("%v: the limit is not named: %q", args, r.stderr)
			}
		}
	}
	if r := infer(t, "eval", model, "--data", "random", "--threads", "16,1", "--limit", "1"); r.code != 0 {
		t.Fatalf("--threads 16 (the least limit): exit %d: %s", r.code, r.stderr)
	}
}
