package testutil

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestRealModelsRun loads each model of the corpus with pkg/onnx and runs
// it in ONNX Runtime at ShapeA and ShapeB on seeded random inputs, checking
// that the shapes fit the model's signature and that every output is
// finite. It skips unless INFER_REALMODELS=1 and the corpus is fetched.
func TestRealModelsRun(t *testing.T) {
	for _, m := range RealModels() {
		t.Run(m.Name, func(t *testing.T) {
			path := RealModelPath(t, m)
			if m.Slow && testing.Short() {
				t.Skip("slow model skipped in -short mode")
			}
			InitORT(t)
			model, err := onnx.Load(path, onnx.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := ort.NewSessionFromModel(model.Proto, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkShapes(t, s.Inputs(), m)
			runAt(t, s, "ShapeA", m.ShapeA)
			if reflect.DeepEqual(m.ShapeA, m.ShapeB) {
				t.Log("ShapeB: every input dim is fixed, the same as ShapeA")
				return
			}
			runAt(t, s, "ShapeB", m.ShapeB)
		})
	}
}

// checkShapes checks that ShapeA and ShapeB give every input, keep the
// model's fixed dims, and differ where some dim is free.
func checkShapes(t *testing.T, inputs []ort.ValueInfo, m RealModel) {
	t.Helper()
	free := false
	for _, in := range inputs {
		for i, d := range in.Shape {
			if d < 0 {
				free = true
			}
			for _, shapes := range []map[string][]int64{m.ShapeA, m.ShapeB} {
				sh := shapes[in.Name]
				if len(sh) != len(in.Shape) {
					t.Fatalf("input %q: shape %v, the model's has rank %d", in.Name, sh, len(in.Shape))
				}
				if d >= 0 && sh[i] != d {
					t.Errorf("input %q: shape %v, the model fixes dim %d to %d", in.Name, sh, i, d)
				}
			}
		}
	}
	if len(m.ShapeA) != len(inputs) || len(m.ShapeB) != len(inputs) {
		t.Errorf("ShapeA %v, ShapeB %v; the model has %d inputs", m.ShapeA, m.ShapeB, len(inputs))
	}
	if free && reflect.DeepEqual(m.ShapeA, m.ShapeB) {
		t.Errorf("ShapeA and ShapeB are both %v, but the model lets some dims vary", m.ShapeA)
	}
}

// runAt runs the session once on float32 inputs uniform in [-1, 1) of the
// given shapes and checks that the float outputs are finite.
func runAt(t *testing.T, s *ort.Session, label string, shapes map[string][]int64) {
	t.Helper()
	r := rand.New(rand.NewPCG(2026, 12))
	inputs := map[string]*tensor.Tensor{}
	for _, in := range s.Inputs() {
		if in.DType != tensor.Float32 {
			t.Fatalf("input %q is %s; the test feeds float32 only", in.Name, in.DType)
		}
		n, err := tensor.NumElements(shapes[in.Name])
		if err != nil {
			t.Fatal(err)
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = 2*r.Float32() - 1
		}
		inputs[in.Name] = tensor.MustNew(shapes[in.Name], data)
	}
	start := time.Now()
	out, err := s.Run(inputs)
	if err != nil {
		t.Fatalf("%s %v: %v", label, shapes, err)
	}
	t.Logf("%s %v: %v", label, shapes, time.Since(start).Round(time.Millisecond))
	for _, o := range s.Outputs() {
		v, ok := out[o.Name]
		if !ok {
			t.Errorf("%s: no output %q", label, o.Name)
			continue
		}
		if !v.DType().IsFloat() {
			continue
		}
		values, err := tensor.AsFloat64(v)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range values {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s: output %q %v: element %d is %v", label, o.Name, v.Shape(), i, x)
				break
			}
		}
	}
}
