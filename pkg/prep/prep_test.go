package prep_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

func TestRunCNN(t *testing.T) {
	testutil.InitORT(t)
	orig := testmodels.CNN(testmodels.CNNConfig{})
	m := clone(orig)
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	if res.Folded != 3 || countOps(m.Graph, "BatchNormalization") != 0 {
		t.Fatalf("folded %d", res.Folded)
	}
	if !slices.Contains(res.Notes, "folded 3 BatchNormalization into Conv") {
		t.Fatalf("notes %q", res.Notes)
	}
	// The BN statistics (4 per BN) are gone; the conv weights were
	// replaced under their own names.
	if res.DeadCode.Initializers != 12 || initializer(m.Graph, "bn1.mean") != nil || initializer(m.Graph, "conv1.weight") == nil {
		t.Fatalf("dead code %+v", res.DeadCode)
	}
	if res.OpsetFrom != 17 || res.OpsetTo != 17 || graph.DefaultOpset(m) != 17 {
		t.Fatalf("opset %d → %d (model %d), want 17 kept", res.OpsetFrom, res.OpsetTo, graph.DefaultOpset(m))
	}
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(7, 3, 3, 32, 32)}, foldTol)
}

func TestRunLegacyOpset7(t *testing.T) {
	testutil.InitORT(t)
	orig := testmodels.Legacy(7)
	m := clone(orig)
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	if graph.DefaultOpset(m) != 13 || res.OpsetFrom != 7 || res.OpsetTo != 13 {
		t.Fatalf("opset %d (result %d → %d), want 13", graph.DefaultOpset(m), res.OpsetFrom, res.OpsetTo)
	}
	if !slices.Contains(res.Notes, "upgraded opset 7 → 13") {
		t.Fatalf("notes %q", res.Notes)
	}
	if m.IrVersion < 7 {
		t.Fatalf("IR version %d, want at least 7 for opset 13", m.IrVersion)
	}
	// IR 3 listed the weights as inputs; they are plain initializers now,
	// so the BN folds.
	if len(m.Graph.Input) != 1 || m.Graph.Input[0].GetName() != "input" || res.InitializerInputsRemoved == 0 {
		t.Fatalf("graph inputs %d, removed %d", len(m.Graph.Input), res.InitializerInputsRemoved)
	}
	if res.Folded != 1 {
		t.Fatalf("folded %d, want 1", res.Folded)
	}
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(8, 2, 8, 8)}, foldTol)
}

