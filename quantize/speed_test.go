package quantize

import (
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/eval"
)

// A 0.98× run is noise, not a slowdown; a real one gets advice for the
// mode, never "please report".
func TestSpeedNote(t *testing.T) {
	noise := &eval.Speed{Speedup: 0.98, Low: 0.93, High: 1.04, Rounds: 5}
	if n := speedNote(noise, Static, "cpu"); !strings.Contains(n, "within noise") || strings.Contains(n, "slower") {
		t.Errorf("0.98× with a range across 1: %q", n)
	}
	slow := &eval.Speed{Speedup: 0.41, Low: 0.40, High: 0.43, Rounds: 5}
	for mode, want := range map[Mode]string{Static: "--exclude-op-types", Dynamic: "--exclude-op-types", FP16: "GPUs", Int4: "MatMulNBits"} {
		n := speedNote(slow, mode, "cpu")
		if !strings.Contains(n, "slower") || !strings.Contains(n, want) || strings.Contains(n, "report") {
			t.Errorf("%s at 0.41×: %q", mode, n)
		}
	}
	if n := speedNote(&eval.Speed{Speedup: 2.5, Low: 2.3, High: 2.6, Rounds: 5}, Static, "cpu"); n != "" {
		t.Errorf("faster: %q", n)
	}
}
