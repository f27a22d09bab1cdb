package half

import (
	"math"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

type namedModel struct {
	name  string
	model *onnxpb.ModelProto
}

// mainModels are the test models the size and accuracy targets are for.
func mainModels() []namedModel {
	return []namedModel{
		{"cnn", testmodels.CNN(testmodels.CNNConfig{})},
		{"transformer", testmodels.Transformer(testmodels.TransformerConfig{})},
	}
}

// TestFloat16Models converts the CNN and the Transformer after prep and
// checks size, interface, structure and closeness to float32 in ORT.
func TestFloat16Models(t *testing.T) {
	for _, tc := range mainModels() {
		t.Run(tc.name, func(t *testing.T) {
			ref := prepped(t, tc.model)
			got, res := convert(t, ref, DefaultOptions(tensor.Float16))

			ratio := float64(proto.Size(got)) / float64(proto.Size(ref))
			t.Logf("size %d → %d bytes (ratio %.4f); %+v", proto.Size(ref), proto.Size(got), ratio, *res)
			if ratio < 0.50 || ratio > 0.52 {
				t.Errorf("size ratio %.4f, want 0.50–0.52", ratio)
			}
			if n := initializerTypes(got)[tensor.Float32]; n != 0 {
				t.Errorf("%d float32 initializers left", n)
			}
			if res.Converted == 0 || res.Converted != initializerTypes(got)[tensor.Float16] {
				t.Errorf("Converted = %d, float16 initializers = %d", res.Converted, initializerTypes(got)[tensor.Float16])
			}
			// Interface unchanged; exactly one Cast at each boundary.
			for _, v := range append(got.Graph.Input, got.Graph.Output...) {
				if elemOf(v) != tensor.Float32 {
					t.Errorf("interface value %q is %s, want float32", v.GetName(), elemOf(v))
				}
			}
			if res.CastsAdded != 2 || countOps(got)["Cast"] != 2 {
				t.Errorf("CastsAdded = %d, Cast nodes = %d; want 2 (input, output)", res.CastsAdded, countOps(got)["Cast"])
			}
			checkNoCastPairs(t, got)
			// prep's value_info now says float16 for every float value.
			if len(ref.Graph.ValueInfo) == 0 {
				t.Fatal("prep recorded no value_info")
			}
			for _, v := range got.Graph.ValueInfo {
				if elemOf(v) == tensor.Float32 {
					t.Errorf("value_info %q still float32", v.GetName())
				}
			}

			feeds := randomFeeds(t, ref, 1)
			db := sqnr(t, run(t, ref, feeds), run(t, got, feeds))
			t.Logf("SQNR %.1f dB", db)
			if db < minSQNRFloat16 {
				t.Errorf("SQNR %.1f dB, want ≥ %.0f", db, minSQNRFloat16)
			}
		})
	}
}

// TestBFloat16CPU converts to bfloat16 with the operators ORT's CPU
// provider lacks blocked, and runs the result.
func TestBFloat16CPU(t *testing.T) {
	for _, tc := range mainModels() {
		t.Run(tc.name, func(t *testing.T) {
			ref := prepped(t, tc.model)
			opts := DefaultOptions(tensor.BFloat16Type)
			opts.BlockOps = CPUBlockOps(ref, tensor.BFloat16Type)
			got, res := convert(t, ref, opts)
			t.Logf("blocked ops %v; size ratio %.3f; %+v", opts.BlockOps, float64(proto.Size(got))/float64(proto.Size(ref)), *res)
			checkNoCastPairs(t, got)
			feeds := randomFeeds(t, ref, 2)
			db := sqnr(t, run(t, ref, feeds), run(t, got, feeds))
			t.Logf("SQNR %.1f dB", db)
			if db < minSQNRBFloat16 {
				t.Errorf("SQNR %.1f dB, want ≥ %.0f", db, minSQNRBFloat16)
			}
		})
	}
	t.Run("unblocked fails on CPU", func(t *testing.T) {
		// What CPUBlockOps is for: without it ORT refuses the model.
		ref := prepped(t, testmodels.CNN(testmodels.CNNConfig{}))
		got, _ := convert(t, ref, DefaultOptions(tensor.BFloat16Type))
		if err := sessionErr(got); err == nil {
			t.Error("ONNX Runtime now runs a bfloat16 CNN on CPU: cpuBFloat16Ops is out of date")
		} else if !strings.Contains(err.Error(), "bfloat16") && !strings.Contains(err.Error(), "implementation") {
			t.Errorf("unexpected error: %v", err)
		}
	})
}

// TestHalfInterface converts with KeepIOTypes off: inputs and outputs take
// the half type and no Cast is added.
func TestHalfInterface(t *testing.T) {
	ref := prepped(t, testmodels.CNN(testmodels.CNNConfig{}))
	opts := DefaultOptions(tensor.Float16)
	opts.KeepIOTypes = false
	got, res := convert(t, ref, opts)
	for _, v := range append(got.Graph.Input, got.Graph.Output...) {
		if elemOf(v) != tensor.Float16 {
			t.Errorf("interface value %q is %s, want float16", v.GetName(), elemOf(v))
		}
	}
	if res.CastsAdded != 0 || countOps(got)["Cast"] != 0 {
		t.Errorf("CastsAdded = %d, Cast nodes = %d; want none", res.CastsAdded, countOps(got)["Cast"])
	}
	feeds := randomFeeds(t, ref, 3)
	out := run(t, got, castFeeds(t, feeds, tensor.Float16))
	if d := out["logits"].DType(); d != tensor.Float16 {
		t.Errorf("output is %s, want float16", d)
	}
	if db := sqnr(t, run(t, ref, feeds), out); db < minSQNRFloat16 {
		t.Errorf("SQNR %.1f dB, want ≥ %.0f", db, minSQNRFloat16)
	}
}

// TestClamp puts weights beyond float16's range into an MLP: they are
// clamped to ±65504 and counted, and the model computes finite values.
func TestClamp(t *testing.T) {
	m := testmodels.MLP(testmodels.MLPConfig{})
	var w *onnxpb.TensorProto
	for _, in := range m.Graph.Initializer {
		if in.GetName() == "fc1.bias" {
			w = in
		}
	}
	b, err := tensor.FromProto(w)
	if err != nil {
		t.Fatal(err)
	}
	vals := tensor.Values[float32](b)
	vals[0], vals[1], vals[2] = 1e6, -1e6, float32(math.Inf(-1))
	nw, err := tensor.ToProto(b, w.GetName())
	if err != nil {
		t.Fatal(err)
	}
	setData(w, nw.GetDataType(), nw.GetRawData())

	got, res := convert(t, m, DefaultOptions(tensor.Float16))
	if res.Clamped != 2 {
		t.Errorf("Clamped = %d, want 2 (±1e6; -Inf stays)", res.Clamped)
	}
	if len(res.Notes) == 0 || !strings.Contains(strings.Join(res.Notes, "\n"), `"fc1.bias"`) {
		t.Errorf("notes %q do not name fc1.bias", res.Notes)
	}
	for _, in := range got.Graph.Initializer {
		if in.GetName() != "fc1.bias" {
			continue
		}
		x, err := tensor.FromProto(in)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := tensor.AsFloat64(x)
		if f[0] != 65504 || f[1] != -65504 || !math.IsInf(f[2], -1) {
			t.Errorf("clamped values %v, want 65504, -65504, -Inf", f[:3])
		}
	}
	// Without the -Inf the model computes finite values.
	vals[2] = 0
	nw, _ = tensor.ToProto(b, w.GetName())
	setData(w, nw.GetDataType(), nw.GetRawData())
	got, _ = convert(t, m, DefaultOptions(tensor.Float16))
	out := run(t, got, randomFeeds(t, m, 4))
	f, _ := tensor.AsFloat64(out["logits"])
	for _, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite output %v", f)
		}
	}

	// bfloat16 rounds float32's extreme values to Inf unless clamped.
	vals[0] = math.MaxFloat32
	nw, _ = tensor.ToProto(b, w.GetName())
	setData(w, nw.GetDataType(), nw.GetRawData())
	_, res = convert(t, m, DefaultOptions(tensor.BFloat16Type))
	if res.Clamped != 1 {
		t.Errorf("bf16 Clamped = %d, want 1 (MaxFloat32)", res.Clamped)
	}
}

