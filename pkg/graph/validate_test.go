package graph_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// validModel: x → Relu → r; r, w → Add → y; plus an If reading r.
func validModel() *onnxpb.ModelProto {
	branch := func(name string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   name,
			Node:   []*onnxpb.NodeProto{node("Neg", name+"_neg", []string{"r"}, []string{name + "_out"})},
			Output: []*onnxpb.ValueInfoProto{floatVI(name + "_out")},
		}
	}
	return model(13, &onnxpb.GraphProto{
		Name: "valid",
		Node: []*onnxpb.NodeProto{
			node("Relu", "relu", []string{"x"}, []string{"r"}),
			node("Add", "add", []string{"r", "w"}, []string{"y"}),
			node("If", "if", []string{"c"}, []string{"z"}, graphAttr("then_branch", branch("then")), graphAttr("else_branch", branch("else"))),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{2}, 1, 2)},
		Input:       []*onnxpb.ValueInfoProto{floatVI("x", 2), tensorVI("c", onnxpb.TensorProto_BOOL)},
		Output:      []*onnxpb.ValueInfoProto{floatVI("y", 2), floatVI("z", 2)},
	})
}

func TestValidateAcceptsValidModels(t *testing.T) {
	models := map[string]*onnxpb.ModelProto{
		"hand-made":     validModel(),
		"mlp":           testmodels.MLP(testmodels.MLPConfig{}),
		"cnn":           testmodels.CNN(testmodels.CNNConfig{}),
		"transformer":   testmodels.Transformer(testmodels.TransformerConfig{}),
		"gru":           testmodels.GRU(testmodels.GRUConfig{}),
		"legacy7":       testmodels.Legacy(7),
		"legacy9":       testmodels.Legacy(9),
		"if constants":  testmodels.IfConstantBranches(),
		"contrib":       testmodels.Contrib(),
		"mlp constants": testmodels.MLP(testmodels.MLPConfig{WeightsAsConstants: true}),
	}
	aliased := validModel()
	aliased.OpsetImport[0].Domain = "ai.onnx"
	aliased.Graph.Node[0].Domain = "ai.onnx"
	models["ai.onnx alias"] = aliased
	for name, m := range models {
		if err := graph.Validate(m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateFindsProblems(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(m *onnxpb.ModelProto)
		want   string
		unsupp bool
	}{
		{"ir too new", func(m *onnxpb.ModelProto) { m.IrVersion = 12 }, "ir_version 12 is newer than 11", true},
		{"ir too old", func(m *onnxpb.ModelProto) { m.IrVersion = 2 }, "ir_version 2 is older than 3", true},
		{"ir missing", func(m *onnxpb.ModelProto) { m.IrVersion = 0 }, "ir_version is missing", false},
		{"no opsets", func(m *onnxpb.ModelProto) { m.OpsetImport = nil }, "opset_import is empty", false},
		{"opset twice", func(m *onnxpb.ModelProto) {
			m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "ai.onnx", Version: 13})
		}, `opset_import lists domain "ai.onnx" twice`, false},
		{"domain not imported", func(m *onnxpb.ModelProto) { m.Graph.Node[1].Domain = "com.microsoft" }, `node "add" (com.microsoft.Add): domain "com.microsoft" is not in the model's opset_import`, false},
		{"unknown default op", func(m *onnxpb.ModelProto) { m.Graph.Node[1].OpType = "Addd" }, `node "add" (Addd): operator Addd is not defined in opset 13 of ai.onnx`, false},
		{"op newer than opset", func(m *onnxpb.ModelProto) { m.Graph.Node[0].OpType = "Gelu" }, "operator Gelu is not defined in opset 13", false},
		{"two producers", func(m *onnxpb.ModelProto) { m.Graph.Node[1].Output[0] = "r" }, `node "add" (Add): output "r" is also produced by node "relu" (Relu)`, false},
		{"initializer and output", func(m *onnxpb.ModelProto) { m.Graph.Node[0].Output[0] = "w"; m.Graph.Node[1].Input[0] = "w" }, `output "w" is also an initializer`, false},
		{"input and output", func(m *onnxpb.ModelProto) { m.Graph.Node[0].Output[0] = "c" }, `output "c" is also a graph input`, false},
		{"input twice", func(m *onnxpb.ModelProto) { m.Graph.Input = append(m.Graph.Input, floatVI("x", 2)) }, `graph input "x": is listed twice`, false},
		{"undefined input", func(m *onnxpb.ModelProto) { m.Graph.Node[1].Input[1] = "nowhere" }, `node "add" (Add): input "nowhere" is not defined`, false},
		{"undefined in branch", func(m *onnxpb.ModelProto) {
			m.Graph.Node[2].Attribute[0].G.Node[0].Input[0] = "ghost"
		}, `node "if" (If) attribute "then_branch": node "then_neg" (Neg): input "ghost" is not defined`, false},
		{"shadowing", func(m *onnxpb.ModelProto) {
			b := m.Graph.Node[2].Attribute[1].G
			b.Node[0].Output[0] = "y"
			b.Output[0].Name = "y"
		}, `output "y" reuses a name of an enclosing graph`, false},
		{"output undefined", func(m *onnxpb.ModelProto) { m.Graph.Output[0].Name = "nope" }, `graph output "nope": is not defined`, false},
		{"output twice", func(m *onnxpb.ModelProto) { m.Graph.Output[1].Name = "y" }, `graph output "y": is listed twice`, false},
		{"input without type", func(m *onnxpb.ModelProto) { m.Graph.Input[0].Type = nil }, `graph input "x": has no type`, false},
		{"output without elem_type", func(m *onnxpb.ModelProto) { m.Graph.Output[0].Type.GetTensorType().ElemType = 0 }, `graph output "y": tensor type has no elem_type`, false},
		{"huge dimension", func(m *onnxpb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 40}
		}, `graph input "x": dimension 0 is 1099511627776, outside 0..4294967296`, false},
		{"negative dimension", func(m *onnxpb.ModelProto) {
			m.Graph.ValueInfo = append(m.Graph.ValueInfo, floatVI("r", 2, -3))
		}, `value_info "r": dimension 1 is -3`, false},
		{"initializer short", func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{3} }, `initializer "w": decode tensor "w": float_data has 2 values, shape [3] needs 3`, false},
		{"initializer raw short", func(m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].FloatData = nil
			m.Graph.Initializer[0].RawData = []byte{1, 2, 3}
		}, `initializer "w": raw_data has 3 bytes, want 8`, false},
		{"initializer dims overflow", func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{1 << 32, 1 << 32, 1 << 32} }, `initializer "w": dimensions`, false},
		{"IR 3 initializer not an input", func(m *onnxpb.ModelProto) { m.IrVersion = 3 }, `initializer "w": is not a graph input, which ir_version 3 requires`, false},
		{"cycle", func(m *onnxpb.ModelProto) { m.Graph.Node[0].Input[0] = "y" }, `graph has a cycle: node "relu" (Relu) -> node "add" (Add)`, false},
		{"no op type", func(m *onnxpb.ModelProto) { m.Graph.Node[0].OpType = "" }, "has no op_type", false},
		{"nil node", func(m *onnxpb.ModelProto) { m.Graph.Node = append(m.Graph.Node, nil) }, "node #3: is nil", false},
		{"no graph", func(m *onnxpb.ModelProto) { m.Graph = nil }, "model has no graph", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validModel()
			c.edit(m)
			err := graph.Validate(m)
			mustContain(t, err, c.want)
			var ve *graph.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T is not a *ValidationError with problems", err)
			}
			if errors.Is(err, graph.ErrUnsupported) != c.unsupp {
				t.Errorf("errors.Is(ErrUnsupported) = %v", !c.unsupp)
			}
		})
	}
}

