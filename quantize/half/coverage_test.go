package half

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The one-node models below record what ONNX Runtime 1.30's CPU provider
// does with half types, and check that Convert's output runs for each.

// pin is one input of a one-node model.
type pin struct {
	kind  byte // 'x' graph input, 'f' float constant, 'i' int64 constant, 'b' bool constant, 0 absent
	shape []int64
	f     []float32
	i     []int64
}

func x(shape ...int64) pin               { return pin{kind: 'x', shape: shape} }
func fc(shape []int64, v ...float32) pin { return pin{kind: 'f', shape: shape, f: v} }
func iv(v ...int64) pin                  { return pin{kind: 'i', shape: []int64{int64(len(v))}, i: v} }
func isc(v int64) pin                    { return pin{kind: 'i', shape: []int64{}, i: []int64{v}} }
func bc(shape []int64, v ...int64) pin   { return pin{kind: 'b', shape: shape, i: v} }

// Attribute helpers, short for the table.
var (
	ai  = testmodels.AttrInt
	ais = testmodels.AttrInts
	as  = testmodels.AttrString
)

type opCase struct {
	op    string
	ins   []pin
	attrs []*onnxpb.AttributeProto
	nout  int
	opset int64
	// noValues: outputs are discrete (indices, comparisons, rounding) or
	// random, so only running is checked.
	noValues bool
}

func (c opCase) name() string {
	if c.opset != 0 {
		return fmt.Sprintf("%s-%d", c.op, c.opset)
	}
	return c.op
}

func seeded(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 4))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * 0.3)
	}
	return v
}

// positiveOps get inputs in [0.1, 1.1) instead of [-1, 1).
var positiveOps = setOf("Log", "Sqrt", "Reciprocal", "Pow")

// buildOp returns c as a model on dt data, with feeds for its inputs.
func buildOp(c opCase, dt tensor.DType) (*onnxpb.ModelProto, map[string]*tensor.Tensor) {
	g := &onnxpb.GraphProto{Name: c.name()}
	feeds := map[string]*tensor.Tensor{}
	r := rand.New(rand.NewPCG(1, 2))
	n := &onnxpb.NodeProto{OpType: c.op, Name: "n", Attribute: c.attrs}
	add := func(t *tensor.Tensor, name string) {
		tp, err := tensor.ToProto(t, name)
		if err != nil {
			panic(err)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	for i, in := range c.ins {
		name := fmt.Sprintf("in%d", i)
		if in.kind == 0 {
			n.Input = append(n.Input, "")
			continue
		}
		n.Input = append(n.Input, name)
		switch in.kind {
		case 'i':
			add(tensor.MustNew(in.shape, in.i), name)
		case 'b':
			b := make([]bool, len(in.i))
			for k, v := range in.i {
				b[k] = v != 0
			}
			add(tensor.MustNew(in.shape, b), name)
		case 'f':
			t, _ := tensor.Cast(tensor.MustNew(in.shape, slices.Clone(in.f)), dt)
			add(t, name)
		case 'x':
			cnt, _ := tensor.NumElements(in.shape)
			v := make([]float32, cnt)
			for k := range v {
				if positiveOps[c.op] {
					v[k] = float32(0.1 + r.Float64())
				} else {
					v[k] = float32(2*r.Float64() - 1)
				}
			}
			t, _ := tensor.Cast(tensor.MustNew(in.shape, v), dt)
			feeds[name] = t
			vi := &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
				ElemType: int32(dt), Shape: &onnxpb.TensorShapeProto{}}}}}
			for _, d := range in.shape {
				vi.Type.GetTensorType().Shape.Dim = append(vi.Type.GetTensorType().Shape.Dim,
					&onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
			}
			g.Input = append(g.Input, vi)
		}
	}
	for k := 0; k < max(c.nout, 1); k++ {
		o := fmt.Sprintf("out%d", k)
		n.Output = append(n.Output, o)
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: o})
	}
	g.Node = []*onnxpb.NodeProto{n}
	opset := c.opset
	if opset == 0 {
		opset = 21
	}
	m := &onnxpb.ModelProto{IrVersion: 10, Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: opset}}}
	// Type the outputs, as Validate wants for a main graph.
	cv := &converter{m: m, opset: opset}
	if s, err := cv.build(g, nil, "", nil); err == nil {
		for _, o := range g.Output {
			if e := s.elem[o.GetName()]; e != 0 {
				o.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: e}}}
			}
		}
	}
	return m, feeds
}

