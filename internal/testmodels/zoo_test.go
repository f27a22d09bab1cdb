package testmodels

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// zooSession opens m in ONNX Runtime with the two threads the zoo's speed
// budget assumes.
func zooSession(t *testing.T, m *onnxpb.ModelProto) *ort.Session {
	t.Helper()
	testutil.InitORT(t)
	s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatalf("ONNX Runtime rejected %s: %v", m.Graph.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// zooRun runs s and fails the test on an error.
func zooRun(t *testing.T, s *ort.Session, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	out, err := s.Run(in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

// dimsOf returns the declared dims of a value: a size, or −1 with the
// dim_param's name.
func dimsOf(vi *onnxpb.ValueInfoProto) (sizes []int64, params []string) {
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		sizes = append(sizes, d.GetDimValue())
		params = append(params, d.GetDimParam())
		if d.GetDimParam() != "" {
			sizes[len(sizes)-1] = -1
		}
	}
	return sizes, params
}

// zooInputs draws seeded inputs for a at shapes: float32 from U[−1, 1),
// int64 from {0, …, 9}, scalars from a.Values. It also returns the size
// each dim_param takes. It fails the test if a shape is missing or
// contradicts the declared dims.
func zooInputs(t *testing.T, a Arch, shapes map[string][]int64, seed uint64) (map[string]*tensor.Tensor, map[string]int64) {
	t.Helper()
	r := NewRand(seed)
	in := map[string]*tensor.Tensor{}
	params := map[string]int64{}
	for _, name := range feedNames(a.Model) {
		vi := inputInfo(a.Model, name)
		sizes, names := dimsOf(vi)
		dtype := tensor.DType(vi.GetType().GetTensorType().GetElemType())
		if len(sizes) == 0 {
			v, ok := a.Values[name]
			if !ok {
				t.Fatalf("scalar input %q has no value in Values", name)
			}
			in[name] = scalarTensor(t, dtype, v)
			continue
		}
		shape, ok := shapes[name]
		if !ok || len(shape) != len(sizes) {
			t.Fatalf("input %q: shape %v for declared rank %d", name, shape, len(sizes))
		}
		for i, d := range sizes {
			if d >= 0 && shape[i] != d {
				t.Fatalf("input %q: shape %v, but axis %d is fixed at %d", name, shape, i, d)
			}
			if p := names[i]; p != "" {
				if prev, seen := params[p]; seen && prev != shape[i] {
					t.Fatalf("input %q: dim %q is %d here and %d on another input", name, p, shape[i], prev)
				}
				params[p] = shape[i]
			}
		}
		u := r.Uniform(shape, -1, 1)
		switch dtype {
		case tensor.Float32:
			in[name] = tensor.MustNew(shape, u)
		case tensor.Int64:
			ints := make([]int64, len(u))
			for i, v := range u {
				ints[i] = int64(math.Floor((float64(v) + 1) * 5))
			}
			in[name] = tensor.MustNew(shape, ints)
		default:
			t.Fatalf("input %q has element type %s", name, dtype)
		}
	}
	return in, params
}

func inputInfo(m *onnxpb.ModelProto, name string) *onnxpb.ValueInfoProto {
	for _, vi := range m.Graph.Input {
		if vi.Name == name {
			return vi
		}
	}
	return nil
}

func scalarTensor(t *testing.T, dtype tensor.DType, v float64) *tensor.Tensor {
	t.Helper()
	switch dtype {
	case tensor.Int64:
		return tensor.MustNew([]int64{}, []int64{int64(v)})
	case tensor.Float32:
		return tensor.MustNew([]int64{}, []float32{float32(v)})
	}
	t.Fatalf("scalar of element type %s", dtype)
	return nil
}

// checkZooOutputs checks every output's rank, its fixed dims and the dims
// named like an input's, and that its values are finite.
func checkZooOutputs(t *testing.T, m *onnxpb.ModelProto, params map[string]int64, got map[string]*tensor.Tensor) {
	t.Helper()
	for _, out := range m.Graph.Output {
		x, ok := got[out.Name]
		if !ok {
			t.Fatalf("no output %q", out.Name)
		}
		sizes, names := dimsOf(out)
		if len(x.Shape()) != len(sizes) {
			t.Fatalf("output %q has shape %v, want rank %d", out.Name, x.Shape(), len(sizes))
		}
		for i, d := range x.Shape() {
			want, known := sizes[i], sizes[i] >= 0
			if !known {
				want, known = params[names[i]]
			}
			if known && d != want {
				t.Errorf("output %q has shape %v; axis %d should be %d", out.Name, x.Shape(), i, want)
			}
		}
		for i, v := range floats(x) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("output %q[%d] = %v", out.Name, i, v)
			}
		}
	}
}

// weightBytes sums the bytes of every initializer and Constant tensor,
// subgraphs included.
func weightBytes(g *onnxpb.GraphProto) int {
	n := 0
	for _, init := range g.Initializer {
		n += len(init.RawData)
	}
	for _, node := range g.Node {
		for _, a := range node.Attribute {
			if a.T != nil {
				n += len(a.T.RawData)
			}
			if a.G != nil {
				n += weightBytes(a.G)
			}
		}
	}
	return n
}

// Every architecture validates, runs at both shapes in ONNX Runtime, gives
// finite outputs of the declared rank that depend on the input, and stays
// within the zoo's size budget.
func TestZooRuns(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Zoo() {
		if seen[a.Name] {
			t.Errorf("two architectures named %q", a.Name)
		}
		seen[a.Name] = true
		t.Run(a.Name, func(t *testing.T) {
			if err := graph.Validate(a.Model); err != nil {
				t.Fatal(err)
			}
			if n := weightBytes(a.Model.Graph); n > 3<<20 {
				t.Errorf("%d bytes of weights; the zoo's defaults stay under 3 MiB", n)
			}
			checkShapePair(t, a)
			s := zooSession(t, a.Model)
			in1, params := zooInputs(t, a, a.ShapeA, 1)
			start := time.Now()
			out1 := zooRun(t, s, in1)
			t.Logf("ShapeA run: %v (first run, 2 threads)", time.Since(start))
			checkZooOutputs(t, a.Model, params, out1)
			in2, _ := zooInputs(t, a, a.ShapeA, 2)
			out2 := zooRun(t, s, in2)
			for name, x := range out1 {
				if slices.Equal(floats(x), floats(out2[name])) {
					t.Errorf("output %q is the same for two different inputs", name)
				}
			}
			inB, paramsB := zooInputs(t, a, a.ShapeB, 3)
			checkZooOutputs(t, a.Model, paramsB, zooRun(t, s, inB))
		})
	}
}

// checkShapePair checks that ShapeA and ShapeB differ in every dynamic dim
// and leave out only scalars.
func checkShapePair(t *testing.T, a Arch) {
	t.Helper()
	for _, name := range feedNames(a.Model) {
		sizes, _ := dimsOf(inputInfo(a.Model, name))
		if len(sizes) == 0 {
			continue
		}
		sa, sb := a.ShapeA[name], a.ShapeB[name]
		if len(sa) != len(sizes) || len(sb) != len(sizes) {
			t.Fatalf("input %q: ShapeA %v, ShapeB %v for rank %d", name, sa, sb, len(sizes))
		}
		for i, d := range sizes {
			if d < 0 && sa[i] == sb[i] {
				t.Errorf("input %q: dynamic axis %d is %d in both ShapeA and ShapeB", name, i, sa[i])
			}
		}
	}
	if len(a.ShapeA) != len(a.ShapeB) {
		t.Errorf("ShapeA names %d inputs, ShapeB %d", len(a.ShapeA), len(a.ShapeB))
	}
}

// Softmax and Sigmoid outputs must be informative: not one-hot, not
// saturated, so that comparisons between models mean something.
func TestZooProbabilitiesAreNotSaturated(t *testing.T) {
	probs := map[string]struct {
		output  string
		softmax bool // else sigmoid
	}{
		"crnn":  {"probs", true},
		"dbnet": {"maps", false},
		"vad":   {"output", false},
	}
	for _, a := range Zoo() {
		p, ok := probs[a.Name]
		if !ok {
			continue
		}
		t.Run(a.Name, func(t *testing.T) {
			in, _ := zooInputs(t, a, a.ShapeB, 4)
			x := zooRun(t, zooSession(t, a.Model), in)[p.output]
			v := floats(x)
			if p.softmax {
				classes := int(x.Shape()[len(x.Shape())-1])
				var sumMax float64
				for row := 0; row < len(v); row += classes {
					sumMax += float64(slices.Max(v[row : row+classes]))
				}
				if mean := sumMax / float64(len(v)/classes); mean > 0.9 || mean < 2.0/float64(classes) {
					t.Errorf("%s: mean top probability %.3f; want between 2/classes and 0.9", p.output, mean)
				}
				return
			}
			mid := 0
			for _, s := range v {
				if s > 0.05 && s < 0.95 {
					mid++
				}
			}
			if mid < len(v)/2 {
				t.Errorf("%s: only %d of %d sigmoid values in (0.05, 0.95)", p.output, mid, len(v))
			}
		})
	}
}

// zooArch returns the architecture named name.
func zooArch(t *testing.T, name string) Arch {
	t.Helper()
	for _, a := range Zoo() {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no architecture %q in the zoo", name)
	return Arch{}
}

// opCounts counts the nodes of each type in g and its subgraphs.
func opCounts(g *onnxpb.GraphProto) map[string]int {
	counts := map[string]int{}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.Node {
			counts[n.OpType]++
			for _, a := range n.Attribute {
				if a.G != nil {
					walk(a.G)
				}
			}
		}
	}
	walk(g)
	return counts
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func unnamedNodes(g *onnxpb.GraphProto) int {
	n := 0
	for _, node := range g.Node {
		if node.Name == "" {
			n++
		}
	}
	return n
}

// Each architecture carries the exporter idioms it claims.
func TestZooIdioms(t *testing.T) {
	opset := func(t *testing.T, m *onnxpb.ModelProto, want int64) {
		t.Helper()
		if got := m.OpsetImport[0].Version; got != want {
			t.Errorf("opset %d, want %d", got, want)
		}
	}
	needOps := func(t *testing.T, m *onnxpb.ModelProto, ops ...string) {
		t.Helper()
		counts := opCounts(m.Graph)
		for _, op := range ops {
			if counts[op] == 0 {
				t.Errorf("no %s node", op)
			}
		}
	}
	checks := map[string]func(t *testing.T, m *onnxpb.ModelProto){
		"mobilenetv3": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 11)
			needOps(t, m, "HardSigmoid", "Clip", "GlobalAveragePool", "BatchNormalization", "Gemm", "Reshape")
			depthwise, clip3 := 0, 0
			for _, n := range m.Graph.Node {
				if g := attr(n, "group"); n.OpType == "Conv" && g != nil && g.I > 1 {
					depthwise++
				}
				if n.OpType == "Clip" && len(n.Input) == 3 {
					clip3++
				}
			}
			if depthwise == 0 || clip3 == 0 {
				t.Errorf("%d depthwise Convs and %d Clips with min/max inputs; want some of each", depthwise, clip3)
			}
			if u := unnamedNodes(m.Graph); u == 0 || u == len(m.Graph.Node) {
				t.Errorf("%d of %d nodes unnamed; want some", u, len(m.Graph.Node))
			}
		},
		"resnet": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 9)
			if m.IrVersion != 4 {
				t.Errorf("IR %d, want 4", m.IrVersion)
			}
			needOps(t, m, "Conv", "BatchNormalization", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm")
			if u := unnamedNodes(m.Graph); u != len(m.Graph.Node) {
				t.Errorf("%d of %d nodes unnamed; want all", u, len(m.Graph.Node))
			}
			if opCounts(m.Graph)["Constant"] != 0 {
				t.Error("Constant nodes; weights should be initializers")
			}
		},
		"dbnet": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 11)
			needOps(t, m, "Resize", "ConvTranspose", "Concat", "Sigmoid")
			for _, n := range m.Graph.Node {
				if n.OpType == "Resize" && len(n.Input) != 3 {
					t.Errorf("Resize with inputs %v; want X, roi, scales", n.Input)
				}
			}
		},
		"crnn": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 11)
			needOps(t, m, "Constant", "LSTM", "Squeeze", "Transpose", "Softmax")
			if n := len(m.Graph.Initializer); n != 0 {
				t.Errorf("%d initializers; want weights in Constant nodes only", n)
			}
			asymmetric := false
			for _, n := range m.Graph.Node {
				if n.OpType == "LSTM" && string(attr(n, "direction").GetS()) != "bidirectional" {
					t.Errorf("LSTM direction %q", attr(n, "direction").GetS())
				}
				if s := attr(n, "strides"); n.OpType == "MaxPool" && slices.Equal(s.GetInts(), []int64{2, 1}) {
					asymmetric = true
				}
			}
			if !asymmetric {
				t.Error("no MaxPool with strides (2, 1)")
			}
		},
		"encoder": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 13)
			needOps(t, m, "Gather", "Slice", "ReduceMean", "Pow", "Sqrt", "Erf", "Softmax", "Cast")
			if opCounts(m.Graph)["LayerNormalization"] != 0 {
				t.Error("LayerNormalization at opset 13; want it decomposed")
			}
			for _, in := range m.Graph.Input {
				_, params := dimsOf(in)
				if !slices.Equal(params, []string{"batch", "sequence"}) || in.Type.GetTensorType().ElemType != int32(tensor.Int64) {
					t.Errorf("input %q: dims %v, type %d; want int64 [batch, sequence]", in.Name, params, in.Type.GetTensorType().ElemType)
				}
			}
			if opCounts(Encoder(EncoderConfig{Opset: 17}).Graph)["LayerNormalization"] == 0 {
				t.Error("opset 17 variant has no LayerNormalization")
			}
		},
		"vad": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 16)
			needOps(t, m, "If", "LSTM", "Equal", "Concat", "Sigmoid")
			_, audio := dimsOf(inputInfo(m, "input"))
			_, state := dimsOf(inputInfo(m, "state"))
			if len(state) != 3 || state[1] == "" || state[1] != audio[0] {
				t.Errorf("state dims %v, input dims %v; want the state's axis 1 to be the input's batch dim_param", state, audio)
			}
			sr := inputInfo(m, "sr")
			if sizes, _ := dimsOf(sr); sr == nil || len(sizes) != 0 || sr.Type.GetTensorType().ElemType != int32(tensor.Int64) {
				t.Error("no rank-0 int64 input sr")
			}
		},
		"ifbody": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 13)
			counts := opCounts(m.Graph)
			if counts["If"] != 1 || counts["MatMul"] == 0 {
				t.Errorf("%d If and %d MatMul nodes", counts["If"], counts["MatMul"])
			}
			for _, n := range m.Graph.Node {
				if n.OpType == "MatMul" {
					t.Error("a MatMul outside the If")
				}
				for _, a := range n.Attribute {
					if a.G != nil && (len(a.G.Initializer) != 0 || opCounts(a.G)["Constant"] != 0) {
						t.Errorf("branch %s holds its own weights; want outer-graph initializers", a.Name)
					}
				}
			}
		},
		"mlp_fixed": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 13)
			for _, vi := range append(slices.Clone(m.Graph.Input), m.Graph.Output...) {
				if sizes, _ := dimsOf(vi); slices.Contains(sizes, -1) {
					t.Errorf("%q has a dynamic dim", vi.Name)
				}
			}
		},
		"mlp_torch": func(t *testing.T, m *onnxpb.ModelProto) {
			opset(t, m, 13)
			if u := unnamedNodes(m.Graph); u != len(m.Graph.Node) {
				t.Errorf("%d of %d nodes unnamed; want all", u, len(m.Graph.Node))
			}
			last := m.Graph.Node[len(m.Graph.Node)-1]
			if last.OpType != "Identity" || last.Output[0] != "y" {
				t.Errorf("last node %s → %v; want Identity → y", last.OpType, last.Output)
			}
			if !strings.HasPrefix(m.Graph.Initializer[0].Name, "onnx::MatMul_") || m.Graph.Node[1].Output[0] != "/fc1/Add_output_0" {
				t.Errorf("names %q, %q; want PyTorch's", m.Graph.Initializer[0].Name, m.Graph.Node[1].Output[0])
			}
		},
	}
	for _, a := range Zoo() {
		t.Run(a.Name, func(t *testing.T) {
			check, ok := checks[a.Name]
			if !ok {
				t.Fatal("no idiom check")
			}
			if a.Name != "mlp_fixed" && !hasDimParam(a.Model) {
				t.Error("no dim_param on any input")
			}
			if len(a.Idioms) == 0 {
				t.Error("no idioms listed")
			}
			check(t, a.Model)
		})
	}
}

