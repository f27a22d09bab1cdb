package root

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
)

// Hardening (issue 15, items 1, 13, 14 and 15): how outputs are written.

// ortEnv points a child process at the runtime the tests use.
func ortEnv(t *testing.T) []string {
	if os.Getenv(ort.EnvInferLib) != "" {
		return nil
	}
	return []string{ort.EnvInferLib + "=" + filepath.Join(testutil.RepoRoot(t), ".ort", ort.LibFileName)}
}

// isCharDevice fails the test unless path is still a character device.
func isCharDevice(t *testing.T, path string) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a character device: %v %v", path, st.Mode(), err)
	}
}

// /dev/null as the model or the report, with --force, is written to, not
// replaced by a regular file.
func TestOutputDevNullStaysDevice(t *testing.T) {
	dir := t.TempDir()
	model := testutil.Testdata(t, "mlp.onnx")
	r := infer(t, "quantize", model, "-o", filepath.Join(dir, "m.onnx"), "--report", "/dev/null", "--force")
	if r.code != 0 {
		t.Fatalf("--report /dev/null: exit %d: %s", r.code, r.stderr)
	}
	isCharDevice(t, "/dev/null")
	report := filepath.Join(dir, "r.json")
	r = infer(t, "quantize", model, "-o", "/dev/null", "--report", report, "--force")
	if r.code != 0 {
		t.Fatalf("-o /dev/null: exit %d: %s", r.code, r.stderr)
	}
	isCharDevice(t, "/dev/null")
	if sum, _ := readReport(t, report)["output"].(map[string]any)["sha256"].(string); len(sum) != 64 {
		t.Fatalf("report gives no sha256 for the model written to /dev/null: %q", sum)
	}
}

// A FIFO as bench -o receives the report and stays a FIFO; it needs no
// --force, as nothing is replaced.
func TestOutputFIFOWrittenInPlace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	r := infer(t, "bench", testutil.Testdata(t, "mlp.onnx"), "--iterations", "5", "--format", "json", "-o", fifo)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
	if s := <-got; !strings.Contains(s, `"results"`) {
		t.Fatalf("the reader got %q, not the JSON report", s)
	}
}

// A symlinked model and report are written at the links' targets; the
// links stay links.
func TestOutputSymlinkKept(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.WriteFile(filepath.Join(dir, "real", "m.onnx"), []byte("old"), 0o644)
	model, report := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "r.json")
	os.Symlink("real/m.onnx", model)
	os.Symlink("real/r.json", report) // dangling until written
	r := infer(t, "quantize", testutil.Testdata(t, "mlp.onnx"), "-o", model, "--report", report, "--force")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, link := range []string{model, report} {
		if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("%s was replaced: %v %v", link, st.Mode(), err)
		}
	}
	if _, err := onnx.Load(filepath.Join(dir, "real", "m.onnx"), onnx.LoadOptions{}); err != nil {
		t.Fatalf("the link's target is not the model: %v", err)
	}
	readReport(t, filepath.Join(dir, "real", "r.json"))
}

// Concurrent runs writing one -o without --force: exactly one succeeds,
// the others say the file exists.
func TestConcurrentWritersOneSucceeds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	model := testutil.Testdata(t, "mlp.onnx")
	results := make([]result, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = inferProcess(t, dir, ortEnv(t), "quantize", model, "-o", out) })
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		switch {
		case r.code == 0:
			ok++
		case r.code != 1 || !strings.Contains(r.stderr, out+" exists (use --force to replace it)"):
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent writers succeeded, want exactly 1", ok, len(results))
	}
}

// A report in a folder that cannot be written fails before any work, in
// one line, and nothing is written.
func TestReadOnlyFolderFailsFirst(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	// sysfs refuses new files, also to root (chmod does not stop root).
	r := infer(t, "quantize", testutil.Testdata(t, "mlp.onnx"), "-o", out, "--report", "/sys/infer-report.json")
	oneLineError(t, r, 1, "/sys/infer-report.json: folder /sys is not writable")
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Fatalf("written before the check failed: %v", ents)
	}
}

// A report that fails after the model was written says which file was
// written and which was not; /dev/full (a device that is always full)
// stays a device.
func TestReportFailsAfterModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.onnx")
	r := infer(t, "quantize", testutil.Testdata(t, "mlp.onnx"), "-o", out, "--report", "/dev/full")
	oneLineError(t, r, 1, "wrote model "+out+"; could not write report /dev/full: ")
	if _, err := onnx.Load(out, onnx.LoadOptions{}); err != nil {
		t.Fatalf("the model said to be written is not there: %v", err)
	}
	isCharDevice(t, "/dev/full")
}

// SIGTERM to the infer binary exits 143 with one line and leaves no
// partial file (the removal itself is tested in pkg/atomicfile with a
// writer caught mid-file). The run is caught blocked opening a FIFO report
// that nobody reads, after it wrote the model.
func TestSignalExits143(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "infer")
	build := exec.Command("go", "build", "-o", exe, "./cmd/infer")
	build.Dir = testutil.RepoRoot(t)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out, fifo := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "report")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "quantize", testutil.Testdata(t, "mlp.onnx"), "-o", out, "--report", fifo)
	cmd.Env = append(os.Environ(), ortEnv(t)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The model appears once the run is past start-up (handler installed);
	// the deadline only bounds a broken run.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(out); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the model was never written: %s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("exit %d, want 143; stderr %q", code, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "infer: interrupted; removed ") || !strings.HasSuffix(last, " partial files") {
		t.Fatalf("last line %q", last)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("partial file left: %s", e.Name())
		}
	}
}
