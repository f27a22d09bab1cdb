package prep_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

func TestFoldBatchNormCNN(t *testing.T) {
	testutil.InitORT(t)
	orig := testmodels.CNN(testmodels.CNNConfig{})
	m := clone(orig)
	// The clone shares nothing, but keep the weights' bytes to prove the
	// fold made new tensors rather than writing into old ones.
	w1 := initializer(m.Graph, "conv1.weight")
	w1Bytes := bytes.Clone(w1.GetRawData())

	n, err := prep.FoldBatchNorm(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("folded %d, want 3", n)
	}
	if got, want := len(m.Graph.Node), len(orig.Graph.Node)-3; got != want {
		t.Fatalf("%d nodes, want %d", got, want)
	}
	if c := countOps(m.Graph, "BatchNormalization"); c != 0 {
		t.Fatalf("%d BatchNormalization left", c)
	}
	if !bytes.Equal(w1.GetRawData(), w1Bytes) {
		t.Fatal("conv1.weight was modified in place")
	}
	if initializer(m.Graph, "conv1.weight") == w1 {
		t.Fatal("conv1.weight still holds the unfolded tensor")
	}
	validate(t, m)
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(1, 2, 3, 32, 32)}, foldTol)
}

// convBN appends Conv (bias optional) → BatchNormalization and returns the
// conv output and the BN output.
func convBN(b *testmodels.Builder, r *testmodels.Rand, prefix, x string, cin, cout int64, bias bool, bnAttrs ...*onnxpb.AttributeProto) (string, string) {
	y := conv(b, r, prefix, x, cin, cout, bias)
	return y, batchNorm(b, r, prefix+"_bn", y, cout, bnAttrs...)
}

func batchNorm(b *testmodels.Builder, r *testmodels.Rand, prefix, x string, c int64, attrs ...*onnxpb.AttributeProto) string {
	s := []int64{c}
	return b.Op("BatchNormalization", []string{x,
		b.Initializer(prefix+".scale", s, r.Uniform(s, 0.5, 1.5)),
		b.Initializer(prefix+".bias", s, r.Normal(s, 0.3)),
		b.Initializer(prefix+".mean", s, r.Normal(s, 0.3)),
		b.Initializer(prefix+".var", s, r.Uniform(s, 0.2, 2)),
	}, append([]*onnxpb.AttributeProto{testmodels.AttrFloat("epsilon", 1e-3)}, attrs...)...)
}

// ConvTranspose with groups, and a Conv without bias, both folded.
func TestFoldConvTransposeAndBiaslessConv(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(3)
	b := testmodels.NewBuilder("convt", 17)
	x := b.Input("input", tensor.Float32, "N", 4, 6, 6)
	ws := []int64{4, 3, 3, 3} // [C_in, C_out/group, k, k], group 2 → 6 outputs
	y := b.Op("ConvTranspose", []string{x, b.Initializer("deconv.weight", ws, r.He(ws, 9))}, testmodels.AttrInt("group", 2))
	y = batchNorm(b, r, "bn0", y, 6)
	_, y = convBN(b, r, "conv1", y, 6, 5, false)
	b.Node("Relu", []string{y}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 5, 8, 8)
	orig := b.Model()

	m := clone(orig)
	n, err := prep.FoldBatchNorm(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || countOps(m.Graph, "BatchNormalization") != 0 {
		t.Fatalf("folded %d, want 2", n)
	}
	for _, node := range m.Graph.Node {
		if (node.OpType == "Conv" || node.OpType == "ConvTranspose") && (len(node.Input) != 3 || node.Input[2] == "") {
			t.Fatalf("%s has no bias after folding: %v", node.OpType, node.Input)
		}
	}
	validate(t, m)
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(2, 2, 4, 6, 6)}, foldTol)
}