func opCases() []opCase {
	x4 := x(2, 3, 4, 4)
	w := fc([]int64{4, 3, 3, 3}, seeded(108, 1)...)
	c3 := func(v ...float32) pin { return fc([]int64{3}, v...) }
	return []opCase{
		{op: "Add", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Sub", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Mul", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Div", ins: []pin{x(2, 8), fc(nil, 3)}},
		{op: "Pow", ins: []pin{x(2, 8), fc(nil, 2)}},
		{op: "Mod", ins: []pin{x(2, 8), fc(nil, 0.7)}, attrs: []*onnxpb.AttributeProto{ai("fmod", 1)}, noValues: true},
		{op: "MatMul", ins: []pin{x(2, 8), x(8, 4)}},
		{op: "Gemm", ins: []pin{x(2, 8), x(4, 8), x(4)}, attrs: []*onnxpb.AttributeProto{ai("transB", 1)}},
		{op: "Einsum", ins: []pin{x(2, 8), x(8, 4)}, attrs: []*onnxpb.AttributeProto{as("equation", "ij,jk->ik")}},
		{op: "Conv", ins: []pin{x4, w, fc([]int64{4}, 1, 2, 3, 4)}, attrs: []*onnxpb.AttributeProto{ais("pads", 1, 1, 1, 1)}},
		{op: "ConvTranspose", ins: []pin{x(1, 4, 4, 4), w}},
		{op: "BatchNormalization", ins: []pin{x4, c3(1, 2, 3), c3(0, 1, 0), c3(0, 0.1, 0.2), c3(1, 2, 1)}},
		{op: "InstanceNormalization", ins: []pin{x4, c3(1, 2, 3), c3(0, 1, 0)}},
		{op: "LayerNormalization", ins: []pin{x(2, 3, 8), x(8), x(8)}},
		{op: "GroupNormalization", ins: []pin{x4, c3(1, 2, 3), c3(0, 1, 0)}, attrs: []*onnxpb.AttributeProto{ai("num_groups", 3)}},
		{op: "LpNormalization", ins: []pin{x(2, 8)}},
		{op: "MeanVarianceNormalization", ins: []pin{x4}},
		{op: "LRN", ins: []pin{x4}, attrs: []*onnxpb.AttributeProto{ai("size", 3)}},
		{op: "Relu", ins: []pin{x(2, 8)}},
		{op: "LeakyRelu", ins: []pin{x(2, 8)}},
		{op: "PRelu", ins: []pin{x(2, 8), fc([]int64{8}, seeded(8, 2)...)}},
		{op: "Sigmoid", ins: []pin{x(2, 8)}},
		{op: "HardSigmoid", ins: []pin{x(2, 8)}},
		{op: "HardSwish", ins: []pin{x(2, 8)}},
		{op: "Tanh", ins: []pin{x(2, 8)}},
		{op: "Elu", ins: []pin{x(2, 8)}},
		{op: "Celu", ins: []pin{x(2, 8)}},
		{op: "Selu", ins: []pin{x(2, 8)}},
		{op: "Softplus", ins: []pin{x(2, 8)}},
		{op: "Softsign", ins: []pin{x(2, 8)}},
		{op: "Mish", ins: []pin{x(2, 8)}},
		{op: "Gelu", ins: []pin{x(2, 8)}, opset: 20},
		{op: "ThresholdedRelu", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Shrink", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Erf", ins: []pin{x(2, 8)}},
		{op: "Exp", ins: []pin{x(2, 8)}},
		{op: "Log", ins: []pin{x(2, 8)}},
		{op: "Sqrt", ins: []pin{x(2, 8)}},
		{op: "Reciprocal", ins: []pin{x(2, 8)}},
		{op: "Abs", ins: []pin{x(2, 8)}},
		{op: "Neg", ins: []pin{x(2, 8)}},
		{op: "Floor", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Ceil", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Round", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Sign", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Sin", ins: []pin{x(2, 8)}},
		{op: "Cos", ins: []pin{x(2, 8)}},
		{op: "Atan", ins: []pin{x(2, 8)}},
		{op: "Softmax", ins: []pin{x(2, 8)}},
		{op: "LogSoftmax", ins: []pin{x(2, 8)}},
		{op: "Hardmax", ins: []pin{x(2, 8)}, noValues: true},
		{op: "MaxPool", ins: []pin{x4}, attrs: []*onnxpb.AttributeProto{ais("kernel_shape", 2, 2)}},
		{op: "AveragePool", ins: []pin{x4}, attrs: []*onnxpb.AttributeProto{ais("kernel_shape", 2, 2)}},
		{op: "GlobalAveragePool", ins: []pin{x4}},
		{op: "GlobalMaxPool", ins: []pin{x4}},
		{op: "Flatten", ins: []pin{x4}},
		{op: "Reshape", ins: []pin{x(2, 8), iv(4, 4)}},
		{op: "Transpose", ins: []pin{x(2, 8)}},
		{op: "Squeeze", ins: []pin{x(1, 8), iv(0)}},
		{op: "Unsqueeze", ins: []pin{x(2, 8), iv(0)}},
		{op: "Concat", ins: []pin{x(2, 8), x(2, 8)}, attrs: []*onnxpb.AttributeProto{ai("axis", 1)}},
		{op: "Split", ins: []pin{x(2, 8)}, attrs: []*onnxpb.AttributeProto{ai("axis", 1), ai("num_outputs", 2)}, nout: 2},
		{op: "Slice", ins: []pin{x(2, 8), iv(1), iv(5), iv(1)}},
		{op: "Gather", ins: []pin{x(5, 8), iv(0, 3, 4)}},
		{op: "GatherElements", ins: []pin{x(2, 3), {kind: 'i', shape: []int64{2, 2}, i: []int64{0, 1, 2, 0}}}, attrs: []*onnxpb.AttributeProto{ai("axis", 1)}},
		{op: "GatherND", ins: []pin{x(2, 3), {kind: 'i', shape: []int64{2, 2}, i: []int64{0, 1, 1, 0}}}},
		{op: "ScatterND", ins: []pin{x(2, 3), {kind: 'i', shape: []int64{1, 2}, i: []int64{0, 1}}, x(1)}},
		{op: "ScatterElements", ins: []pin{x(2, 3), {kind: 'i', shape: []int64{1, 2}, i: []int64{0, 1}}, x(1, 2)}},
		{op: "Expand", ins: []pin{x(1, 8), iv(3, 8)}},
		{op: "Tile", ins: []pin{x(2, 8), iv(2, 1)}},
		{op: "Pad", ins: []pin{x(2, 8), iv(0, 1, 0, 1)}},
		{op: "DepthToSpace", ins: []pin{x(1, 4, 2, 2)}, attrs: []*onnxpb.AttributeProto{ai("blocksize", 2)}},
		{op: "SpaceToDepth", ins: []pin{x(1, 1, 4, 4)}, attrs: []*onnxpb.AttributeProto{ai("blocksize", 2)}},
		{op: "Trilu", ins: []pin{x(4, 4)}},
		{op: "Compress", ins: []pin{x(2, 8), bc([]int64{2}, 1, 0)}, attrs: []*onnxpb.AttributeProto{ai("axis", 0)}},
		{op: "Clip", ins: []pin{x(2, 8), fc(nil, -0.5), fc(nil, 0.5)}},
		{op: "Where", ins: []pin{bc([]int64{2, 1}, 1, 0), x(2, 8), x(2, 8)}},
		{op: "Identity", ins: []pin{x(2, 8)}},
		{op: "Dropout", ins: []pin{x(2, 8)}},
		{op: "ReduceMean", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceMean", ins: []pin{x(2, 8)}, opset: 13},
		{op: "ReduceSum", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceMax", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceMin", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceProd", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceL1", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceL2", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceSumSquare", ins: []pin{x(2, 8), iv(1)}},
		{op: "ReduceLogSumExp", ins: []pin{x(2, 8), iv(1)}},
		{op: "ArgMax", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Min", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Max", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Sum", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Mean", ins: []pin{x(2, 8), x(2, 8)}},
		{op: "Equal", ins: []pin{x(2, 8), x(2, 8)}, noValues: true},
		{op: "Less", ins: []pin{x(2, 8), x(2, 8)}, noValues: true},
		{op: "Greater", ins: []pin{x(2, 8), x(2, 8)}, noValues: true},
		{op: "IsNaN", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Shape", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Size", ins: []pin{x(2, 8)}, noValues: true},
		{op: "Cast", ins: []pin{x(2, 8)}, attrs: []*onnxpb.AttributeProto{ai("to", 1)}},
		{op: "ConstantOfShape", ins: []pin{iv(2, 3)}},
		{op: "EyeLike", ins: []pin{x(4, 4)}},
		{op: "RandomNormalLike", ins: []pin{x(4, 4)}, noValues: true},
		{op: "RandomUniformLike", ins: []pin{x(4, 4)}, noValues: true},
		{op: "Bernoulli", ins: []pin{fc([]int64{2}, 0, 1)}},
		{op: "TopK", ins: []pin{x(2, 8), iv(3)}, nout: 2, noValues: true},
		{op: "CumSum", ins: []pin{x(2, 8), isc(1)}},
		{op: "Range", ins: []pin{fc(nil, 0), fc(nil, 5), fc(nil, 1)}},
		{op: "Resize", ins: []pin{x4, {}, fc([]int64{4}, 1, 1, 2, 2)}, attrs: []*onnxpb.AttributeProto{as("mode", "nearest")}},
		{op: "Resize", ins: []pin{x4, {}, {}, iv(2, 3, 8, 8)}, attrs: []*onnxpb.AttributeProto{as("mode", "linear")}, opset: 19},
		{op: "Upsample", ins: []pin{x4, fc([]int64{4}, 1, 1, 2, 2)}, opset: 9},
		{op: "NonMaxSuppression", ins: []pin{fc([]int64{1, 2, 4}, 0, 0, 1, 1, 0, 0, 1, 1.1), fc([]int64{1, 1, 2}, 0.9, 0.8), iv(2), fc([]int64{1}, 0.5)}, noValues: true},
		{op: "RoiAlign", ins: []pin{x4, fc([]int64{1, 4}, 0, 0, 2, 2), {kind: 'i', shape: []int64{1}, i: []int64{0}}}},
		{op: "GridSample", ins: []pin{x4, fc([]int64{2, 2, 2, 2}, seeded(16, 3)...)}},
		{op: "Det", ins: []pin{x(3, 3)}},
		{op: "GRU", ins: []pin{x(2, 1, 3), fc([]int64{1, 12, 3}, seeded(36, 4)...), fc([]int64{1, 12, 4}, seeded(48, 5)...)}, attrs: []*onnxpb.AttributeProto{ai("hidden_size", 4)}, nout: 2},
		{op: "LSTM", ins: []pin{x(2, 1, 3), fc([]int64{1, 16, 3}, seeded(48, 6)...), fc([]int64{1, 16, 4}, seeded(64, 7)...)}, attrs: []*onnxpb.AttributeProto{ai("hidden_size", 4)}, nout: 2},
	}
}

// TestCPUCoverage runs each one-node model three ways on the CPU provider:
// as written in float16 and bfloat16 (to record what ORT accepts), and
// after Convert from float32 (which must always run and stay close).
func TestCPUCoverage(t *testing.T) {
	testutil.InitORT(t)
	var rawFP16Fail, rawBF16OK []string
	for _, c := range opCases() {
		ref, feeds := buildOp(c, tensor.Float32)
		want := runOp(t, c, ref, feeds, "float32")
		if want == nil {
			continue
		}
		for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16Type} {
			// As written: what ORT itself accepts.
			raw, rawFeeds := buildOp(c, dt)
			if _, err := runQuiet(raw, rawFeeds); err != nil {
				if dt == tensor.Float16 {
					rawFP16Fail = append(rawFP16Fail, c.name())
					if !slices.Contains(DefaultBlockOps, c.op) {
						t.Errorf("%s: ORT cannot run it in float16 but DefaultBlockOps lacks it: %v", c.name(), err)
					}
				} else if cpuBFloat16Ops[c.op] {
					t.Errorf("%s: listed as running in bfloat16 on CPU, but: %v", c.name(), err)
				}
			} else if dt == tensor.BFloat16Type {
				rawBF16OK = append(rawBF16OK, c.name())
			}

			// Converted from float32.
			opts := DefaultOptions(dt)
			opts.BlockOps = CPUBlockOps(ref, dt)
			conv, _ := convert(t, ref, opts)
			have := runOp(t, c, conv, feeds, dt.String())
			if have == nil || c.noValues {
				continue
			}
			min := minSQNRFloat16
			if dt == tensor.BFloat16Type {
				min = minSQNRBFloat16
			}
			if db := sqnr(t, floatOnly(want), floatOnly(have)); db < min-10 {
				t.Errorf("%s converted to %s: SQNR %.1f dB", c.name(), dt, db)
			}
		}
	}
	t.Logf("ORT CPU refuses in float16: %s", strings.Join(rawFP16Fail, ", "))
	t.Logf("ORT CPU runs in bfloat16: %s", strings.Join(rawBF16OK, ", "))
}

// runQuiet runs m on copies of feeds: ONNX Runtime may write into its
// inputs (training-mode BatchNormalization updates the running mean and
// variance it is given in place), and the feeds are reused.
func runQuiet(m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 1})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	fresh := make(map[string]*tensor.Tensor, len(feeds))
	for k, v := range feeds {
		fresh[k] = v
		if c, err := tensor.Cast(v, v.DType()); err == nil {
			fresh[k] = c
		}
	}
	return s.Run(fresh)
}

func runOp(t *testing.T, c opCase, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor, what string) map[string]*tensor.Tensor {
	t.Helper()
	out, err := runQuiet(m, feeds)
	if err != nil {
		t.Errorf("%s (%s): %v", c.name(), what, err)
		return nil
	}
	return out
}

// floatOnly keeps the float outputs, which SQNR compares.
func floatOnly(ts map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range ts {
		if v.DType().IsFloat() && v.Len() > 0 {
			out[k] = v
		}
	}
	return out
}
