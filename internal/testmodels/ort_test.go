package testmodels

import (
	"math"
	"slices"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// runORT runs m in ONNX Runtime with the given float32 inputs (by name) and
// returns every graph output, each checked to be a float32 tensor.
func runORT(t *testing.T, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	testutil.InitORT(t)
	data, err := Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	session, err := ort.NewSession(data, ort.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("ONNX Runtime rejected %s: %v", m.Graph.Name, err)
	}
	defer session.Close()
	got, err := session.Run(inputs)
	if err != nil {
		t.Fatalf("running %s: %v", m.Graph.Name, err)
	}
	for _, out := range m.Graph.Output {
		x, ok := got[out.Name]
		if !ok {
			t.Fatalf("%s: no output %q", m.Graph.Name, out.Name)
		}
		if x.DType() != tensor.Float32 {
			t.Fatalf("output %q is %s, want a float32 tensor", out.Name, x)
		}
	}
	return got
}

// floats returns the values of a float32 tensor.
func floats(x *tensor.Tensor) []float32 { return tensor.Values[float32](x) }

// decode decodes a float32 TensorProto written by FloatTensor.
func decode(t *testing.T, tp *onnxpb.TensorProto) []float32 {
	t.Helper()
	x, err := tensor.FromProto(tp)
	if err != nil {
		t.Fatal(err)
	}
	if x.DType() != tensor.Float32 {
		t.Fatalf("tensor %q is %s, want float32", tp.GetName(), x)
	}
	return floats(x)
}

// feedNames lists the graph inputs that are not initializers (IR 3 models
// list both).
func feedNames(m *onnxpb.ModelProto) []string {
	inits := map[string]bool{}
	for _, t := range m.Graph.Initializer {
		inits[t.Name] = true
	}
	var names []string
	for _, in := range m.Graph.Input {
		if !inits[in.Name] {
			names = append(names, in.Name)
		}
	}
	return names
}

// resolve turns a declared shape into a concrete one, taking symbolic dims
// from dims.
func resolve(t *testing.T, vi *onnxpb.ValueInfoProto, dims map[string]int64) []int64 {
	t.Helper()
	var shape []int64
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		switch v := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			shape = append(shape, v.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			n, ok := dims[v.DimParam]
			if !ok {
				t.Fatalf("%s: no size for dim %q", vi.Name, v.DimParam)
			}
			shape = append(shape, n)
		default:
			t.Fatalf("%s: dimension without a value", vi.Name)
		}
	}
	return shape
}

// randomInputs draws seeded N(0,1) values for every fed input.
func randomInputs(t *testing.T, m *onnxpb.ModelProto, dims map[string]int64, seed uint64) map[string]*tensor.Tensor {
	t.Helper()
	r := NewRand(seed)
	inputs := map[string]*tensor.Tensor{}
	names := map[string]bool{}
	for _, n := range feedNames(m) {
		names[n] = true
	}
	for _, in := range m.Graph.Input {
		if names[in.Name] {
			shape := resolve(t, in, dims)
			inputs[in.Name] = tensor.MustNew(shape, r.Normal(shape, 1))
		}
	}
	return inputs
}

// checkOutputs checks that each output has its declared shape and only
// finite values.
func checkOutputs(t *testing.T, m *onnxpb.ModelProto, dims map[string]int64, got map[string]*tensor.Tensor) {
	t.Helper()
	for _, out := range m.Graph.Output {
		want := resolve(t, out, dims)
		x := got[out.Name]
		if !slices.Equal(x.Shape(), want) {
			t.Errorf("output %q has shape %v, want %v", out.Name, x.Shape(), want)
		}
		g := floats(x)
		if int64(len(g)) != Numel(want) {
			t.Errorf("output %q has %d values, want %d", out.Name, len(g), Numel(want))
		}
		for i, v := range g {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("output %q[%d] = %v", out.Name, i, v)
			}
		}
	}
}

var testDims = map[string]int64{"N": 2, "S": 5, "T": 3}

func TestFilesRunInORT(t *testing.T) {
	for _, f := range Files() {
		t.Run(f.Name, func(t *testing.T) {
			m := f.Build()
			got := runORT(t, m, randomInputs(t, m, testDims, 1))
			checkOutputs(t, m, testDims, got)
		})
	}
}