func hasDimParam(m *onnxpb.ModelProto) bool {
	for _, in := range m.Graph.Input {
		if _, params := dimsOf(in); slices.ContainsFunc(params, func(p string) bool { return p != "" }) {
			return true
		}
	}
	return false
}

// Silero switches weights on the sample rate: both rates must run, and
// differ only in the probability, not in the new state.
func TestVADSampleRates(t *testing.T) {
	a := zooArch(t, "vad")
	s := zooSession(t, a.Model)
	in, _ := zooInputs(t, a, a.ShapeB, 5)
	got16 := zooRun(t, s, in)
	in["sr"] = scalarTensor(t, tensor.Int64, 8000)
	got8 := zooRun(t, s, in)
	if slices.Equal(floats(got16["output"]), floats(got8["output"])) {
		t.Error("sr 16000 and 8000 give the same output; the If should pick different weights")
	}
	if !slices.Equal(floats(got16["stateN"]), floats(got8["stateN"])) {
		t.Error("the sample rate changed the new state; only the decoder depends on it")
	}
}

// branchModel returns one branch of m's If as a model of its own: the
// branch's nodes over the outer graph's inputs and initializers.
func branchModel(t *testing.T, m *onnxpb.ModelProto, branch string) *onnxpb.ModelProto {
	t.Helper()
	for _, n := range m.Graph.Node {
		if a := attr(n, branch); n.OpType == "If" && a != nil {
			g := proto.Clone(m.Graph).(*onnxpb.GraphProto)
			// The branch's output becomes the model's, under its name.
			g.Node = append(slices.Clone(a.G.Node), &onnxpb.NodeProto{
				OpType: "Identity", Input: []string{a.G.Output[0].Name}, Output: []string{g.Output[0].Name}})
			return &onnxpb.ModelProto{IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, Graph: g}
		}
	}
	t.Fatalf("no If with a %s", branch)
	return nil
}