func TestRunLegacyKeepsInitializerInputs(t *testing.T) {
	m := testmodels.Legacy(7)
	opts := prep.DefaultOptions()
	opts.InferShapes = false
	opts.KeepInitializerInputs = true
	res, err := prep.Run(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	// Overridable weights are not folded.
	if res.Folded != 0 || res.InitializerInputsRemoved != 0 || len(m.Graph.Input) == 1 {
		t.Fatalf("folded %d, removed %d inputs", res.Folded, res.InitializerInputsRemoved)
	}
}

func TestRunMNIST(t *testing.T) {
	testutil.InitORT(t)
	path := testutil.Fixture(t, "mnist/model.onnx")
	loaded, err := onnx.Load(path, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := loaded.Proto
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	if graph.DefaultOpset(m) != 13 || m.IrVersion < 7 {
		t.Fatalf("opset %d IR %d, want 13 and ≥ 7", graph.DefaultOpset(m), m.IrVersion)
	}
	// CNTK's export: the MatMul weight is Reshape(initializer), the conv
	// biases are Adds and the classifier is MatMul+Add.
	for _, note := range []string{"folded 1 constant Reshape", "moved 2 Add biases into Conv", "fused 1 MatMul+Add into Gemm"} {
		if !slices.Contains(res.Notes, note) {
			t.Errorf("no note %q in %q", note, res.Notes)
		}
	}
	idx := graph.NewIndex(m.Graph)
	for _, n := range m.Graph.Node {
		switch n.OpType {
		case "Reshape":
			if idx.Initializer(n.Input[0]) != nil {
				t.Errorf("Reshape of initializer %q left", n.Input[0])
			}
		case "Conv":
			if len(n.Input) != 3 || idx.Initializer(n.Input[2]) == nil {
				t.Errorf("Conv %q inputs %v, want a bias initializer", n.Name, n.Input)
			}
			for _, u := range idx.Consumers(n.Output[0]) {
				if u.Node.OpType == "Add" {
					t.Errorf("Conv %q still followed by Add", n.Name)
				}
			}
		}
	}
	if c, g, mm, add := countOps(m.Graph, "Conv"), countOps(m.Graph, "Gemm"), countOps(m.Graph, "MatMul"), countOps(m.Graph, "Add"); c != 2 || g != 1 || mm != 0 || add != 0 {
		t.Errorf("%d Conv, %d Gemm, %d MatMul, %d Add; want 2, 1, 0, 0", c, g, mm, add)
	}
	// The export declares types for the values that went (the Conv and
	// MatMul outputs, the reshaped weight); none is left describing nothing
	// or duplicating an initializer's type.
	for _, vi := range m.Graph.ValueInfo {
		if _, pos := idx.Producer(vi.GetName()); pos < 0 {
			t.Errorf("value_info %q is not a node output", vi.GetName())
		}
	}
	for _, name := range []string{"Parameter193", "Parameter193_reshape1_shape"} {
		if initializer(m.Graph, name) != nil {
			t.Errorf("unused initializer %q kept", name)
		}
	}
	set := filepath.Join(filepath.Dir(path), "test_data_set_0")
	want := readTensor(t, filepath.Join(set, "output_0.pb"))
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Inputs()) != 1 || len(s.Outputs()) != 1 {
		t.Fatalf("signature changed: %d inputs, %d outputs", len(s.Inputs()), len(s.Outputs()))
	}
	out, err := s.Run(map[string]*tensor.Tensor{s.Inputs()[0].Name: readTensor(t, filepath.Join(set, "input_0.pb"))})
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(t, out[s.Outputs()[0].Name], want); e > exactTol {
		t.Fatalf("relative error %.3g > %g (notes %q)", e, exactTol, res.Notes)
	}
}

// Weights inside If branches come out as initializers of the branches.
func TestRunSubgraphConstants(t *testing.T) {
	testutil.InitORT(t)
	orig := testmodels.IfConstantBranches()
	m := clone(orig)
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	validate(t, m)
	if res.ConstantsMoved == 0 {
		t.Fatalf("no constants moved: %q", res.Notes)
	}
	var constants func(g *onnxpb.GraphProto) int
	constants = func(g *onnxpb.GraphProto) int {
		n := countOps(g, "Constant")
		for _, node := range g.GetNode() {
			for _, a := range node.GetAttribute() {
				if a.GetG() != nil {
					n += constants(a.GetG())
				}
			}
		}
		return n
	}
	if c := constants(m.Graph); c != 0 {
		t.Fatalf("%d Constant nodes left", c)
	}
	for _, seed := range []uint64{1, 2, 3} {
		checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(seed, 3, 8)}, exactTol)
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := prep.Run(nil, prep.DefaultOptions()); err == nil {
		t.Fatal("nil model accepted")
	}
	if _, err := prep.Run(testmodels.CNN(testmodels.CNNConfig{}), prep.Options{MinOpset: graph.MaxOpset + 1}); err == nil {
		t.Fatal("opset beyond MaxOpset accepted")
	}

	// An invalid model is refused before any pass runs.
	bad := testmodels.CNN(testmodels.CNNConfig{})
	bad.Graph.Node[0].Input[0] = "nowhere"
	var pe *prep.PassError
	_, err := prep.Run(bad, prep.DefaultOptions())
	if !errors.As(err, &pe) || pe.Pass != "input" || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("error %v, want an input error naming the value", err)
	}

	// Tile-1 (with an axis input) has no opset 6 equivalent: the upgrade
	// refusal names the pass and the operator.
	b := testmodels.NewBuilder("tile", 5)
	x := b.Input("input", tensor.Float32, "N", 4)
	tiles := b.InitializerInt64("tiles", []int64{}, []int64{2})
	axis := b.InitializerInt64("axis", []int64{}, []int64{1})
	b.Node("Tile", []string{x, tiles, axis}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 8)
	_, err = prep.Run(b.Model(), prep.DefaultOptions())
	if !errors.As(err, &pe) || pe.Pass != "upgrade-opset" || pe.Check || !strings.Contains(err.Error(), "Tile") {
		t.Fatalf("error %v, want an upgrade-opset error naming Tile", err)
	}
	if !strings.HasPrefix(err.Error(), "prep: pass upgrade-opset: ") {
		t.Fatalf("error %q does not lead with the pass", err)
	}
}

// The zero Options upgrade but fold nothing and leave value_info alone.
func TestRunZeroOptions(t *testing.T) {
	m := testmodels.CNN(testmodels.CNNConfig{})
	res, err := prep.Run(m, prep.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Folded != 0 || res.ValueInfoAdded != 0 || len(m.Graph.ValueInfo) != 0 || len(res.Notes) != 0 {
		t.Fatalf("zero options changed the CNN: %+v", res)
	}
}
