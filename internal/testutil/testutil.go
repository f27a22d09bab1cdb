// Package testutil holds helpers shared by the project's tests: finding the
// repository root, the provisioned ONNX Runtime library and the fetched
// fixtures.
package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/infer-ml/infer/pkg/ort"
)

// RepoRoot returns the directory holding go.mod, walking up from the
// working directory; it fails the test if there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// InitORT loads the ONNX Runtime library: INFER_ORT_LIB if set, else
// .ort/libonnxruntime.so.1 under the repository root. It fails the test
// (never skips) when the library is missing: run `make setup`.
func InitORT(t testing.TB) ort.LibraryInfo {
	t.Helper()
	path := "" // ort.Init reads INFER_ORT_LIB itself
	if os.Getenv(ort.EnvInferLib) == "" {
		path = filepath.Join(RepoRoot(t), ".ort", ort.LibFileName)
	}
	info, err := ort.Init(path)
	if err != nil {
		t.Fatalf("ONNX Runtime: %v (run `make setup`)", err)
	}
	return info
}

// Fixture returns the path of a fetched fixture under testdata/fixtures/.
// When it is absent the test fails, telling to run `make fixtures`, unless
// INFER_SKIP_FIXTURES=1, when it skips.
func Fixture(t testing.TB, rel string) string {
	t.Helper()
	name := filepath.Join("testdata", "fixtures", rel) // "." names the tree
	p := filepath.Join(RepoRoot(t), name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("INFER_SKIP_FIXTURES") == "1" {
			t.Skipf("fixture %s absent (INFER_SKIP_FIXTURES=1)", name)
		}
		t.Fatalf("fixture %s absent: run `make fixtures`", name)
	}
	return p
}

// FixturesDir returns testdata/fixtures/ itself, for tests that check or
// walk the fetched tree as a whole. It fails or skips as Fixture does.
func FixturesDir(t testing.TB) string {
	t.Helper()
	return Fixture(t, ".")
}

// Testdata returns the path of a committed file under testdata/.
func Testdata(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "testdata", rel)
}

// ConformanceDirs lists the case folders of the fetched ONNX conformance
// sets (onnx-node and the two old-opset PyTorch sets), each holding
// model.onnx.
func ConformanceDirs(t testing.TB) []string {
	t.Helper()
	var dirs []string
	for _, set := range []string{"onnx-node", "onnx-pytorch-converted", "onnx-pytorch-operator"} {
		d, _ := filepath.Glob(filepath.Join(Fixture(t, set), "*"))
		dirs = append(dirs, d...)
	}
	return dirs
}