// TestConstantsAndSubgraphs converts models that keep weights in Constant
// nodes, in the main graph and inside If branches, without prep.
func TestConstantsAndSubgraphs(t *testing.T) {
	testutil.InitORT(t)
	mlp := loadTestdata(t, "mlp_constants.onnx")
	t.Run("mlp_constants", func(t *testing.T) {
		got, res := convert(t, mlp, DefaultOptions(tensor.Float16))
		if res.Converted == 0 {
			t.Fatal("no Constant converted")
		}
		for _, g := range graphs(got.Graph) {
			for _, n := range g.Node {
				if n.GetOpType() == "Constant" && constantType(n) == tFloat {
					t.Errorf("Constant %q still float32", n.GetName())
				}
			}
		}
		feeds := randomFeeds(t, mlp, 5)
		if db := sqnr(t, run(t, mlp, feeds), run(t, got, feeds)); db < minSQNRFloat16 {
			t.Errorf("SQNR %.1f dB", db)
		}
	})
	ifm := testmodels.IfConstantBranches()
	for _, tc := range []struct {
		name string
		opts Options
		dt   tensor.DType
	}{
		{"if fp16", DefaultOptions(tensor.Float16), tensor.Float16},
		{"if fp16 blocked", Options{Type: tensor.Float16, KeepIOTypes: true, BlockNodes: []string{ifNodeName(ifm)}}, tensor.Float16},
		{"if bf16 cpu", Options{Type: tensor.BFloat16Type, KeepIOTypes: true, BlockOps: CPUBlockOps(ifm, tensor.BFloat16Type)}, tensor.BFloat16Type},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res := convert(t, ifm, tc.opts)
			t.Logf("%+v", *res)
			blocked := len(tc.opts.BlockNodes) > 0
			for _, g := range graphs(got.Graph)[1:] {
				for _, n := range g.Node {
					if n.GetOpType() == "Constant" {
						// Weights read only by float32 nodes stay float32.
						want := tc.dt
						if blocked || tc.dt == tensor.BFloat16Type {
							want = tensor.Float32
						}
						if d := tensor.DType(constantType(n)); d != want {
							t.Errorf("branch Constant %q is %s, want %s", n.GetName(), d, want)
						}
					}
				}
			}
			checkNoCastPairs(t, got)
			min := minSQNRFloat16
			if tc.dt == tensor.BFloat16Type {
				min = minSQNRBFloat16
			}
			// Both branches: the sum of the input picks one.
			for seed, sign := range []float32{1, -1} {
				feeds := randomFeeds(t, ifm, uint64(seed))
				x := tensor.Values[float32](feeds["input"])
				for i := range x {
					x[i] = sign * float32(math.Abs(float64(x[i])))
				}
				db := sqnr(t, run(t, ifm, feeds), run(t, got, feeds))
				if blocked && !math.IsInf(db, 1) {
					t.Errorf("branch %v: blocked If not exact (%.1f dB)", sign, db)
				}
				if db < min {
					t.Errorf("branch %v: SQNR %.1f dB", sign, db)
				}
			}
		})
	}
}

