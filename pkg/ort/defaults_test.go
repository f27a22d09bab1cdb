package ort_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// defaultsModel computes y = (x + s) · k for x [N 2], where s [N 2] has
// the default [[1 1]] and the scalar k the default 3 (initializers of the
// same names).
func defaultsModel() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("defaults", 17)
	x := b.Input("x", tensor.Float32, "N", 2)
	s := b.Input("s", tensor.Float32, "N", 2)
	b.Initializer("s", []int64{1, 2}, []float32{1, 1})
	k := b.Input("k", tensor.Float32)
	b.Initializer("k", []int64{}, []float32{3})
	b.Node("Mul", []string{b.Op("Add", []string{x, s}), k}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 2)
	return b.Model()
}

func runY(t *testing.T, s *ort.Session, feeds map[string]*tensor.Tensor) []float32 {
	t.Helper()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].Data().([]float32)
}

// A session takes only the required inputs, as before, and also the
// inputs with a default value a Run feeds (before: "s" is not an input of
// the model); whatever is not fed keeps its default. It works from a
// file, bytes and a parsed model alike.
func TestSessionFeedsDefaultedInputs(t *testing.T) {
	testutil.InitORT(t)
	m := defaultsModel()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "defaults.onnx")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	open := map[string]func() (*ort.Session, error){
		"model": func() (*ort.Session, error) { return ort.NewSessionFromModel(m, ort.Options{}) },
		"bytes": func() (*ort.Session, error) { return ort.NewSession(raw, ort.Options{}) },
		"file":  func() (*ort.Session, error) { return ort.NewSessionFromFile(path, ort.Options{}) },
	}
	x := tensor.MustNew([]int64{2, 2}, []float32{1, 2, 3, 4})
	for name, newSession := range open {
		s, err := newSession()
		if err != nil {
			t.Fatal(name, err)
		}
		if in := s.Inputs(); len(in) != 1 || in[0].Name != "x" {
			t.Errorf("%s: inputs %+v, want x only", name, in)
		}
		if got := runY(t, s, map[string]*tensor.Tensor{"x": x}); !reflect.DeepEqual(got, []float32{6, 9, 12, 15}) {
			t.Errorf("%s: defaults: y = %v", name, got)
		}
		sv := tensor.MustNew([]int64{2, 2}, []float32{10, 20, 30, 40})
		if got := runY(t, s, map[string]*tensor.Tensor{"x": x, "s": sv}); !reflect.DeepEqual(got, []float32{33, 66, 99, 132}) {
			t.Errorf("%s: s fed: y = %v", name, got)
		}
		k := tensor.MustNew([]int64{}, []float32{-1})
		if got := runY(t, s, map[string]*tensor.Tensor{"x": x, "s": sv, "k": k}); !reflect.DeepEqual(got, []float32{-11, -22, -33, -44}) {
			t.Errorf("%s: s and scalar k fed: y = %v", name, got)
		}
		if got := runY(t, s, map[string]*tensor.Tensor{"x": x, "k": k}); !reflect.DeepEqual(got, []float32{-2, -3, -4, -5}) {
			t.Errorf("%s: k fed: y = %v", name, got)
		}
		if _, err := s.Run(map[string]*tensor.Tensor{"x": x, "bogus": x}); err == nil || !strings.Contains(err.Error(), `"bogus" is not an input of the model`) {
			t.Errorf("%s: unknown input: %v", name, err)
		}
		if _, err := s.Run(map[string]*tensor.Tensor{"s": sv, "k": k}); err == nil || !strings.Contains(err.Error(), `missing model input "x"`) {
			t.Errorf("%s: x missing: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Error(name, err)
		}
	}
}

// An IR 3 model lists every weight as an input with an initializer: its
// session takes the required inputs only, as before, and feeding a weight
// is refused in one line (ONNX Runtime does not let IR 3 initializers be
// overridden).
func TestSessionIR3WeightsStayWeights(t *testing.T) {
	testutil.InitORT(t)
	b := testmodels.NewBuilder("ir3", 8).SetIRVersion(3)
	x := b.Input("x", tensor.Float32, "N", 2)
	b.Node("Add", []string{x, b.Initializer("w", []int64{2}, []float32{1, 2})}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 2)
	m := b.Model()
	if len(m.Graph.Input) != 2 {
		t.Fatalf("IR 3 model inputs %v", m.Graph.Input)
	}
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if in := s.Inputs(); len(in) != 1 || in[0].Name != "x" {
		t.Errorf("inputs %+v, want x only", in)
	}
	x1 := tensor.MustNew([]int64{1, 2}, []float32{1, 1})
	if got := runY(t, s, map[string]*tensor.Tensor{"x": x1}); !reflect.DeepEqual(got, []float32{2, 3}) {
		t.Errorf("y = %v", got)
	}
	feeds := map[string]*tensor.Tensor{"x": x1, "w": tensor.MustNew([]int64{2}, []float32{5, 5})}
	want := `"w" is a weight of this IR 3 model, not an input that can be fed`
	if _, err := s.Run(feeds); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run feeding w: %v", err)
	}
	if _, err := s.Prepare(feeds); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("prepare feeding w: %v", err)
	}
}
