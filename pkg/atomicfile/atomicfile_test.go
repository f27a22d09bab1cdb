package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The test binary doubles as a child process that is signalled while it
// writes (see TestSignalRemovesPartialFiles).
func TestMain(m *testing.M) {
	if path := os.Getenv("ATOMICFILE_TEST_WRITE"); path != "" {
		writeUntilSignalled(path)
	}
	os.Exit(m.Run())
}

// writeUntilSignalled starts an output at path, writes part of it, says
// "ready" on stdout and waits for a signal.
func writeUntilSignalled(path string) {
	CleanOnSignal("infer", os.Stderr)
	f, err := Create(path, false)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	f.Write(make([]byte, 1<<20))
	os.Stdout.WriteString("ready\n")
	select {}
}

// tempFiles lists the .NAME.tmp* files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestWriteReplacesOnlyWithReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := WriteFile(path, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("two"), false)
	if !errors.Is(err, ErrExists) || err.Error() != path+" exists (use --force to replace it)" {
		t.Fatalf("without replace: got %v", err)
	}
	if err := WriteFile(path, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Fatalf("content %q, want three", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", st.Mode().Perm())
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

// Two writers that both started before either finished: exactly one
// publishes, the other gets ErrExists and leaves nothing behind.
func TestConcurrentWritersOneWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	a, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("a"))
	b.Write([]byte("b"))
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, ErrExists) {
		t.Fatalf("second writer: got %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a" {
		t.Fatalf("content %q, want the first writer's", got)
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}

	// Many goroutines at once: one success.
	path = filepath.Join(dir, "race.onnx")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = WriteFile(path, []byte{byte(i)}, false) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrExists) {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d writers succeeded, want exactly 1", ok)
	}
}

// A symbolic link is written through: the link stays, its target gets the
// content, also when the target does not exist yet.
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "model.onnx")
	os.Mkdir(filepath.Dir(target), 0o755)
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink("real/model.onnx", link); err != nil {
		t.Fatal(err)
	}
	if err := CheckFolder(link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("newer"), true); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(link)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "newer" {
		t.Fatalf("target holds %q", b)
	}
}

// A FIFO is written in place and stays a FIFO.
func TestWriteFIFOInPlace(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	if err := CheckFolder(fifo); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(fifo, []byte("report"), true); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "report" {
		t.Fatalf("reader got %q", b)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

func TestWriteDevNull(t *testing.T) {
	if err := WriteFile("/dev/null", []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", st.Mode(), err)
	}
}

func TestCheckFolder(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope", "out.onnx")
	if err := CheckFolder(missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: got %v", err)
	}
	// sysfs refuses new files, also to root.
	if err := CheckFolder("/sys/out.onnx"); err == nil || !strings.Contains(err.Error(), "folder /sys is not writable") {
		t.Fatalf("read-only folder: got %v", err)
	}
	if err := CheckFolder(filepath.Join(dir, "out.onnx")); err != nil {
		t.Fatal(err)
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

// SIGTERM and SIGINT remove the partial file and exit 143 and 130.
func TestSignalRemovesPartialFiles(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		dir := t.TempDir()
		path := filepath.Join(dir, "big.onnx")
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_TEST_WRITE="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start writing: %q %s", line, stderr.String())
		}
		if tmp := tempFiles(t, dir); len(tmp) != 1 {
			t.Fatalf("want one partial file while writing, got %v", tmp)
		}
		cmd.Process.Signal(tc.sig)
		cmd.Wait()
		if got := cmd.ProcessState.ExitCode(); got != tc.code {
			t.Fatalf("%v: exit %d, want %d; stderr %q", tc.sig, got, tc.code, stderr.String())
		}
		if want := "infer: interrupted; removed 1 partial files\n"; stderr.String() != want {
			t.Fatalf("%v: stderr %q, want %q", tc.sig, stderr.String(), want)
		}
		if tmp := tempFiles(t, dir); len(tmp) > 0 {
			t.Fatalf("%v: partial files left: %v", tc.sig, tmp)
		}
	}
}