func TestConfigsRunInORT(t *testing.T) {
	cases := []struct {
		name  string
		model *onnxpb.ModelProto
		dims  map[string]int64
	}{
		{"cnn224", CNN(CNN224Config()), map[string]int64{"N": 1}},
		{"cnn_two_stages", CNN(CNNConfig{InputSize: 16, Channels: []int64{8, 8}, Classes: 3}), testDims},
		{"mlp_wide", MLP(MLPConfig{In: 256, Hidden: []int64{1024}, Classes: 100}), testDims},
		{"transformer_d512", Transformer(TransformerConfig{D: 512, Heads: 8}), map[string]int64{"N": 2, "S": 8}},
		{"transformer_opset17", Transformer(TransformerConfig{Opset: 17}), testDims},
		{"transformer_fixed_seq", Transformer(TransformerConfig{Seq: 7}), testDims},
		{"gru_wide", GRU(GRUConfig{Input: 4, Hidden: 32}), testDims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runORT(t, c.model, randomInputs(t, c.model, c.dims, 2))
			checkOutputs(t, c.model, c.dims, got)
		})
	}
}

// The Erf spelling of GELU below opset 20 must compute what Gelu does.
func TestTransformerGeluSpellingsAgree(t *testing.T) {
	m17 := Transformer(TransformerConfig{Opset: 17})
	m20 := Transformer(TransformerConfig{Opset: 20})
	in := randomInputs(t, m20, testDims, 3)
	a := floats(runORT(t, m17, in)["output"])
	b := floats(runORT(t, m20, in)["output"])
	if len(a) != len(b) {
		t.Fatalf("opset 17 gives %d values, opset 20 %d", len(a), len(b))
	}
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); d > 1e-4 {
			t.Fatalf("output[%d]: opset 17 %v, opset 20 %v", i, a[i], b[i])
		}
	}
}

// The MLP computed in Go from its initializers must match ORT, which checks
// the documented weight layout (Gemm with transB=1).
func TestMLPMatchesReference(t *testing.T) {
	m := MLP(MLPConfig{In: 5, Hidden: []int64{7}, Classes: 3})
	in := randomInputs(t, m, testDims, 4)
	got := floats(runORT(t, m, in)["logits"])

	w := map[string]*onnxpb.TensorProto{}
	for _, init := range m.Graph.Initializer {
		w[init.Name] = init
	}
	layer := func(x []float32, prefix string, relu bool) []float32 {
		weight := w[prefix+".weight"]
		wt, bias := decode(t, weight), decode(t, w[prefix+".bias"])
		out, inN := weight.Dims[0], weight.Dims[1]
		n := int64(len(x)) / inN
		y := make([]float32, n*out)
		for i := range n {
			for o := range out {
				s := float64(bias[o])
				for k := range inN {
					s += float64(x[i*inN+k]) * float64(wt[o*inN+k])
				}
				if relu && s < 0 {
					s = 0
				}
				y[i*out+o] = float32(s)
			}
		}
		return y
	}
	want := layer(layer(floats(in["input"]), "fc1", true), "fc2", false)
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("logits[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// The If must take its then-branch (MatMul + Relu) when the input sums
// above zero and its else-branch (MatMul + bias) otherwise.
func TestIfConstantBranchesTakesBothBranches(t *testing.T) {
	m := IfConstantBranches()
	var then, els *onnxpb.GraphProto
	for _, a := range m.Graph.Node[len(m.Graph.Node)-1].Attribute {
		switch a.Name {
		case "then_branch":
			then = a.G
		case "else_branch":
			els = a.G
		}
	}
	constant := func(g *onnxpb.GraphProto, name string) []float32 {
		for _, n := range g.Node {
			if n.OpType == "Constant" && n.Output[0] == name {
				return decode(t, n.Attribute[0].T)
			}
		}
		t.Fatalf("no Constant %q in %s", name, g.Name)
		return nil
	}
	matmul := func(x, w []float32) []float32 {
		y := make([]float32, 2*4)
		for i := range 2 {
			for o := range 4 {
				var s float32
				for k := range 8 {
					s += x[i*8+k] * w[k*4+o]
				}
				y[i*4+o] = s
			}
		}
		return y
	}
	for _, sign := range []float32{1, -1} {
		x := make([]float32, 16)
		for i := range x {
			x[i] = sign * float32(i%5+1) / 4
		}
		got := floats(runORT(t, m, map[string]*tensor.Tensor{"input": tensor.MustNew([]int64{2, 8}, x)})["output"])
		var want []float32
		if sign > 0 {
			want = matmul(x, constant(then, "then_branch/weight"))
			for i, v := range want {
				want[i] = max(v, 0)
			}
		} else {
			want = matmul(x, constant(els, "else_branch/weight"))
			bias := constant(els, "else_branch/bias")
			for i := range want {
				want[i] += bias[i%4]
			}
		}
		if len(got) != len(want) {
			t.Fatalf("sign %v: %d outputs, want %d", sign, len(got), len(want))
		}
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("sign %v: output[%d] = %v, want %v", sign, i, got[i], want[i])
			}
		}
	}
}
