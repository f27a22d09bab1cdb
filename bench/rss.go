package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// rssMeter measures peak resident memory growth on Linux: writing "5" to
// /proc/self/clear_refs resets the peak (VmHWM) to the current RSS.
type rssMeter struct {
	before int64
	ok     bool
}

func startRSS() *rssMeter {
	m := &rssMeter{}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return m
	}
	rss, _, err := readStatus()
	if err != nil {
		return m
	}
	m.before, m.ok = rss, true
	return m
}

// growth returns peak RSS since start minus RSS at start, or -1.
func (m *rssMeter) growth() int64 {
	if !m.ok {
		return -1
	}
	_, hwm, err := readStatus()
	if err != nil {
		return -1
	}
	if g := hwm - m.before; g > 0 {
		return g
	}
	return 0
}

// readStatus returns VmRSS and VmHWM in bytes.
func readStatus() (rss, hwm int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"VmRSS:", "VmHWM:"} {
			if strings.HasPrefix(line, k) {
				fields := strings.Fields(line[len(k):])
				if len(fields) > 0 {
					v, _ := strconv.ParseInt(fields[0], 10, 64)
					if k == "VmRSS:" {
						rss = v * 1024
					} else {
						hwm = v * 1024
					}
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}
