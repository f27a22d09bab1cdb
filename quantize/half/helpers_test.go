package half

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// Named tolerances.
const (
	minSQNRFloat16 = 40.0 // dB, fp16 against float32 on random inputs
	// bf16 keeps 8 significant bits (about 48 dB for one rounding); on CPU
	// only data movement and LayerNormalization run in it.
	minSQNRBFloat16 = 25.0
)

// symbolicDims gives dynamic dimensions a size for random inputs.
var symbolicDims = map[string]int64{"N": 2, "S": 8, "T": 4}

func prepped(t *testing.T, m *onnxpb.ModelProto) *onnxpb.ModelProto {
	t.Helper()
	testutil.InitORT(t)
	m = proto.Clone(m).(*onnxpb.ModelProto)
	if _, err := prep.Run(m, prep.DefaultOptions()); err != nil {
		t.Fatalf("prep: %v", err)
	}
	return m
}

func convert(t *testing.T, m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Result) {
	t.Helper()
	out := proto.Clone(m).(*onnxpb.ModelProto)
	res, err := Convert(out, opts)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return out, res
}

// randomFeeds draws float32 inputs in [-1, 1) (int64 inputs get zeros) for
// the graph's inputs, sizing dynamic dimensions from symbolicDims.
func randomFeeds(t *testing.T, m *onnxpb.ModelProto, seed uint64) map[string]*tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	inits := map[string]bool{}
	for _, in := range m.GetGraph().GetInitializer() {
		inits[in.GetName()] = true
	}
	feeds := map[string]*tensor.Tensor{}
	for _, in := range m.GetGraph().GetInput() {
		if inits[in.GetName()] {
			continue
		}
		tt := in.GetType().GetTensorType()
		var shape []int64
		for _, d := range tt.GetShape().GetDim() {
			switch {
			case d.GetDimValue() > 0:
				shape = append(shape, d.GetDimValue())
			case symbolicDims[d.GetDimParam()] > 0:
				shape = append(shape, symbolicDims[d.GetDimParam()])
			default:
				shape = append(shape, 3)
			}
		}
		n, err := tensor.NumElements(shape)
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(r.Float64()*2 - 1)
		}
		x := tensor.MustNew(shape, vals)
		if d := tensor.DType(tt.GetElemType()); d != tensor.Float32 {
			if x, err = tensor.Cast(x, d); err != nil {
				t.Fatal(err)
			}
		}
		feeds[in.GetName()] = x
	}
	return feeds
}

// castFeeds converts float feeds to d (for models with half inputs).
func castFeeds(t *testing.T, feeds map[string]*tensor.Tensor, d tensor.DType) map[string]*tensor.Tensor {
	t.Helper()
	out := map[string]*tensor.Tensor{}
	for k, v := range feeds {
		c, err := tensor.Cast(v, d)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = c
	}
	return out
}

func run(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	testutil.InitORT(t)
	s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

// sqnr is 10·log10(Σref² / Σ(ref−x)²) over every output ref holds, in dB
// (+Inf when equal); NaN anywhere in x gives -Inf.
func sqnr(t *testing.T, ref, got map[string]*tensor.Tensor) float64 {
	t.Helper()
	var sig, noise float64
	for name, r := range ref {
		g, ok := got[name]
		if !ok {
			t.Fatalf("output %q missing", name)
		}
		a, err := tensor.AsFloat64(r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tensor.AsFloat64(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("output %q: %d values, want %d", name, len(b), len(a))
		}
		for i := range a {
			if math.IsNaN(b[i]) || math.IsInf(b[i], 0) {
				return math.Inf(-1)
			}
			sig += a[i] * a[i]
			noise += (a[i] - b[i]) * (a[i] - b[i])
		}
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// graphs returns g and all its subgraphs.
func graphs(g *onnxpb.GraphProto) []*onnxpb.GraphProto {
	out := []*onnxpb.GraphProto{g}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				out = append(out, graphs(a.GetG())...)
			}
			for _, sg := range a.GetGraphs() {
				out = append(out, graphs(sg)...)
			}
		}
	}
	return out
}

// checkNoCastPairs fails on a Cast from a half type to float32 feeding a
// Cast back to a half type, in any graph.
func checkNoCastPairs(t *testing.T, m *onnxpb.ModelProto) {
	t.Helper()
	c := &converter{m: m}
	root, err := c.build(m.GetGraph(), nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.collect(root)
	for _, s := range c.scopes {
		toFloat := map[string]*onnxpb.NodeProto{}
		for _, n := range s.g.GetNode() {
			if n.GetOpType() == "Cast" && castTo(n) == tFloat {
				if in := s.typeOf(n.Input[0]); in == tF16 || in == tBF16 {
					toFloat[n.Output[0]] = n
				}
			}
		}
		for _, n := range s.g.GetNode() {
			if n.GetOpType() != "Cast" || (castTo(n) != tF16 && castTo(n) != tBF16) {
				continue
			}
			if first, ok := toFloat[n.Input[0]]; ok {
				t.Errorf("%s: Cast %q (half to float32) feeds Cast %q back to %s", s.label("graph"), first.GetName(), n.GetName(), tensor.DType(castTo(n)))
			}
		}
	}
}

// countOps counts nodes by op type in every graph of m.
func countOps(m *onnxpb.ModelProto) map[string]int {
	counts := map[string]int{}
	for _, g := range graphs(m.GetGraph()) {
		for _, n := range g.GetNode() {
			counts[n.GetOpType()]++
		}
	}
	return counts
}

func elemOf(v *onnxpb.ValueInfoProto) tensor.DType {
	return tensor.DType(v.GetType().GetTensorType().GetElemType())
}

// initializerTypes counts the main graph's initializers by element type.
func initializerTypes(m *onnxpb.ModelProto) map[tensor.DType]int {
	counts := map[tensor.DType]int{}
	for _, in := range m.GetGraph().GetInitializer() {
		counts[tensor.DType(in.GetDataType())]++
	}
	return counts
}

func loadTestdata(t *testing.T, rel string) *onnxpb.ModelProto {
	t.Helper()
	m, err := onnx.Load(testutil.Testdata(t, rel), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Proto
}

func loadFixture(t *testing.T, rel string) *onnxpb.ModelProto {
	t.Helper()
	m, err := onnx.Load(testutil.Fixture(t, rel), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Proto
}

// sessionErr returns ORT's error for m, or nil when it loads.
func sessionErr(m *onnxpb.ModelProto) error {
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		return err
	}
	return s.Close()
}
