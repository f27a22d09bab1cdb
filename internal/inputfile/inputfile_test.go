package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Open and ReadFile read regular files (through a link too) and refuse
// a FIFO, with no writer, at once, and a folder, naming the path.
func TestOpenRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(file, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bin")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.bin")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, link} {
		if b, err := ReadFile(p); err != nil || string(b) != "hello" {
			t.Fatalf("ReadFile(%s) = %q, %v", p, b, err)
		}
	}
	for _, c := range []struct{ path, want string }{
		{fifo, fifo + " is not a regular file (a FIFO)"},
		{dir, dir + " is not a regular file (a directory)"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadFile(c.path)
			done <- err
		}()
		select {
		case err := <-done:
			var nr *NotRegularError
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reading %s hangs", c.path)
		}
	}
}
