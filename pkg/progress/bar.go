package progress

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bar is a Reporter that redraws one line in place on a terminal:
//
//	calibrating [=========>          ] 240/500 samples · 812 samples/s · ETA 1s
//	sensitivity step 3/12: conv1 at 50% · ETA 20s
//
// A rate is shown once a task has run for rateAfter, so that the first
// units do not read as thousands per second; Seconds and Steps tasks show
// no rate. It is safe for concurrent use.
type Bar struct {
	w   io.Writer
	now func() time.Time

	mu    sync.Mutex
	what  string
	unit  Unit
	total int64
	done  int64
	step  string
	start time.Time
	drawn time.Time // when the line was last drawn; zero: never
	width int       // runes of the line on screen, to clear it
}

// Bar layout.
const (
	// lineWidth is the most runes a line takes, so that it never wraps on
	// an 80-column terminal.
	lineWidth = 79
	barWidth  = 20
	// redrawEvery throttles redraws; Start and Step always draw.
	redrawEvery = 100 * time.Millisecond
	// rateAfter is how long a task runs before its rate is shown.
	rateAfter = 500 * time.Millisecond
)

// NewBar returns a Bar that draws on w (a terminal).
func NewBar(w io.Writer) *Bar { return &Bar{w: w, now: time.Now} }

// Start begins a task and draws it; a Steps task is drawn from its first
// Step.
func (b *Bar) Start(what string, total int64, unit Unit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.what, b.total, b.unit, b.done, b.step = what, total, unit, 0, ""
	b.start = b.now()
	if unit != Steps {
		b.draw(true)
	}
}

// Add counts n more units and redraws at most every redrawEvery.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	b.draw(false)
}

// Step begins the next named step of a Steps task and draws it.
func (b *Bar) Step(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.step != "" {
		b.done++
	}
	b.step = name
	b.draw(true)
}

// Done clears the line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.width > 0 {
		fmt.Fprint(b.w, "\r"+strings.Repeat(" ", b.width)+"\r")
	}
	b.width, b.drawn = 0, time.Time{}
}

// draw writes the line unless one was drawn less than redrawEvery ago and
// force is false.
func (b *Bar) draw(force bool) {
	now := b.now()
	if !force && !b.drawn.IsZero() && now.Sub(b.drawn) < redrawEvery {
		return
	}
	line := b.line(now)
	n := utf8.RuneCountInString(line)
	pad := max(b.width-n, 0)
	fmt.Fprint(b.w, "\r"+line+strings.Repeat(" ", pad))
	b.width, b.drawn = n, now
}

// line is what the bar shows at now, at most lineWidth runes.
func (b *Bar) line(now time.Time) string {
	var parts []string
	if b.unit == Steps {
		parts = append(parts, b.stepText())
	} else {
		parts = append(parts, b.countText())
	}
	if r := b.rate(now); r > 0 && b.unit != Seconds && b.unit != Steps {
		parts = append(parts, formatRate(r)+" "+string(b.unit)+"/s")
	}
	if eta, ok := b.eta(now); ok {
		parts = append(parts, "ETA "+formatETA(eta))
	}
	tail := strings.Join(parts, " · ")
	what := b.what
	if room := lineWidth - utf8.RuneCountInString(tail) - 1; utf8.RuneCountInString(what) > room {
		what = truncate(what, room)
	}
	if what == "" {
		return truncate(tail, lineWidth)
	}
	return truncate(what+" "+tail, lineWidth)
}

// countText is "[====>    ] 240/500 samples", or "240 samples" when the
// total is unknown.
func (b *Bar) countText() string {
	if b.total <= 0 {
		return fmt.Sprintf("%d %s", b.done, b.unit)
	}
	done := min(b.done, b.total)
	fill := int(int64(barWidth) * done / b.total)
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	return fmt.Sprintf("[%s] %d/%d %s", bar, done, b.total, b.unit)
}

// stepText is "step 3/7: NAME" (the step under way, counting from 1).
func (b *Bar) stepText() string {
	n := b.done + 1
	if b.step == "" {
		n = b.done
	}
	s := "step " + strconv.FormatInt(n, 10)
	if b.total > 0 {
		s += "/" + strconv.FormatInt(b.total, 10)
	}
	if b.step != "" {
		s += ": " + b.step
	}
	return s
}

// rate is units done per second so far, or 0 before rateAfter or before
// the first unit.
func (b *Bar) rate(now time.Time) float64 {
	el := now.Sub(b.start)
	if el < rateAfter || b.done <= 0 {
		return 0
	}
	return float64(b.done) / el.Seconds()
}

// eta is the time left at the rate so far; false when the total is
// unknown or nothing is done yet.
func (b *Bar) eta(now time.Time) (time.Duration, bool) {
	el := now.Sub(b.start)
	if b.total <= 0 || b.done <= 0 || el < rateAfter {
		return 0, false
	}
	left := max(b.total-b.done, 0)
	return time.Duration(float64(el) * float64(left) / float64(b.done)), true
}

// formatRate keeps three significant figures at most: 7619, 81.2, 2.50.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64)
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// formatETA is whole seconds: "8s", "1m05s", "2h03m".
func formatETA(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// truncate shortens s to n runes, ending it with "…" when it was cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
