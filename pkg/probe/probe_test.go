package probe_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/tensor"
)

// A model that frames its input in windows of 256 refuses the first
// candidate length (128): Find moves on to 256, and finds a second shape
// that differs in every dynamic dimension and still runs.
func TestFindTriesCandidates(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("framed", 13)
	x := b.Input("x", tensor.Float32, "N", "T")
	frames := b.Op("Reshape", []string{x, b.InitializerInt64("frame", []int64{3}, []int64{0, -1, 256})})
	b.Node("ReduceMean", []string{frames}, []string{"y"}, testmodels.AttrInts("axes", 2))
	b.Output("y", tensor.Float32, "N", "F", 1)
	sh, err := probe.Find(b.Model(), probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sh.A["x"], []int64{1, 256}) || sh.Same {
		t.Fatalf("A %v (same %v)", sh.A, sh.Same)
	}
	if b := sh.B["x"]; b[0] == 1 || b[1] == 256 || b[1]%256 != 0 {
		t.Fatalf("B %v", sh.B)
	}
}

// Generated inputs a model refuses whatever their size give a RunError
// naming the input to give a value; a wrong name is the caller's error.
func TestFindCannotRun(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.SampleRate()
	_, err := probe.Find(m, probe.Options{})
	var re *probe.RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "random values for sr") || !strings.Contains(err.Error(), "--input-value") {
		t.Fatalf("got %v", err)
	}
	_, err = probe.Find(m, probe.Options{Values: map[string]float64{"rate": 1}})
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), `"rate", which is not a model input`) {
		t.Fatalf("wrong name: %v", err)
	}
}
