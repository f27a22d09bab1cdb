package prep_test

import (
	"math"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Tolerances, relative to the largest reference magnitude.
const (
	// foldTol: folding rounds W·s and the bias to float32 once, and the
	// convolution then sums differently rounded products.
	foldTol = 1e-4
	// exactTol: passes that move or re-express operators without changing
	// arithmetic (normal form, opset adapters).
	exactTol = 1e-5
)

// run runs m in ONNX Runtime without graph optimizations, so the model's
// own arithmetic is what is compared.
func run(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, ort.Options{OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// relErr is max|got − want| / max|want|.
func relErr(t *testing.T, got, want *tensor.Tensor) float64 {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := tensor.Values[float32](got), tensor.Values[float32](want)
	var diff, scale float64
	for i := range w {
		diff = math.Max(diff, math.Abs(float64(g[i])-float64(w[i])))
		scale = math.Max(scale, math.Abs(float64(w[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// checkParity runs both models on the same inputs and compares every
// output of want.
func checkParity(t *testing.T, got, want *onnxpb.ModelProto, feeds map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	g, w := run(t, got, feeds), run(t, want, feeds)
	for name, wt := range w {
		gt, ok := g[name]
		if !ok {
			t.Fatalf("output %q missing", name)
		}
		if e := relErr(t, gt, wt); e > tol {
			t.Errorf("output %q: relative error %.3g > %g", name, e, tol)
		}
	}
}

// randomInput draws a seeded float32 tensor in [-1, 1).
func randomInput(seed uint64, shape ...int64) *tensor.Tensor {
	return tensor.MustNew(shape, testmodels.NewRand(seed).Uniform(shape, -1, 1))
}

func clone(m *onnxpb.ModelProto) *onnxpb.ModelProto { return proto.Clone(m).(*onnxpb.ModelProto) }

func validate(t *testing.T, m *onnxpb.ModelProto) {
	t.Helper()
	if err := graph.Validate(m); err != nil {
		t.Fatalf("result fails graph.Validate: %v", err)
	}
}

func countOps(g *onnxpb.GraphProto, op string) int {
	n := 0
	for _, node := range g.GetNode() {
		if node.GetOpType() == op {
			n++
		}
	}
	return n
}

func readTensor(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	x, err := tensor.FromProto(&tp)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return x
}

func initializer(g *onnxpb.GraphProto, name string) *onnxpb.TensorProto {
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// skipCase is a model a pass must leave alone.
type skipCase struct {
	name  string
	model func() *onnxpb.ModelProto
}

// checkSkips runs pass on each case's model and fails unless it reports
// nothing done and leaves the model as it was.
func checkSkips(t *testing.T, cases []skipCase, pass func(m *onnxpb.ModelProto) (int, error)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			validate(t, m)
			before := clone(m)
			n, err := pass(m)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 || !proto.Equal(m, before) {
				t.Fatalf("rewrote %d; the graph changed: %v", n, m.Graph.Node)
			}
		})
	}
}
