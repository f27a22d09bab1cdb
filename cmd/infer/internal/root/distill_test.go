package root

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/ort"
)

func shuffledDigits(t *testing.T) string { return testutil.Fixture(t, "mnist/digits-shuffled.npz") }

func TestDistillMNIST(t *testing.T) {
	dir := t.TempDir()
	out, rep, ck := filepath.Join(dir, "s.onnx"), filepath.Join(dir, "r.json"), filepath.Join(dir, "ckpt")
	args := []string{"distill", "--teacher", mnist(t), "--student", testutil.Testdata(t, "mnist_student.onnx"),
		"--data", shuffledDigits(t), "--epochs", "1", "--batch-size", "32", "--lr", "4e-3", "--temperature", "1", "--schedule", "constant",
		"-o", out, "--report", rep, "--checkpoint-dir", ck, "--no-progress"}
	r := infer(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "epoch 1/1") || !strings.Contains(r.stdout, "agreement with the teacher") {
		t.Fatalf("output:\n%s\n%s", r.stdout, r.stderr)
	}
	rp := readReport(t, rep)
	after := rp["validation"].(map[string]any)
	if acc := after["candidate_accuracy"].(float64); acc < 85 {
		t.Fatalf("one epoch gave %.2f%%", acc)
	}
	if _, err := ort.NewSessionFromFile(out, ort.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ck, "checkpoint.npz")); err != nil {
		t.Fatal(err)
	}
	// Resuming a finished run with more epochs continues from epoch 1.
	r = infer(t, append(args[:len(args)-1], "--resume", "--epochs", "2", "--force", "--no-progress")...)
	if r.code != 0 || !strings.Contains(r.stderr, "epoch 2/2") || strings.Contains(r.stderr, "epoch 1/2") {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDistillErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	st := testutil.Testdata(t, "mnist_student.onnx")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--student", st, "--data", "x.npz"}, 2, "--teacher is required"},
		{[]string{"--teacher", mnist(t), "--data", "x.npz"}, 2, "--student-from-teacher"},
		{[]string{"--teacher", mnist(t), "--student", st, "--student-from-teacher", "--data", "x.npz"}, 2, "exclude each other"},
		{[]string{"--teacher", mnist(t), "--student-from-teacher", "--width", "1.5", "--data", "x.npz"}, 2, "--width"},
		{[]string{"--teacher", mnist(t), "--student", st, "--hint-weight", "1", "--data", "x.npz"}, 2, "--hint-weight applies to --student-from-teacher"},
		{[]string{"--teacher", mnist(t), "--student-from-teacher", "--hint-weight", "-1", "--data", "x.npz"}, 2, "--hint-weight -1"},
		{[]string{"--teacher", mnist(t), "--student", st, "--data", "x.npz", "--optimizer", "lion"}, 2, "lion"},
		{[]string{"--teacher", mnist(t), "--student", st, "--data", "x.npz", "--resume"}, 2, "--checkpoint-dir"},
		{[]string{"--teacher", mnist(t), "--student", testutil.Testdata(t, "mlp.onnx"), "--data", "random", "-o", filepath.Join(dir, "a.onnx")}, 1, "not an input of the student"},
		{[]string{"--teacher", testutil.Testdata(t, "mlp.onnx"), "--student", testutil.Testdata(t, "cnn.onnx"), "--data", "random", "-o", filepath.Join(dir, "b.onnx")}, 1, "cannot feed both"},
	} {
		r := infer(t, append([]string{"distill"}, c.args...)...)
		oneLineError(t, r, c.code, c.want)
	}
}

func TestPruneFinetune(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.onnx")
	r := infer(t, "prune", mnist(t), "--pattern", "channel", "--sparsity", "0.5", "--data", shuffledDigits(t), "--limit", "2000",
		"--finetune", "--finetune-epochs", "3", "--finetune-lr", "3e-3", "-o", out, "--json", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "fine-tuned by distillation") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	// Without fine-tuning 50% channel pruning leaves about 69%; three
	// epochs on 2,000 digits recover most of it.
	if !strings.Contains(r.stdout, `"candidate_accuracy"`) {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	var acc float64
	rp := readJSON(t, r.stdout)
	acc = rp["validation"].(map[string]any)["candidate_accuracy"].(float64)
	if acc < 90 {
		t.Fatalf("fine-tuned accuracy %.2f%%", acc)
	}
	// Validated on the 200 digits held out of the 2,000, not on those it
	// trained on; trained with the labels and the hint terms.
	if n := rp["validation"].(map[string]any)["samples"].(float64); n != 200 {
		t.Fatalf("validated on %v samples, want the 200 held out", n)
	}
	if !strings.Contains(r.stderr, "first 1800 of the 2000 samples") || !strings.Contains(r.stderr, "labels, with hint terms on 2 pruned activations") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pattern", "channel", "--data", "x.npz", "--eval-data", "y.npz"}, "apply to --finetune"},
		{[]string{"--pattern", "channel", "--data", "x.npz", "--finetune", "--eval-fraction", "1"}, "--eval-fraction 1"},
		{[]string{"--pattern", "channel", "--data", "x.npz", "--finetune", "--eval-data", "y.npz", "--eval-fraction", "0.2"}, "nothing is held out"},
	} {
		oneLineError(t, infer(t, append([]string{"prune", mnist(t)}, c.args...)...), 2, c.want)
	}
}

func readJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return r
}
