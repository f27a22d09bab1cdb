package quantize

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
)

// Models as PyTorch's exporter writes them (issue 12, item 5): nodes
// without names, values named "/fc1/MatMul_output_0" and
// "onnx::MatMul_42", and an Identity between the last layer and the graph
// output.

// exportedMinSQNR is the least SQNR, in dB, each output of a quantized
// exported MLP keeps against the float model, at every batch size.
const exportedMinSQNR = 25

// exportedLayers is the number of MatMul layers of torchMLPModel.
const exportedLayers = 5

// calibrationBatch is the batch size quantization calibrates and
// validates with; outputs are then compared at other sizes.
const calibrationBatch = 8

// How torchMLP names nodes.
const (
	unnamed   = ""      // PyTorch's exporter: no names
	torchName = "torch" // the names PyTorch's scope tracing gives ("/fc1/MatMul")
	sameName  = "same"  // one name for every node, as merged graphs have
)

// torchMLP describes a model torchMLPModel builds.
type torchMLP struct {
	names      string
	identities int  // Identity nodes between the logits and output "y"; 0: the last Add writes "y"
	hidden     bool // a second output "hidden": Identity of the second Relu's output
	shared     bool // the second Relu's output and the logits are also graph outputs ("features", "logits")
	inputCopy  bool // a second output "x_copy": Identity of the input
}

// torchMLPModel returns an opset-13 classifier: input "x" [batch, 256] →
// 4 × (MatMul with a constant W[in, out] → Add bias → Relu) → MatMul → Add
// to 10 classes → output "y" [batch, 10], shaped by v.
func torchMLPModel(v torchMLP) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("torch_mlp", 13)
	r := testmodels.NewRand(11)
	x := b.Input("x", tensor.Float32, "batch", 256)
	widths := []int64{256, 256, 128, 128, 64, 10}
	node := func(op, name string, in []string, out string) {
		b.Node(op, in, []string{out}).Name = name
	}
	h := x
	for k := 1; k <= exportedLayers; k++ {
		in, out := widths[k-1], widths[k]
		w := b.Initializer(fmt.Sprintf("onnx::MatMul_%d", 40+k), []int64{in, out}, r.He([]int64{in, out}, in))
		bias := b.Initializer(fmt.Sprintf("fc%d.bias", k), []int64{out}, r.Normal([]int64{out}, 0.01))
		mm := fmt.Sprintf("/fc%d/MatMul_output_0", k)
		node("MatMul", fmt.Sprintf("/fc%d/MatMul", k), []string{h, w}, mm)
		h = fmt.Sprintf("/fc%d/Add_output_0", k)
		last := k == exportedLayers
		switch {
		case last && v.identities == 0:
			h = "y"
		case last && v.shared:
			h = "logits"
		}
		// PyTorch adds the bias first.
		node("Add", fmt.Sprintf("/fc%d/Add", k), []string{bias, mm}, h)
		if last {
			break
		}
		relu := fmt.Sprintf("/relu%d/Relu_output_0", k)
		if k == 2 && v.shared {
			relu = "features"
		}
		node("Relu", fmt.Sprintf("/relu%d/Relu", k), []string{h}, relu)
		h = relu
	}
	for i := range v.identities {
		out := fmt.Sprintf("/Identity_%d_output_0", i)
		if i == v.identities-1 {
			out = "y"
		}
		node("Identity", fmt.Sprintf("/Identity_%d", i), []string{h}, out)
		h = out
	}
	b.Output("y", tensor.Float32, "batch", widths[exportedLayers])
	if v.hidden {
		node("Identity", "/Identity_hidden", []string{"/relu2/Relu_output_0"}, "hidden")
		b.Output("hidden", tensor.Float32, "batch", widths[2])
	}
	if v.shared {
		b.Output("features", tensor.Float32, "batch", widths[2])
		b.Output("logits", tensor.Float32, "batch", widths[exportedLayers])
	}
	if v.inputCopy {
		node("Identity", "/Identity_input", []string{x}, "x_copy")
		b.Output("x_copy", tensor.Float32, "batch", widths[0])
	}
	m := b.Model()
	for _, n := range m.Graph.Node {
		switch v.names {
		case unnamed:
			n.Name = ""
		case sameName:
			n.Name = "node"
		}
	}
	return m
}

