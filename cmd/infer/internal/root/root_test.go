package root

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The test binary doubles as the infer binary for tests that need a fresh
// process (ONNX Runtime is loaded once per process).
func TestMain(m *testing.M) {
	if args := os.Getenv("INFER_TEST_ARGS"); args != "" {
		os.Exit(Main(strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// infer runs the CLI in this process.
func infer(t *testing.T, args ...string) result {
	t.Helper()
	testutil.InitORT(t)
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// inferProcess runs the CLI in a child process with extra environment.
func inferProcess(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "INFER_TEST_ARGS="+strings.Join(args, "\x1f"))
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

func oneLineError(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "infer: ") {
		t.Fatalf("want one line starting with \"infer: \", got %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q does not mention %q", r.stderr, want)
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("stack trace on stderr: %q", r.stderr)
	}
}

func mnist(t *testing.T) string { return testutil.Fixture(t, "mnist/model.onnx") }

func digits(t *testing.T) string { return testutil.Fixture(t, "mnist/digits.npz") }

func TestEvalMNIST(t *testing.T) {
	r := infer(t, "eval", mnist(t), "--data", digits(t))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "99.34% (9934/10000)") {
		t.Fatalf("MNIST zoo model should score 9934/10000:\n%s", r.stdout)
	}
}

func TestInspectMNIST(t *testing.T) {
	r := infer(t, "inspect", mnist(t))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"float parameters  5,994", "ir version        3", "ai.onnx 7", "Conv×2", "Input3", "float32[1,1,28,28]", "1.57 MFLOP"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.stdout)
		}
	}
	j := infer(t, "inspect", mnist(t), "--json")
	if j.code != 0 || !strings.Contains(j.stdout, `"float_params": 5994`) {
		t.Fatalf("--json: exit %d\n%s", j.code, j.stdout)
	}
}

// A candidate with a damaged weight fails the accuracy gate with exit 3.
func TestCompareGate(t *testing.T) {
	m, err := onnx.Load(mnist(t), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, init := range m.Proto.Graph.Initializer {
		if len(init.Dims) == 4 { // first conv's weights: flip their sign
			w, err := tensor.FromProto(init)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range tensor.Values[float32](w) {
				tensor.Values[float32](w)[j] = -v
			}
			if m.Proto.Graph.Initializer[i], err = tensor.ToProto(w, init.Name); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if _, err := onnx.Save(m.Proto, bad, onnx.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	r := infer(t, "compare", mnist(t), bad, "--data", digits(t), "--limit", "300", "--max-accuracy-drop", "1")
	if r.code != 3 || !strings.Contains(r.stdout, "GATE FAILED") || !strings.Contains(r.stderr, "accuracy dropped") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	ok := infer(t, "compare", mnist(t), mnist(t), "--data", digits(t), "--limit", "100", "--max-accuracy-drop", "0", "--min-agreement", "100", "--json")
	if ok.code != 0 || !strings.Contains(ok.stdout, `"gate_met": true`) {
		t.Fatalf("identical models: exit %d\n%s%s", ok.code, ok.stdout, ok.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := [][]string{
		{"eval"},
		{"eval", "m.onnx", "--bogus"},
		{"frobnicate"},
		{"eval", "m.onnx"},
		{"eval", "m.onnx", "--data", "random", "--ep", "gpu"},
		{"eval", "m.onnx", "--data", "random", "--threads", "x"},
		{"compare", "a.onnx"},
		{"inspect", "m.onnx", "--dim", "batch"},
	}
	for _, args := range cases {
		r := infer(t, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n != 0 || !strings.HasPrefix(r.stderr, "infer: ") {
			t.Errorf("%v: want a one-line error, got %q", args, r.stderr)
		}
	}
}

func writeProto(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadMLP(t *testing.T) *onnxpb.ModelProto {
	t.Helper()
	m, err := onnx.Load(testutil.Testdata(t, "mlp.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Proto
}

// Bad models give exit 1 and one line, never a panic.
func TestBadModelsExit1(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(testutil.Testdata(t, "mlp.onnx"))
	trunc := filepath.Join(dir, "trunc.onnx")
	os.WriteFile(trunc, good[:len(good)/3], 0o644)
	random := filepath.Join(dir, "random.onnx")
	rb := make([]byte, 8192)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range rb {
		rb[i] = byte(rng.Uint32())
	}
	os.WriteFile(random, rb, 0o644)

	escape := loadMLP(t)
	w := escape.Graph.Initializer[0]
	w.RawData = nil
	w.DataLocation = onnxpb.TensorProto_EXTERNAL
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: "location", Value: "../../etc/passwd"}}
	escapeP := writeProto(t, dir, "escape.onnx", escape)

	cycle := loadMLP(t)
	n := cycle.Graph.Node
	n[0].Input[0] = n[len(n)-1].Output[0]
	cycleP := writeProto(t, dir, "cycle.onnx", cycle)

	huge := loadMLP(t)
	huge.Graph.Input[0].Type.GetTensorType().Shape.Dim[1] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 40}}
	hugeP := writeProto(t, dir, "huge.onnx", huge)

	cases := []struct{ name, path, want string }{
		{"truncated", trunc, "invalid model"},
		{"random bytes", random, "invalid model"},
		{"external data outside", escapeP, "leaves the model's folder"},
		{"cycle", cycleP, "cycle"},
		{"dimension 2^40", hugeP, strconv.FormatInt(1<<40, 10)},
		{"missing file", filepath.Join(dir, "nope.onnx"), "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"inspect", c.path},
				{"eval", c.path, "--data", "random"},
				{"compare", c.path, c.path, "--data", "random"},
			} {
				oneLineError(t, infer(t, args...), 1, c.want)
			}
		})
	}
}

func TestMissingRuntimeLibrary(t *testing.T) {
	dir := t.TempDir()
	model := testutil.Testdata(t, "mlp.onnx")
	// Named explicitly but absent: an error, not a reason to look elsewhere.
	r := inferProcess(t, dir, []string{"INFER_ORT_LIB=" + filepath.Join(dir, "libonnxruntime.so.1")}, "eval", model, "--data", "random")
	oneLineError(t, r, 1, "libonnxruntime.so.1")
	// Not named and nowhere to be found: one sentence on how to get one.
	r = inferProcess(t, dir, []string{"INFER_ORT_LIB=", "ONNXRUNTIME_SHARED_LIBRARY_PATH=", "LD_LIBRARY_PATH="}, "eval", model, "--data", "random")
	oneLineError(t, r, 1, "make setup")
	// Not a library at all.
	fake := filepath.Join(dir, "fake.so")
	os.WriteFile(fake, []byte("not a library"), 0o644)
	r = inferProcess(t, dir, nil, "--ort-lib", fake, "version")
	oneLineError(t, r, 1, "fake.so")
	if !strings.Contains(r.stdout, "infer ") {
		t.Fatalf("version should still print infer's version: %q", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	r := infer(t, "version", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`"onnxruntime_version": "1.30.0"`, `"CPUExecutionProvider"`, `"name": "cpu"`, `"starts": true`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version --json lacks %s:\n%s", want, r.stdout)
		}
	}
}
