package graph_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Tolerances for floating-point outputs: |got-want| <= absTol + relTol*|want|.
const (
	relTol = 1e-4
	absTol = 1e-4
)

// nondeterministic operators: only the output types and shapes must agree.
var nondeterministic = []string{"bernoulli", "random", "multinomial", "training_dropout"}

type conformanceStats struct {
	mu                                 sync.Mutex
	passed, refused, skipped, failed   int
	origFailed, origMismatch, upgrades int
	rescued                            int // upgrades that run where the original does not
	casesMatched, casesRefused         int // cases whose every rewrite matched; cases with a refusal
	refusals                           []string
}

// TestConformance runs every ONNX operator conformance case of the
// Debian libonnx-testdata set (ONNX 1.12; `make fixtures` puts its node/
// cases in testdata/fixtures/onnx-node) through the normal-form passes and
// opset upgrades, and checks in ONNX Runtime that each rewritten model
// computes what the original computes.
func TestConformance(t *testing.T) {
	runConformanceDir(t, testutil.Fixture(t, "onnx-node"))
}

// TestConformanceOldOpsets does the same for the set's PyTorch-exported
// cases (`make fixtures` puts them in
// testdata/fixtures/onnx-pytorch-{converted,operator}): IR 3 / opset 6
// models whose Pad, Clip, Slice, Split, Reduce*, Softmax, PRelu,
// BatchNormalization and broadcasting Add need adapters. ONNX Runtime has
// no kernels for many of those old versions, so these are the cases where
// an upgrade must make a model run that did not.
func TestConformanceOldOpsets(t *testing.T) {
	for _, set := range []string{"onnx-pytorch-converted", "onnx-pytorch-operator"} {
		t.Run(set, func(t *testing.T) { runConformanceDir(t, testutil.Fixture(t, set)) })
	}
}

func runConformanceDir(t *testing.T, root string) {
	testutil.InitORT(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, e.Name(), "model.onnx")); err == nil {
			cases = append(cases, e.Name())
		}
	}
	st := &conformanceStats{}
	t.Run("cases", func(t *testing.T) {
		for _, name := range cases {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				runConformanceCase(t, filepath.Join(root, name), st)
			})
		}
	})
	sort.Strings(st.refusals)
	for _, r := range st.refusals {
		t.Logf("refused: %s", r)
	}
	t.Logf("%d cases: %d with every rewrite matching the reference, %d with a refused upgrade", len(cases), st.casesMatched, st.casesRefused)
	t.Logf("%d cases: %d rewrites matched the reference in ONNX Runtime (%d of them upgraded; %d ran where the original does not), %d refused with a message, %d failed; %d originals not runnable in ONNX Runtime as given, %d whose original differs from the expected output, %d skipped (non-tensor inputs or outputs)",
		len(cases), st.passed, st.upgrades, st.rescued, st.refused, st.failed, st.origFailed, st.origMismatch, st.skipped)
}

