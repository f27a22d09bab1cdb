package graph_test

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Small builders for hand-made graphs whose exact shape a test controls
// (internal/testmodels builds whole, valid models).

func node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: op, Name: name, Input: in, Output: out, Attribute: attrs}
}

func tensorVI(name string, elem onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}

func floatVI(name string, dims ...int64) *onnxpb.ValueInfoProto {
	return tensorVI(name, onnxpb.TensorProto_FLOAT, dims...)
}

func floatInit(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_FLOAT), Dims: dims, FloatData: vals}
}

func int64Init(name string, dims []int64, vals ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_INT64), Dims: dims, Int64Data: vals}
}

func graphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_GRAPH, G: g}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

func floatsAttr(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: v}
}

func stringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

func tensorAttr(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_TENSOR, T: t}
}

// model wraps g at the given default opset with the IR version that
// shipped with it (at least 4, so initializers need not be inputs).
func model(opset int64, g *onnxpb.GraphProto) *onnxpb.ModelProto {
	ir := int64(4)
	switch {
	case opset >= 21:
		ir = 10
	case opset >= 19:
		ir = 9
	case opset >= 15:
		ir = 8
	case opset >= 12:
		ir = 7
	case opset == 11:
		ir = 6
	case opset == 10:
		ir = 5
	}
	return &onnxpb.ModelProto{IrVersion: ir, OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: "", Version: opset}}, Graph: g}
}

func opTypes(g *onnxpb.GraphProto) string {
	var ops []string
	for _, n := range g.GetNode() {
		ops = append(ops, n.GetOpType())
	}
	return strings.Join(ops, ",")
}

func nodeNames(nodes []*onnxpb.NodeProto) string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.GetName())
	}
	return strings.Join(names, ",")
}

// ramp returns deterministic values spread over [-scale, scale].
func ramp(shape []int64, scale float64, seed int) *tensor.Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(scale * math.Sin(float64(i*7+seed*13)+0.3))
	}
	return tensor.MustNew(shape, v)
}

// rewrite applies the passes a loader runs before optimizing, upgrading
// to target (0: none), and checks the result validates.
func rewrite(t *testing.T, m *onnxpb.ModelProto, target int) *onnxpb.ModelProto {
	t.Helper()
	m = proto.Clone(m).(*onnxpb.ModelProto)
	if _, err := graph.ConstantsToInitializers(m); err != nil {
		t.Fatalf("ConstantsToInitializers: %v", err)
	}
	if target > 0 {
		if err := graph.UpgradeOpset(m, target); err != nil {
			t.Fatalf("UpgradeOpset(%d): %v", target, err)
		}
	}
	if err := graph.SortNodes(m.GetGraph()); err != nil {
		t.Fatalf("SortNodes: %v", err)
	}
	if _, err := graph.EliminateDeadCode(m.GetGraph()); err != nil {
		t.Fatalf("EliminateDeadCode: %v", err)
	}
	if err := graph.Validate(m); err != nil {
		t.Fatalf("rewritten model (target %d) does not validate: %v", target, err)
	}
	return m
}

// checkParity runs m in ONNX Runtime, rewrites and upgrades it to each
// target, and checks the rewritten models compute the same outputs. When
// want is non-nil it is the reference instead of m's own run (for opsets
// ONNX Runtime has no kernels for). It returns the upgraded models.
func checkParity(t *testing.T, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor, want map[string]*tensor.Tensor, targets ...int) []*onnxpb.ModelProto {
	t.Helper()
	testutil.InitORT(t)
	if err := graph.Validate(m); err != nil {
		t.Fatalf("original does not validate: %v", err)
	}
	if want == nil {
		var err error
		want, err = runModel(m, inputs)
		if err != nil {
			t.Fatalf("original does not run: %v", err)
		}
	}
	var out []*onnxpb.ModelProto
	for _, to := range targets {
		r := rewrite(t, m, to)
		got, err := runModel(r, inputs)
		if err != nil {
			t.Fatalf("upgraded to %d (%s): does not run: %v", to, opTypes(r.GetGraph()), err)
		}
		if err := compareOutputs(got, want, m.GetGraph(), false); err != nil {
			t.Fatalf("upgraded to %d (%s): %v", to, opTypes(r.GetGraph()), err)
		}
		out = append(out, r)
	}
	return out
}

func mustContain(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}
