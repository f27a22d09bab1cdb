package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// errInterrupted refuses new temporary files once RemoveLive has run: the
// process is exiting and nothing may be left behind.
var errInterrupted = errors.New("interrupted")

// live holds the temporary files being written, so that a signal handler
// can remove them.
var live = struct {
	sync.Mutex
	files  map[string]bool
	closed bool
}{files: map[string]bool{}}

// createTemp creates and registers the temporary file for target, in
// target's folder.
func createTemp(target string) (*os.File, error) {
	live.Lock()
	defer live.Unlock()
	if live.closed {
		return nil, fmt.Errorf("write %s: %w", target, errInterrupted)
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return nil, err
	}
	live.files[f.Name()] = true
	return f, nil
}

// TempDir creates a scratch folder under $TMPDIR (os.MkdirTemp's pattern)
// that a signal removes like the temporary files (RemoveLive); remove
// deletes it and ends that.
func TempDir(pattern string) (dir string, remove func(), err error) {
	live.Lock()
	defer live.Unlock()
	if live.closed {
		return "", nil, errInterrupted
	}
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", nil, err
	}
	live.files[dir] = true
	return dir, func() {
		os.RemoveAll(dir)
		forget(dir)
	}, nil
}

// forget unregisters a temporary file that was published or removed.
func forget(name string) {
	live.Lock()
	delete(live.files, name)
	live.Unlock()
}

// RemoveLive removes every temporary file (and TempDir folder) still being
// written and returns
// how many it removed; later Create calls fail. It is meant for a process
// about to exit on a signal.
func RemoveLive() int {
	live.Lock()
	defer live.Unlock()
	live.closed = true
	n := 0
	for name := range live.files {
		if os.RemoveAll(name) == nil {
			n++
		}
		delete(live.files, name)
	}
	return n
}

// CleanOnSignal makes SIGINT and SIGTERM remove the temporary files being
// written (RemoveLive), print "PROG: interrupted; removed N partial files"
// on errOut and exit with 128 + the signal number (130, 143). SIGKILL
// cannot be caught: after one, ".NAME.tmp*" files may remain beside the
// outputs.
func CleanOnSignal(prog string, errOut io.Writer) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-c
		n := RemoveLive()
		fmt.Fprintf(errOut, "%s: interrupted; removed %d partial files\n", prog, n)
		// Only SIGINT and SIGTERM are delivered here, both syscall.Signal.
		os.Exit(128 + int(sig.(syscall.Signal)))
	}()
}