// The If's condition depends on the data: inputs summing above zero take
// the then-branch, others the else-branch.
func TestIfBodyTakesBothBranches(t *testing.T) {
	a := zooArch(t, "ifbody")
	s := zooSession(t, a.Model)
	then := zooSession(t, branchModel(t, a.Model, "then_branch"))
	els := zooSession(t, branchModel(t, a.Model, "else_branch"))
	in, _ := zooInputs(t, a, a.ShapeB, 6)
	shape := in["x.1"].Shape()
	cases := []struct {
		sign   float64
		branch string
		s      *ort.Session
	}{{1, "then", then}, {-1, "else", els}}
	for _, c := range cases {
		x := slices.Clone(floats(in["x.1"]))
		for i, v := range x {
			x[i] = float32(c.sign * math.Abs(float64(v)))
		}
		feed := map[string]*tensor.Tensor{"x.1": tensor.MustNew(shape, x)}
		got := floats(zooRun(t, s, feed)["output_0"])
		want := floats(zooRun(t, c.s, feed)["output_0"])
		if !slices.Equal(got, want) {
			t.Errorf("input of sign %v: output %v, want the %s-branch's %v", c.sign, got, c.branch, want)
		}
	}
}

// The decomposed LayerNorm of opset 13 must compute what the opset-17
// LayerNormalization does, with the same weights.
func TestEncoderLayerNormSpellingsAgree(t *testing.T) {
	a13 := zooArch(t, "encoder")
	m17 := Encoder(EncoderConfig{Opset: 17})
	in, _ := zooInputs(t, a13, a13.ShapeB, 7)
	x := floats(zooRun(t, zooSession(t, a13.Model), in)["last_hidden_state"])
	y := floats(zooRun(t, zooSession(t, m17), in)["last_hidden_state"])
	for i := range x {
		if d := math.Abs(float64(x[i] - y[i])); d > 1e-3 {
			t.Fatalf("last_hidden_state[%d]: opset 13 %v, opset 17 %v", i, x[i], y[i])
		}
	}
}

