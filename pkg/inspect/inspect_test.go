package inspect_test

import (
	"strings"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/inspect"
	"github.com/infer-ml/infer/pkg/onnx"
)

func load(t *testing.T, name string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(testutil.Testdata(t, name), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The CNN's FLOPs, by hand: three 3×3 convolutions with padding 1 on a
// 32×32 input (3→16 at 32×32, 16→32 at 16×16, 32→64 at 8×8) and a 64→10
// Gemm, two operations per multiply-add.
func TestCNNFLOPs(t *testing.T) {
	testutil.InitORT(t)
	m := load(t, "cnn.onnx")
	shapes, err := inspect.Shapes(m.Proto, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := inspect.Inspect(m, shapes)
	conv := int64(2 * (16*32*32*3*9 + 32*16*16*16*9 + 64*8*8*32*9))
	gemm := int64(2 * 10 * 64)
	if s.FLOPs.ByOp["Conv"] != conv || s.FLOPs.ByOp["Gemm"] != gemm || s.FLOPs.Total != conv+gemm || s.FLOPs.Unknown != 0 {
		t.Fatalf("FLOPs %+v, want Conv %d Gemm %d", s.FLOPs, conv, gemm)
	}
	// Batch 4 scales linearly.
	shapes4, err := inspect.Shapes(m.Proto, map[string]int64{"N": 4})
	if err != nil {
		t.Fatal(err)
	}
	if s4 := inspect.Inspect(m, shapes4); s4.FLOPs.Total != 4*(conv+gemm) {
		t.Fatalf("batch 4: %d, want %d", s4.FLOPs.Total, 4*(conv+gemm))
	}
}

func TestWeightsAnywhereAreCounted(t *testing.T) {
	plain := inspect.Inspect(load(t, "mlp.onnx"), nil)
	consts := inspect.Inspect(load(t, "mlp_constants.onnx"), nil)
	if plain.FloatParams == 0 || consts.FloatParams != plain.FloatParams {
		t.Fatalf("Constant-node weights: %d params, initializers: %d", consts.FloatParams, plain.FloatParams)
	}
	if consts.ConstantWeights == 0 || plain.ConstantWeights != 0 {
		t.Fatalf("constant weights %d / %d", consts.ConstantWeights, plain.ConstantWeights)
	}
	sub := inspect.Inspect(load(t, "if_constant_branches.onnx"), nil)
	if sub.SubgraphWeights == 0 || sub.Subgraphs != 2 || sub.SubgraphNodes == 0 {
		t.Fatalf("subgraph weights %d subgraphs %d nodes %d", sub.SubgraphWeights, sub.Subgraphs, sub.SubgraphNodes)
	}
	if len(plain.Quantization.Formats) != 0 {
		t.Fatalf("float model reported as %v", plain.Quantization.Formats)
	}
	c := inspect.Inspect(load(t, "contrib.onnx"), nil)
	found := false
	for _, op := range c.Ops {
		if op.Op == "com.microsoft.FusedMatMul" {
			found = true
		}
	}
	if !found {
		t.Fatalf("contrib ops not domain-qualified: %v", c.Ops)
	}
}

func TestQuantizationState(t *testing.T) {
	b := testmodels.NewBuilder("q", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	sc := b.Initializer("scale", nil, []float32{0.1})
	q := b.Op("QuantizeLinear", []string{x, sc})
	dq := b.Op("DequantizeLinear", []string{q, sc})
	w := b.AddTensor(&onnxpb.TensorProto{Name: "w16", DataType: int32(tensor.Float16), Dims: []int64{4, 4}, RawData: make([]byte, 32)})
	c := b.Op("Cast", []string{w}, testmodels.AttrInt("to", 1))
	mm := b.Op("MatMul", []string{dq, c})
	b.Node("Identity", []string{mm}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 4)
	s := inspect.Inspect(&onnx.Model{Proto: b.Model()}, nil)
	got := strings.Join(s.Quantization.Formats, ",")
	if got != "QDQ,fp16" || s.Quantization.QuantizeLinear != 1 || s.Quantization.DequantizeLinear != 1 {
		t.Fatalf("formats %q %+v", got, s.Quantization)
	}
	if s.Sparsity != 16.0/17 { // 16 zero float16 weights, one non-zero scale
		t.Fatalf("sparsity %v", s.Sparsity)
	}
}
