package root

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/distill"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/tensor"
)

// digitsSubset writes the first n shuffled MNIST digits, with their
// labels, to path.
func digitsSubset(t *testing.T, path string, n int) {
	npzHead(t, shuffledDigits(t), path, n, nil)
}

// npzHead writes the first n rows of every array of src to path, passing
// each through edit (when not nil) first.
func npzHead(t *testing.T, src, path string, n int, edit func(name string, rows *tensor.Tensor)) {
	t.Helper()
	z, err := tensor.OpenNPZ(src)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range z.Names() {
		a, err := z.OpenArray(name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := a.ReadRows(n)
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(name, rows)
		}
		if err := w.Add(name, rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// distillArgs are the arguments of a short real distill run: one epoch
// of a few steps on data, checkpointed in ckpt, writing out.
func distillArgs(t *testing.T, data, ckpt, out string, extra ...string) []string {
	return append([]string{"distill", "--teacher", mnist(t), "--student", testutil.Testdata(t, "mnist_student.onnx"),
		"--data", data, "--epochs", "1", "--batch-size", "32", "--lr", "4e-3", "--temperature", "1", "--schedule", "constant",
		"-o", out, "--checkpoint-dir", ckpt, "--no-progress"}, extra...)
}

// readFile returns path's bytes.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHardeningCCheckpointNotAnInput: the checkpoint distill would write
// is refused, --force or not, when it is the --data or --eval-data file
// (the data is left as it was), and so is a checkpoint folder that is the
// data folder.
func TestHardeningCCheckpointNotAnInput(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "checkpoint.npz")
	digitsSubset(t, ckpt, 64)
	data := filepath.Join(t.TempDir(), "digits.npz")
	digitsSubset(t, data, 64)
	before := readFile(t, ckpt)
	out := filepath.Join(t.TempDir(), "s.onnx")
	for _, extra := range [][]string{nil, {"--force"}, {"--resume"}, {"--resume", "--force"}} {
		oneLineError(t, infer(t, distillArgs(t, ckpt, dir, out, extra...)...), 1, ckpt+" is an input")
		oneLineError(t, infer(t, distillArgs(t, data, dir, out, append(extra, "--eval-data", ckpt)...)...), 1, ckpt+" is an input")
	}
	if !bytes.Equal(readFile(t, ckpt), before) {
		t.Fatal("the data file was changed")
	}
	folder := filepath.Dir(data)
	oneLineError(t, infer(t, distillArgs(t, folder, folder, out)...), 1, "would be read as data")
	oneLineError(t, infer(t, distillArgs(t, data, folder, out, "--eval-data", folder)...), 1, "would be read as data")
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused run wrote its model")
	}
}

// TestHardeningCCheckpointExists: an existing checkpoint is replaced only
// with --force, or continued from with --resume (which still works
// exactly); no other output of the run may be the checkpoint.
func TestHardeningCCheckpointExists(t *testing.T) {
	dir := t.TempDir()
	data, ck := filepath.Join(dir, "digits.npz"), filepath.Join(dir, "ckpt")
	digitsSubset(t, data, 320)
	ckpt := filepath.Join(ck, "checkpoint.npz")
	if r := infer(t, distillArgs(t, data, ck, filepath.Join(dir, "a.onnx"))...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	first := readFile(t, ckpt)

	oneLineError(t, infer(t, distillArgs(t, data, ck, filepath.Join(dir, "b.onnx"))...), 1, ckpt+" exists (use --force")
	if !bytes.Equal(readFile(t, ckpt), first) {
		t.Fatal("the checkpoint was replaced without --force")
	}
	// The checkpoint as another output of the run.
	oneLineError(t, infer(t, distillArgs(t, data, ck, ckpt, "--force")...), 2, "two outputs of this run name "+ckpt)
	oneLineError(t, infer(t, distillArgs(t, data, ck, filepath.Join(dir, "c.onnx"), "--report", ckpt, "--force")...), 2, "two outputs")
	oneLineError(t, infer(t, distillArgs(t, data, ck, ckpt, "--resume", "--force")...), 1, ckpt+" is an input")
	if !bytes.Equal(readFile(t, ckpt), first) {
		t.Fatal("the checkpoint was replaced by a refused run")
	}

	r := infer(t, distillArgs(t, data, ck, filepath.Join(dir, "d.onnx"), "--resume", "--epochs", "2")...)
	if r.code != 0 || !strings.Contains(r.stderr, "epoch 2/2") || strings.Contains(r.stderr, "epoch 1/2") {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	if c, err := distill.LoadCheckpoint(ckpt); err != nil || c.Epoch != 2 {
		t.Fatalf("after resuming: %v", err)
	}
	if r := infer(t, distillArgs(t, data, ck, filepath.Join(dir, "e.onnx"), "--force")...); r.code != 0 {
		t.Fatalf("--force: exit %d\n%s", r.code, r.stderr)
	}
	if c, err := distill.LoadCheckpoint(ckpt); err != nil || c.Epoch != 1 {
		t.Fatalf("after starting over with --force: %v", err)
	}
}

// TestHardeningCTamperedCheckpoint: a checkpoint of a real run, tampered
// and saved again (so its checksum matches), is refused on resume with one
// line naming the tensor; finite but huge weights restore, and the
// student they give, whose outputs are not finite, is written and then
// reported as an error, not a success.
func TestHardeningCTamperedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data, ck := filepath.Join(dir, "digits.npz"), filepath.Join(dir, "ckpt")
	digitsSubset(t, data, 320)
	ckpt := filepath.Join(ck, "checkpoint.npz")
	if r := infer(t, distillArgs(t, data, ck, filepath.Join(dir, "a.onnx"))...); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	orig := filepath.Join(dir, "orig.npz")
	if err := os.Rename(ckpt, orig); err != nil {
		t.Fatal(err)
	}
	// tamper saves the original checkpoint, changed by f, as ckpt and
	// returns a matrix weight's name.
	tamper := func(f func(c *distill.Checkpoint, w string)) string {
		c, err := distill.LoadCheckpoint(orig)
		if err != nil {
			t.Fatal(err)
		}
		var w string
		for _, name := range slices.Sorted(maps.Keys(c.Shapes)) {
			if len(c.Shapes[name]) >= 2 {
				w = name
				break
			}
		}
		f(c, w)
		if err := distill.SaveCheckpoint(ckpt, c); err != nil {
			t.Fatal(err)
		}
		return w
	}
	resume := func(out string) result {
		return infer(t, distillArgs(t, data, ck, out, "--resume")...)
	}

	for _, c := range []struct {
		name string
		f    func(c *distill.Checkpoint, w string)
		want string
	}{
		{"nan", func(c *distill.Checkpoint, w string) { c.Params[w][7] = float32(math.NaN()) }, "tensor param/%s holds NaN at index 7"},
		{"shape", func(c *distill.Checkpoint, w string) {
			n, _ := tensor.NumElements(c.Shapes[w])
			c.Shapes[w] = []int64{int64(n)}
		}, "tensor param/%s has shape"},
		{"inf", func(c *distill.Checkpoint, w string) { c.Optimizer.Buffers[distill.BufV][w][0] = float32(math.Inf(1)) }, "tensor opt/v/%s holds +Inf at index 0"},
	} {
		w := tamper(c.f)
		out := filepath.Join(dir, c.name+".onnx")
		oneLineError(t, resume(out), 1, fmt.Sprintf(c.want, w))
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: a refused resume wrote its model", c.name)
		}
	}

	tamper(func(c *distill.Checkpoint, _ string) {
		for _, v := range c.Params {
			for i := range v {
				v[i] = 3e38
			}
		}
	})
	out := filepath.Join(dir, "huge.onnx")
	oneLineError(t, resume(out), 1, "wrote "+out+", but the student's output")
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the model was not written: %v", err)
	}
}