func TestZooIsDeterministic(t *testing.T) {
	first, second := Zoo(), Zoo()
	for i := range first {
		a, err := Marshal(first[i].Model)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(second[i].Model)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", first[i].Name)
		}
	}
}

// Config fields other than the defaults build models that run.
func TestZooConfigVariants(t *testing.T) {
	cases := []Arch{
		{Name: "mobilenetv3_softmax", Model: MobileNetV3(MobileNetV3Config{Width: 0.5, Classes: 5, Softmax: true, Seed: 3}),
			ShapeA: map[string][]int64{"x": {2, 3, 64, 64}}},
		{Name: "resnet_two_stages", Model: ResNet(ResNetConfig{Widths: []int64{8, 16}, Blocks: []int{2, 1}, Classes: 4}),
			ShapeA: map[string][]int64{"input": {1, 3, 48, 64}}},
		{Name: "encoder_opset18", Model: Encoder(EncoderConfig{Layers: 1, D: 32, Heads: 2, Vocab: 50, MaxPositions: 16, Opset: 18}),
			ShapeA: map[string][]int64{"input_ids": {2, 16}, "attention_mask": {2, 16}}},
		{Name: "crnn_wide", Model: CRNN(CRNNConfig{Channels: []int64{8, 8, 16, 16}, Hidden: 8, Classes: 5}),
			ShapeA: map[string][]int64{"x": {1, 3, 48, 100}}},
		{Name: "vad_small", Model: VAD(VADConfig{Features: 8, Hidden: 4}), Values: map[string]float64{"sr": 8000},
			ShapeA: map[string][]int64{"input": {3, 128}, "state": {2, 3, 4}}},
	}
	for _, a := range cases {
		t.Run(a.Name, func(t *testing.T) {
			if err := graph.Validate(a.Model); err != nil {
				t.Fatal(err)
			}
			in, params := zooInputs(t, a, a.ShapeA, 10)
			checkZooOutputs(t, a.Model, params, zooRun(t, zooSession(t, a.Model), in))
		})
	}
}

// runsAtBenchmarkSize lists the benchmark-size architectures that run at
// ShapeA (session creation included) well under a second on two cores;
// the others (dbnet at 640×640: about 0.8 s) are only validated, to keep
// the package's tests fast.
var runsAtBenchmarkSize = map[string]bool{
	"mobilenetv3": true, "resnet": true, "crnn": true, "encoder": true,
	"vad": true, "ifbody": true, "mlp_fixed": true, "mlp_torch": true,
}

func TestZooBenchmarkSizes(t *testing.T) {
	for _, a := range ZooBenchmark() {
		t.Run(a.Name, func(t *testing.T) {
			if err := graph.Validate(a.Model); err != nil {
				t.Fatal(err)
			}
			checkShapePair(t, a)
			if !runsAtBenchmarkSize[a.Name] {
				t.Skip("slow at benchmark size; validated only")
			}
			in, params := zooInputs(t, a, a.ShapeA, 8)
			start := time.Now()
			out := zooRun(t, zooSession(t, a.Model), in)
			t.Logf("ShapeA run: %v (with session creation)", time.Since(start))
			checkZooOutputs(t, a.Model, params, out)
		})
	}
}