func matchesAny(name string, subs []string) bool {
	for _, s := range subs {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

func runConformanceCase(t *testing.T, dir string, st *conformanceStats) {
	name := filepath.Base(dir)
	count := func(p *int) {
		st.mu.Lock()
		*p++
		st.mu.Unlock()
	}
	model := readModel(t, filepath.Join(dir, "model.onnx"))
	if err := graph.Validate(model); err != nil {
		t.Fatalf("original does not validate: %v", err)
	}
	if !allTensors(model.GetGraph()) {
		count(&st.skipped)
		t.Skip("non-tensor inputs or outputs")
	}
	inputs, expected := readTestData(t, filepath.Join(dir, "test_data_set_0"), model.GetGraph())
	// The reference is what ONNX Runtime computes from the original, or,
	// when it cannot run the original (old opsets it has no kernels
	// for), the expected outputs of the test data.
	loose := matchesAny(name, nondeterministic)
	var ref any
	origRuns := true
	if orig, err := runModel(model, inputs); err != nil {
		origRuns = false
		count(&st.origFailed)
		t.Logf("original does not run in ONNX Runtime: %v", err)
		ref = expected
	} else {
		ref = orig
		if !loose {
			if err := compareOutputs(orig, expected, model.GetGraph(), false); err != nil {
				count(&st.origMismatch)
				t.Logf("original differs from the expected output (ONNX Runtime's own numerics): %v", err)
			}
		}
	}
	from := graph.DefaultOpset(model)
	targets := []int{0} // 0: normal form only, no upgrade
	for _, to := range []int{13, 21} {
		if from < int64(to) {
			targets = append(targets, to)
		}
	}
	matched, refused := 0, false
	defer func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if refused {
			st.casesRefused++
		} else if matched == len(targets) {
			st.casesMatched++
		}
	}()
	for _, to := range targets {
		m := proto.Clone(model).(*onnxpb.ModelProto)
		if _, err := graph.ConstantsToInitializers(m); err != nil {
			t.Fatalf("ConstantsToInitializers: %v", err)
		}
		if to > 0 {
			if err := graph.UpgradeOpset(m, to); err != nil {
				if !strings.Contains(err.Error(), "cannot upgrade") || !strings.Contains(err.Error(), fmt.Sprintf("to %d", to)) {
					t.Errorf("UpgradeOpset(%d) error does not say what it cannot upgrade: %v", to, err)
				}
				refused = true
				st.mu.Lock()
				st.refused++
				st.refusals = append(st.refusals, fmt.Sprintf("%s: %v", name, err))
				st.mu.Unlock()
				continue
			}
		}
		if err := graph.SortNodes(m.GetGraph()); err != nil {
			t.Fatalf("SortNodes: %v", err)
		}
		if _, err := graph.EliminateDeadCode(m.GetGraph()); err != nil {
			t.Fatalf("EliminateDeadCode: %v", err)
		}
		if err := graph.Validate(m); err != nil {
			t.Errorf("rewritten model (target %d) does not validate: %v", to, err)
			count(&st.failed)
			continue
		}
		got, err := runModel(m, inputs)
		if err != nil {
			if origRuns {
				t.Errorf("rewritten model (target opset %d) does not run: %v", to, err)
				count(&st.failed)
			} else {
				t.Logf("rewritten model (target opset %d) does not run either: %v", to, err)
			}
			continue
		}
		if err := compareOutputs(got, ref, model.GetGraph(), loose); err != nil {
			t.Errorf("rewritten model (target opset %d) differs from the reference (original run: %v): %v", to, origRuns, err)
			count(&st.failed)
			continue
		}
		matched++
		count(&st.passed)
		if to > 0 {
			count(&st.upgrades)
		}
		if !origRuns {
			count(&st.rescued)
		}
	}
}

func readModel(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func allTensors(g *onnxpb.GraphProto) bool {
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput()} {
		for _, v := range vs {
			if v.GetType().GetTensorType() == nil {
				return false
			}
		}
	}
	return true
}

// readTestData reads input_N.pb (by graph input order, skipping
// initializer-backed inputs) and output_N.pb.
func readTestData(t *testing.T, dir string, g *onnxpb.GraphProto) (map[string]*tensor.Tensor, []*tensor.Tensor) {
	t.Helper()
	inits := map[string]bool{}
	for _, in := range g.GetInitializer() {
		inits[in.GetName()] = true
	}
	inputs := map[string]*tensor.Tensor{}
	k := 0
	for _, in := range g.GetInput() {
		if inits[in.GetName()] {
			continue
		}
		inputs[in.GetName()] = asDeclared(t, readTensor(t, filepath.Join(dir, fmt.Sprintf("input_%d.pb", k))), in)
		k++
	}
	var outputs []*tensor.Tensor
	for i, o := range g.GetOutput() {
		outputs = append(outputs, asDeclared(t, readTensor(t, filepath.Join(dir, fmt.Sprintf("output_%d.pb", i))), o))
	}
	return inputs, outputs
}

// asDeclared reinterprets the uint16 tensors ONNX 1.12 wrote for bfloat16
// values as bfloat16 when the model declares bfloat16.
func asDeclared(t *testing.T, x *tensor.Tensor, vi *onnxpb.ValueInfoProto) *tensor.Tensor {
	t.Helper()
	if x.DType() != tensor.Uint16 || vi.GetType().GetTensorType().GetElemType() != int32(onnxpb.TensorProto_BFLOAT16) {
		return x
	}
	bits := tensor.Values[uint16](x)
	v := make([]tensor.BFloat16, len(bits))
	for i, b := range bits {
		v[i] = tensor.BFloat16(b)
	}
	y, err := tensor.New(x.Shape(), v)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func readTensor(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	x, err := tensor.FromProto(tp)
	if err != nil {
		t.Skipf("%s: %v", path, err)
	}
	return x
}

func runModel(m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	s, err := ort.NewSession(b, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(inputs)
}

// compareOutputs compares got (by name) with want, given in graph output
// order as a slice or by name as a map.
func compareOutputs(got map[string]*tensor.Tensor, want any, g *onnxpb.GraphProto, shapesOnly bool) error {
	for i, o := range g.GetOutput() {
		var w *tensor.Tensor
		switch want := want.(type) {
		case []*tensor.Tensor:
			w = want[i]
		case map[string]*tensor.Tensor:
			w = want[o.GetName()]
		}
		gt := got[o.GetName()]
		if gt == nil || w == nil {
			return fmt.Errorf("output %q missing", o.GetName())
		}
		if err := compareTensors(gt, w, shapesOnly); err != nil {
			return fmt.Errorf("output %q: %w", o.GetName(), err)
		}
	}
	return nil
}

func compareTensors(got, want *tensor.Tensor, shapesOnly bool) error {
	if got.DType() != want.DType() {
		return fmt.Errorf("dtype %s, want %s", got.DType(), want.DType())
	}
	if !reflect.DeepEqual(append([]int64{}, got.Shape()...), append([]int64{}, want.Shape()...)) {
		return fmt.Errorf("shape %v, want %v", got.Shape(), want.Shape())
	}
	if shapesOnly {
		return nil
	}
	if got.DType().IsFloat() {
		g, err := tensor.AsFloat64(got)
		if err != nil {
			return err
		}
		w, err := tensor.AsFloat64(want)
		if err != nil {
			return err
		}
		for i := range g {
			if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
				continue
			}
			if g[i] == w[i] { // equal infinities
				continue
			}
			if math.Abs(g[i]-w[i]) > absTol+relTol*math.Abs(w[i]) || math.IsNaN(g[i]) != math.IsNaN(w[i]) {
				return fmt.Errorf("element %d is %g, want %g", i, g[i], w[i])
			}
		}
		return nil
	}
	if !reflect.DeepEqual(got.Data(), want.Data()) {
		return fmt.Errorf("values differ: %v, want %v", truncate(got.Data()), truncate(want.Data()))
	}
	return nil
}

func truncate(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
