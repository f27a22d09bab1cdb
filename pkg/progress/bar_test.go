package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// clock is a fake time source the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBar() (*Bar, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := NewBar(&buf)
	b.now = c.now
	return b, &buf, c
}

// last is the line the bar shows now: the text after the last \r, without
// the padding that clears a longer line.
func last(buf *bytes.Buffer) string {
	s := buf.String()
	return strings.TrimRight(s[strings.LastIndex(s, "\r")+1:], " ")
}

// A counting task names its unit in the count and the rate and gives an
// ETA from the rate so far; no "it/s" anywhere.
func TestBarUnitsRateETA(t *testing.T) {
	b, buf, c := newTestBar()
	b.Start("calibrating", 500, Samples)
	if got, want := last(buf), "calibrating [>                   ] 0/500 samples"; got != want {
		t.Errorf("at start: %q, want %q", got, want)
	}
	c.advance(2 * time.Second)
	b.Add(100)
	want := "calibrating [====>               ] 100/500 samples · 50.0 samples/s · ETA 8s"
	if got := last(buf); got != want {
		t.Errorf("after 100 in 2s: %q, want %q", got, want)
	}
	if strings.Contains(buf.String(), "it/s") {
		t.Errorf("a rate without a unit: %q", buf.String())
	}
	b.Done()
	if s := buf.String(); !strings.HasSuffix(s, "\r"+strings.Repeat(" ", utf8.RuneCountInString(want))+"\r") {
		t.Errorf("Done does not clear the line: %q", s)
	}
}

// The first units of a task do not read as thousands per second: no rate
// and no ETA before rateAfter.
func TestBarNoRateAtStart(t *testing.T) {
	b, buf, c := newTestBar()
	b.Start("bench model.onnx cpu b1", 2000, Runs)
	c.advance(time.Millisecond)
	b.Add(8) // 8000 runs/s if shown
	c.advance(redrawEvery)
	b.Add(1)
	if got := last(buf); strings.Contains(got, "/s") || strings.Contains(got, "ETA") {
		t.Errorf("rate or ETA shown after %v: %q", 101*time.Millisecond, got)
	}
	c.advance(time.Second)
	b.Add(1)
	if got := last(buf); !strings.Contains(got, " runs/s") || !strings.Contains(got, "ETA") {
		t.Errorf("no runs/s rate or ETA after a second: %q", got)
	}
}

// Model-level steps show "step 3/7: NAME" and an ETA, never a rate.
func TestBarSteps(t *testing.T) {
	b, buf, c := newTestBar()
	b.Start("sensitivity", 7, Steps)
	if buf.Len() != 0 {
		t.Errorf("a step task is drawn before its first step: %q", buf.String())
	}
	for _, name := range []string{"conv1 at 25%", "conv1 at 50%", "fc1 at 25%"} {
		c.advance(2 * time.Second)
		b.Step(name)
	}
	want := "sensitivity step 3/7: fc1 at 25% · ETA 15s" // 2 done in 6s: 5 left at 3s each
	if got := last(buf); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if strings.Contains(buf.String(), "/s") {
		t.Errorf("a step task shows a rate: %q", buf.String())
	}
}

// A duration-bound task counts seconds with an ETA and no rate; an
// unknown total shows the count and rate without a bar.
func TestBarSecondsAndUnknownTotal(t *testing.T) {
	b, buf, c := newTestBar()
	b.Start("model.onnx cpu b1", 10, Seconds)
	c.advance(3 * time.Second)
	b.Add(3)
	if got, want := last(buf), "model.onnx cpu b1 [======>             ] 3/10 s · ETA 7s"; got != want {
		t.Errorf("seconds: %q, want %q", got, want)
	}
	b.Done()
	b.Start("evaluating", -1, Samples)
	c.advance(time.Second)
	b.Add(250)
	if got, want := last(buf), "evaluating 250 samples · 250 samples/s"; got != want {
		t.Errorf("unknown total: %q, want %q", got, want)
	}
}

// Redraws are throttled, and a long name is cut so the line never wraps
// an 80-column terminal.
func TestBarThrottleAndWidth(t *testing.T) {
	b, buf, c := newTestBar()
	b.Start(strings.Repeat("very-long-model-name-", 8)+".onnx cpu b1", 1000, Runs)
	draws := strings.Count(buf.String(), "\r")
	for range 50 {
		b.Add(1)
	}
	if n := strings.Count(buf.String(), "\r"); n != draws {
		t.Errorf("%d redraws within %v, want none", n-draws, redrawEvery)
	}
	c.advance(time.Second)
	b.Add(1)
	got := last(buf)
	if n := utf8.RuneCountInString(got); n > lineWidth || !strings.Contains(got, "…") || !strings.HasSuffix(got, "ETA 19s") {
		t.Errorf("line of %d runes (max %d), want the name cut and the ETA kept: %q", n, lineWidth, got)
	}
}

func TestFormatETA(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond: "0s",
		8 * time.Second:        "8s",
		65 * time.Second:       "1m05s",
		2*time.Hour + 3*time.Minute + 10*time.Second: "2h03m",
	} {
		if got := formatETA(d); got != want {
			t.Errorf("formatETA(%v) = %q, want %q", d, got, want)
		}
	}
}
