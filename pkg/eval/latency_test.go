package eval

import (
	"strings"
	"testing"
)

// A slowdown is called one only when every round shows it: 0.98× with a
// range across 1 is noise.
func TestSpeedVerdict(t *testing.T) {
	cases := []struct {
		sp   Speed
		want string
	}{
		{Speed{Speedup: 0.98, Low: 0.93, High: 1.04, Rounds: 5}, "the same within noise"},
		{Speed{Speedup: 0.71, Low: 0.68, High: 0.74, Rounds: 5}, "slower"},
		{Speed{Speedup: 2.1, Low: 1.9, High: 2.3, Rounds: 5}, "faster"},
		{Speed{}, "the same within noise"},
	}
	for _, c := range cases {
		if got := c.sp.Verdict(); got != c.want {
			t.Errorf("%s: %q, want %q", c.sp.String(), got, c.want)
		}
	}
	if s := (&Speed{Speedup: 1.84, Low: 1.79, High: 1.9, Rounds: 5}).String(); !strings.Contains(s, "1.84× (1.79–1.90 over 5 rounds)") {
		t.Errorf("String %q", s)
	}
}