func TestValidateFunctionsAndLists(t *testing.T) {
	m := validModel()
	m.Graph.Node[1].OpType = "MyAdd"
	m.Graph.Node[1].Domain = "local"
	m.Functions = []*onnxpb.FunctionProto{{
		Name: "MyAdd", Domain: "local", Input: []string{"a", "b"}, Output: []string{"s"},
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: "", Version: 13}},
		Node:        []*onnxpb.NodeProto{node("Add", "", []string{"a", "b"}, []string{"s"})},
	}}
	if err := graph.Validate(m); err != nil {
		t.Fatalf("a node calling a model function: %v", err)
	}
	m.Functions[0].Node[0].Input[1] = "q"
	mustContain(t, graph.Validate(m), `function "MyAdd": node #0 (Add): input "q" is not a function input`)

	// Every problem is listed; Error names the first few.
	m = validModel()
	for i := range m.Graph.Node {
		m.Graph.Node[i].Input = append(m.Graph.Node[i].Input, "missing")
	}
	m.IrVersion = 99
	m.Graph.Output[0].Name = "gone"
	m.Graph.Output[1].Name = "gone2"
	err := graph.Validate(m)
	var ve *graph.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 6 {
		t.Fatalf("problems: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "invalid model: 6 problems: ir_version 99") || !strings.HasSuffix(err.Error(), "; and 1 more") {
		t.Errorf("message %q", err)
	}
}