// A weight read by a second convolution keeps its values: the folded one
// gets a new name.
func TestFoldSharedWeight(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(4)
	b := testmodels.NewBuilder("shared", 17)
	x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
	_, y1 := convBN(b, r, "conv", x, 3, 4, true)
	y2 := b.Op("Conv", []string{x, "conv.weight", "conv.bias"}, testmodels.AttrInts("pads", 1, 1, 1, 1))
	b.Node("Add", []string{y1, y2}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 4, 5, 5)
	orig := b.Model()

	m := clone(orig)
	n, err := prep.FoldBatchNorm(m.Graph)
	if err != nil || n != 1 {
		t.Fatalf("folded %d, %v; want 1", n, err)
	}
	w, bias := initializer(m.Graph, "conv.weight"), initializer(m.Graph, "conv.bias")
	if !proto.Equal(w, initializer(orig.Graph, "conv.weight")) || !proto.Equal(bias, initializer(orig.Graph, "conv.bias")) {
		t.Fatal("shared initializers changed")
	}
	folded := m.Graph.Node[0]
	if folded.Input[1] == "conv.weight" || folded.Input[2] == "conv.bias" {
		t.Fatalf("folded conv still reads the shared tensors: %v", folded.Input)
	}
	validate(t, m)
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(5, 2, 3, 5, 5)}, foldTol)
}

func TestFoldSkips(t *testing.T) {
	cases := []skipCase{
		{"conv output read by another node", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 17)
			x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
			y, z := convBN(b, testmodels.NewRand(1), "conv", x, 3, 4, true)
			b.Node("Add", []string{z, b.Op("Relu", []string{y})}, []string{"output"})
			b.Output("output", tensor.Float32, "N", 4, 5, 5)
			return b.Model()
		}},
		{"conv output is a graph output", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 17)
			x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
			y, z := convBN(b, testmodels.NewRand(1), "conv", x, 3, 4, true)
			b.Output(y, tensor.Float32, "N", 4, 5, 5)
			b.Output(z, tensor.Float32, "N", 4, 5, 5)
			return b.Model()
		}},
		{"training mode", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 15)
			x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
			_, z := convBN(b, testmodels.NewRand(1), "conv", x, 3, 4, true, testmodels.AttrInt("training_mode", 1))
			b.Output(z, tensor.Float32, "N", 4, 5, 5)
			return b.Model()
		}},
		{"statistics are a graph input", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 17)
			x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
			_, z := convBN(b, testmodels.NewRand(1), "conv", x, 3, 4, true)
			b.Output(z, tensor.Float32, "N", 4, 5, 5)
			m := b.Model()
			m.Graph.Input = append(m.Graph.Input, testmodels.ValueInfo("conv_bn.mean", tensor.Float32, 4))
			return m
		}},
		{"input not from a convolution", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 17)
			x := b.Input("input", tensor.Float32, "N", 4, 5, 5)
			z := batchNorm(b, testmodels.NewRand(1), "bn", b.Op("Relu", []string{x}), 4)
			b.Output(z, tensor.Float32, "N", 4, 5, 5)
			return b.Model()
		}},
		{"statistics of the wrong length", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("m", 17)
			x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
			ws := []int64{4, 3, 3, 3}
			y := b.Op("Conv", []string{x, b.Initializer("w", ws, testmodels.NewRand(1).He(ws, 27))}, testmodels.AttrInts("pads", 1, 1, 1, 1))
			z := batchNorm(b, testmodels.NewRand(2), "bn", y, 5)
			b.Output(z, tensor.Float32, "N", 4, 5, 5)
			return b.Model()
		}},
	}
	checkSkips(t, cases, func(m *onnxpb.ModelProto) (int, error) { return prep.FoldBatchNorm(m.Graph) })
}

func TestFoldBatchNormBadInput(t *testing.T) {
	if _, err := prep.FoldBatchNorm(nil); err == nil {
		t.Fatal("nil graph accepted")
	}
	// Statistics whose data does not match their shape: an error naming
	// the node, and nothing changed.
	b := testmodels.NewBuilder("m", 17)
	x := b.Input("input", tensor.Float32, "N", 3, 5, 5)
	_, z := convBN(b, testmodels.NewRand(1), "conv", x, 3, 4, true)
	b.Output(z, tensor.Float32, "N", 4, 5, 5)
	m := b.Model()
	initializer(m.Graph, "conv_bn.var").RawData = []byte{1, 2, 3}
	before := clone(m)
	_, err := prep.FoldBatchNorm(m.Graph)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("BatchNormalization")) {
		t.Fatalf("error %v, want one naming the BatchNormalization node", err)
	}
	if !proto.Equal(m, before) {
		t.Fatal("graph changed on error")
	}
}