var exporterCases = []struct {
	name string
	v    torchMLP
	// floatOnX86 counts the layers ONNX Runtime leaves float on x86 with
	// int8 activations: those writing or reading a quantized value that
	// is also a graph output or read by another node (see
	// TestQuantizeExporterIdioms).
	floatOnX86 int
}{
	{"unnamed", torchMLP{identities: 1}, 0},
	{"named", torchMLP{identities: 1, names: torchName}, 0},
	{"no identity", torchMLP{}, 0},
	{"identity of a hidden value as a second output", torchMLP{identities: 1, hidden: true}, 2},
	{"identity chain", torchMLP{identities: 2}, 0},
	{"outputs read by other nodes", torchMLP{identities: 1, shared: true}, 3},
	{"identity of the input as an output", torchMLP{identities: 1, inputCopy: true}, 0},
	{"one name for every node", torchMLP{identities: 1, names: sameName}, 0},
}

// int8Kernels are the ONNX Runtime ops that run a quantized MatMul or Gemm
// in integers; floatMatMuls those that run one in float.
var (
	int8Kernels  = []string{"QGemm", "QLinearMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}
	floatMatMuls = []string{"Gemm", "MatMul", "FusedGemm", "FusedMatMul"}
)

// Each exporter idiom quantizes, statically and dynamically, to a valid
// model whose every MatMul runs as an int8 kernel in ONNX Runtime and whose
// every output stays close to the float model's at batch sizes other than
// the calibration batch.
//
// Except, with int8 activations on x86, next to a quantized value with
// several readers (a graph output among them): ONNX Runtime gives each
// reader its own DequantizeLinear (EnsureUniqueDQForNodeUnit), and then no
// longer converts the QuantizeLinear, now read twice, to the uint8 its x86
// integer kernels take (QDQS8ToU8Transformer), so the layers writing and
// reading that value stay float. uint8 activations need no conversion and
// fuse everywhere.
func TestQuantizeExporterIdioms(t *testing.T) {
	testutil.InitORT(t)
	runs := []struct {
		mode Mode
		act  tensor.DType
	}{{Static, tensor.Int8}, {Static, tensor.Uint8}, {Dynamic, tensor.Int8}}
	for _, c := range exporterCases {
		for _, r := range runs {
			name := fmt.Sprintf("%s/%s", c.name, r.mode)
			if r.mode == Static {
				name += " " + r.act.String()
			}
			t.Run(name, func(t *testing.T) {
				m := torchMLPModel(c.v)
				o := exportedOptions(t, m, r.mode)
				o.Plan.ActivationType = r.act
				res, err := Quantize(m, o)
				if err != nil {
					t.Fatal(err)
				}
				if err := graph.Validate(res.Model); err != nil {
					t.Fatal(err)
				}
				names := map[string]bool{}
				layers := 0
				for _, d := range res.Nodes {
					if d.Name == "" || names[d.Name] {
						t.Errorf("decision for a %s node has an empty or repeated name %q", d.OpType, d.Name)
					}
					names[d.Name] = true
					if d.OpType == "MatMul" || d.OpType == "Gemm" {
						if !d.Quantized {
							t.Errorf("%s %s stayed float: %s", d.OpType, d.Name, d.Reason)
						}
						layers++
					}
				}
				if layers != exportedLayers {
					t.Errorf("%d MatMul/Gemm decisions, want %d", layers, exportedLayers)
				}
				ref := m
				if c.v.names == sameName {
					// ONNX Runtime refuses a model whose nodes repeat a name;
					// Quantize validated against the pre-processed model.
					ref = res.Float
				}
				for _, batch := range []int{1, 3} {
					compareOutputs(t, ref, res.Model, batch)
				}
				ops := optimizedOps(t, res.Model)
				int8, float := 0, 0
				for _, op := range int8Kernels {
					int8 += ops[op]
				}
				for _, op := range floatMatMuls {
					float += ops[op]
				}
				want := exportedLayers
				if r.mode == Static && r.act == tensor.Int8 {
					want -= c.floatOnX86
				}
				if int8 < want || int8+float != exportedLayers {
					t.Errorf("%d int8 and %d float MatMul kernels after ONNX Runtime's optimizations, want %d int8 of %d (ops %v)",
						int8, float, want, exportedLayers, ops)
				}
			})
		}
	}
}

func exportedOptions(t *testing.T, m *onnxpb.ModelProto, mode Mode) Options {
	o := Options{Mode: mode, NoLatencySearch: true, Plan: PlanOptions{PerChannel: true}, LatencyRuns: 1,
		Eval: open(t, "random", m, dataset.Options{RandomSamples: calibrationBatch, BatchSize: calibrationBatch, Seed: 2})}
	if mode == Static {
		o.Calibration = open(t, "random", m, dataset.Options{RandomSamples: 2 * calibrationBatch, BatchSize: calibrationBatch, Seed: 1})
	}
	return o
}

// compareOutputs runs ref and q on one random batch of the given size and
// checks that every output of ref is in q, of the same shape, within
// exportedMinSQNR.
func compareOutputs(t *testing.T, ref, q *onnxpb.ModelProto, batch int) {
	t.Helper()
	in := batchOf(t, ref, batch)
	want, got := runModel(t, ref, in), runModel(t, q, in)
	for _, o := range ref.Graph.Output {
		w, g := want[o.Name], got[o.Name]
		if g == nil {
			t.Errorf("batch %d: quantized model has no output %q", batch, o.Name)
			continue
		}
		if !slices.Equal(w.Shape(), g.Shape()) {
			t.Errorf("batch %d: output %q has shape %v, float %v", batch, o.Name, g.Shape(), w.Shape())
			continue
		}
		wv, gv := tensor.Values[float32](w), tensor.Values[float32](g)
		var signal, noise float64
		for i := range wv {
			d := float64(wv[i]) - float64(gv[i])
			signal += float64(wv[i]) * float64(wv[i])
			noise += d * d
		}
		if s := eval.SQNR(signal, noise); s < exportedMinSQNR {
			t.Errorf("batch %d: output %q SQNR %.1f dB, want ≥ %d", batch, o.Name, s, exportedMinSQNR)
		}
	}
}

func batchOf(t *testing.T, m *onnxpb.ModelProto, batch int) map[string]*tensor.Tensor {
	t.Helper()
	b, err := open(t, "random", m, dataset.Options{RandomSamples: batch, BatchSize: batch, Seed: 5}).Next()
	if err != nil {
		t.Fatal(err)
	}
	return b.Inputs
}

func runModel(t *testing.T, m *onnxpb.ModelProto, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The plan, its application and dynamic quantization track nodes by the
// values they write: a pre-processed model whose nodes lost their names, or
// all share one, quantizes to exactly what the named model does.
func TestQuantizationIgnoresNodeNames(t *testing.T) {
	testutil.InitORT(t)
	named, _, err := Prepare(torchMLPModel(torchMLP{identities: 1, hidden: true}), Static)
	if err != nil {
		t.Fatal(err)
	}
	p, err := BuildPlan(named, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.folded) == 0 {
		t.Fatal("no Relu folded: the case this test is about")
	}
	o := exportedOptions(t, named, Static)
	stats, err := calibrate(named, p.Calibrate(), o)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := stats.Ranges(o.Calib)
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string][2]float64{}
	for k, v := range cr {
		ranges[k] = [2]float64{float64(v.Min), float64(v.Max)}
	}
	quantize := func(m *onnxpb.ModelProto, mode Mode) *onnxpb.ModelProto {
		t.Helper()
		q := proto.Clone(m).(*onnxpb.ModelProto)
		if mode == Dynamic {
			if _, _, err := ApplyDynamic(q, PlanOptions{PerChannel: true}); err != nil {
				t.Fatal(err)
			}
		} else {
			p, err := BuildPlan(q, PlanOptions{PerChannel: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Apply(q, p, ranges); err != nil {
				t.Fatal(err)
			}
		}
		if err := graph.Validate(q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	in := batchOf(t, named, 3)
	for _, mode := range []Mode{Static, Dynamic} {
		want := runModel(t, quantize(named, mode), in)
		for _, name := range []string{"", "node"} {
			renamed := proto.Clone(named).(*onnxpb.ModelProto)
			for _, n := range renamed.Graph.Node {
				n.Name = name
			}
			q := quantize(renamed, mode)
			if name != "" {
				// ONNX Runtime refuses repeated node names; what is checked
				// here is the graph, not the names.
				for _, n := range q.Graph.Node {
					n.Name = ""
				}
			}
			got := runModel(t, q, in)
			for out, w := range want {
				if !slices.Equal(tensor.Values[float32](w), tensor.Values[float32](got[out])) {
					t.Errorf("%s, every node named %q: output %q differs from the named model's", mode, name, out)
				}
			}
		}
	}
}

// MaxPool moves before the Relu of the float first convolution only, also
// when the convolutions have no names.
func TestPoolBeforeReluUnnamed(t *testing.T) {
	testutil.InitORT(t)
	// 64×64 makes the 3-channel first convolution stay float; the second
	// is quantized.
	f, _, err := Prepare(testmodels.CNN(testmodels.CNNConfig{InputSize: 64}), Static)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Graph.Node {
		n.Name = ""
	}
	p, err := BuildPlan(f, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := poolBeforeRelu(f, p); n != 1 {
		t.Fatalf("swapped %d Relu/MaxPool pairs, want 1", n)
	}
}

// Pre-processing names the unnamed nodes after their outputs and renames
// repeated names, the same way on every run.
func TestPrepareNamesNodes(t *testing.T) {
	testutil.InitORT(t)
	for _, c := range []struct {
		names string
		note  string
		want  map[string]bool // some expected names
	}{
		// A Gemm keeps the name of the MatMul it was fused from.
		{unnamed, "named 15 unnamed nodes after their outputs",
			map[string]bool{"/relu1/Relu_output_0": true, "y": true, "/fc5/MatMul_output_0": true}},
		{sameName, "renamed 14 nodes whose names repeated an earlier node's",
			map[string]bool{"node": true, "node_14": true}},
	} {
		m := torchMLPModel(torchMLP{identities: 1, names: c.names})
		f, notes, err := Prepare(m, Static)
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := Prepare(m, Static)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(notes, c.note) {
			t.Errorf("notes %q lack %q", notes, c.note)
		}
		seen := map[string]bool{}
		for i, n := range f.Graph.Node {
			if n.Name == "" || seen[n.Name] {
				t.Errorf("%s node %d has an empty or repeated name %q", n.OpType, i, n.Name)
			}
			seen[n.Name] = true
			if again.Graph.Node[i].Name != n.Name {
				t.Errorf("node %d is %q on one run, %q on another", i, n.Name, again.Graph.Node[i].Name)
			}
		}
		for name := range c.want {
			if !seen[name] {
				t.Errorf("no node named %q among %v", name, keys(seen))
			}
		}
	}
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// The accuracy-aware search keeps nodes of an unnamed export float by the
// names pre-processing gave them.
func TestAccuracySearchUnnamedNodes(t *testing.T) {
	testutil.InitORT(t)
	m := torchMLPModel(torchMLP{identities: 1})
	o := exportedOptions(t, m, Static)
	o.Gate.MinSQNR = validate.Limit(200) // only float meets it
	res, err := Quantize(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.KeptFloat) == 0 {
		t.Fatalf("nothing kept float (summary %q)", res.GateSummary)
	}
	kept := map[string]bool{}
	for _, k := range res.KeptFloat {
		if k.Node == "" || kept[k.Node] {
			t.Errorf("kept-float entry with an empty or repeated name: %+v", k)
		}
		kept[k.Node] = true
	}
	for _, d := range res.Nodes {
		if kept[d.Name] && d.Quantized {
			t.Errorf("%s %s was kept float by the search but is reported quantized", d.OpType, d.Name)
		}
	}
	if err := graph.Validate(res.Model); err != nil {
		t.Fatal(err)
	}
}