func ifNodeName(m *onnxpb.ModelProto) string {
	for _, n := range m.Graph.Node {
		if n.GetOpType() == "If" {
			if n.GetName() == "" {
				n.Name = "the_if"
			}
			return n.GetName()
		}
	}
	return ""
}

// TestRefuse checks the models Convert will not touch, and that it leaves
// them unchanged.
func TestRefuse(t *testing.T) {
	ref := prepped(t, testmodels.MLP(testmodels.MLPConfig{}))
	fp16, _ := convert(t, ref, Options{Type: tensor.Float16})
	bf16, _ := convert(t, ref, Options{Type: tensor.BFloat16Type})

	quant := proto.Clone(ref).(*onnxpb.ModelProto)
	g := quant.Graph
	g.Initializer = append(g.Initializer,
		testmodels.FloatTensor("q.scale", nil, []float32{0.1}))
	g.Node = append([]*onnxpb.NodeProto{
		{OpType: "QuantizeLinear", Name: "q", Input: []string{"input", "q.scale"}, Output: []string{"input_q"}},
		{OpType: "DequantizeLinear", Name: "dq", Input: []string{"input_q", "q.scale"}, Output: []string{"input_dq"}},
	}, g.Node...)
	for _, n := range g.Node[2:] {
		for i, in := range n.Input {
			if in == "input" {
				n.Input[i] = "input_dq"
			}
		}
	}

	for _, tc := range []struct {
		name string
		m    *onnxpb.ModelProto
		opts Options
		want string
	}{
		{"fp16", fp16, DefaultOptions(tensor.Float16), "the model is already fp16"},
		{"bf16", bf16, DefaultOptions(tensor.Float16), "the model is already bf16"},
		{"quantized", quant, DefaultOptions(tensor.Float16), `already quantized: node "q" (QuantizeLinear)`},
		{"bad type", ref, Options{Type: tensor.Float64}, "not float16 or bfloat16"},
		{"invalid", &onnxpb.ModelProto{}, DefaultOptions(tensor.Float16), "invalid model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.m)
			_, err := Convert(tc.m, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if !proto.Equal(before, tc.m) {
				t.Error("the refused model was changed")
			}
		})
	}
}

// TestGraphChecks runs Validate-level checks on every converted model.
func TestGraphChecks(t *testing.T) {
	for _, m := range []*onnxpb.ModelProto{
		testmodels.GRU(testmodels.GRUConfig{}),
		prepped(t, testmodels.Contrib()),
		prepped(t, testmodels.Legacy(9)),
		prepped(t, testmodels.Legacy(7)),
	} {
		t.Run(m.Graph.GetName(), func(t *testing.T) {
			got, res := convert(t, m, DefaultOptions(tensor.Float16))
			t.Logf("%+v", *res)
			if err := graph.Validate(got); err != nil {
				t.Fatal(err)
			}
			checkNoCastPairs(t, got)
			feeds := randomFeeds(t, m, 6)
			if db := sqnr(t, run(t, m, feeds), run(t, got, feeds)); db < minSQNRFloat16 {
				t.Errorf("SQNR %.1f dB", db)
			}
		})
	}
}
