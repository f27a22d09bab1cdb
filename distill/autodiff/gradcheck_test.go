package autodiff

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// gradCheck is the finite-difference check every rule is tested with.
//
// The loss is L = Σ_outputs Σ (y ⊙ R_y) with fixed random R_y, so every
// output element's gradient is exercised. Gradients builds the backward
// graph; ONNX Runtime runs it once with feeds. Each value in wrt (an
// initializer or a graph input) is then perturbed element by element (at
// most maxElems elements, chosen at random) by ±eps and the central
// difference (L(w+eps) − L(w−eps)) / 2eps is computed from two ORT
// forward runs in float32. An element passes when
// |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|).
type gradCheck struct {
	eps, rtol, atol float64
	maxElems        int
}

var defaultCheck = gradCheck{eps: 1e-2, rtol: 2e-2, atol: 2e-3, maxElems: 24}

// annotate records every value's shape and type (from an ORT run on feeds)
// in value_info, as pkg/prep does for real models, and raises the opset
// to MinOpset.
func annotate(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) {
	t.Helper()
	testutil.InitORT(t)
	if graph.DefaultOpset(m) < MinOpset {
		if err := graph.UpgradeOpset(m, MinOpset); err != nil {
			t.Fatal(err)
		}
	}
	var extra []string
	for _, n := range m.Graph.Node {
		for _, o := range n.Output {
			if o != "" {
				extra = append(extra, o)
			}
		}
	}
	s, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: extra, OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]bool{}
	for _, o := range m.Graph.Output {
		outputs[o.Name] = true
	}
	m.Graph.ValueInfo = nil
	for _, name := range extra {
		v, ok := out[name]
		if !ok || outputs[name] {
			continue
		}
		m.Graph.ValueInfo = append(m.Graph.ValueInfo, valueInfo(name, v.DType(), v.Shape()))
	}
	for i, o := range m.Graph.Output {
		if v, ok := out[o.Name]; ok {
			m.Graph.Output[i] = valueInfo(o.Name, v.DType(), v.Shape())
		}
	}
}

func valueInfo(name string, d tensor.DType, shape []int64) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, x := range shape {
		dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}}
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: int32(d), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

// withLoss returns a copy of m with the scalar "gc_loss" as its only output.
func withLoss(t *testing.T, m *onnxpb.ModelProto, seed uint64) *onnxpb.ModelProto {
	t.Helper()
	c := proto.Clone(m).(*onnxpb.ModelProto)
	g := c.Graph
	r := rand.New(rand.NewPCG(seed, 99))
	var terms []string
	for _, o := range g.Output {
		tt := o.GetType().GetTensorType()
		if tensor.DType(tt.GetElemType()) != tensor.Float32 {
			continue
		}
		var shape []int64
		n := 1
		for _, d := range tt.GetShape().GetDim() {
			shape = append(shape, d.GetDimValue())
			n *= int(d.GetDimValue())
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		rn := "gc_r_" + o.Name
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: rn, DataType: int32(tensor.Float32), Dims: shape, FloatData: w})
		p := "gc_p_" + o.Name
		s := "gc_s_" + o.Name
		g.Node = append(g.Node,
			&onnxpb.NodeProto{OpType: "Mul", Input: []string{o.Name, rn}, Output: []string{p}},
			&onnxpb.NodeProto{OpType: "ReduceSum", Input: []string{p}, Output: []string{s}, Attribute: []*onnxpb.AttributeProto{AttrInt("keepdims", 0)}})
		g.ValueInfo = append(g.ValueInfo, valueInfo(p, tensor.Float32, shape), valueInfo(s, tensor.Float32, []int64{}))
		terms = append(terms, s)
	}
	if len(terms) == 0 {
		t.Fatal("gradCheck: the model has no float32 output")
	}
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "Sum", Input: terms, Output: []string{"gc_loss"}})
	g.ValueInfo = append(g.ValueInfo, g.Output...)
	g.Output = []*onnxpb.ValueInfoProto{valueInfo("gc_loss", tensor.Float32, []int64{})}
	return c
}

// run checks the gradients of m's outputs with respect to wrt on feeds.
// m should hold static shapes; annotate is applied to a copy.
func (c gradCheck) run(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor, wrt ...string) {
	t.Helper()
	testutil.InitORT(t)
	m = proto.Clone(m).(*onnxpb.ModelProto)
	annotate(t, m, feeds)
	lossModel := withLoss(t, m, 1)
	train := proto.Clone(lossModel).(*onnxpb.ModelProto)
	// The ReduceSum/Mul/Sum loss nodes need rules too; they are part of
	// what is tested.
	grads, err := Gradients(train, "gc_loss", wrt)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrt {
		if grads[w] == "" {
			t.Fatalf("no gradient for %s", w)
		}
		train.Graph.Output = append(train.Graph.Output, valueInfoUnknownShape(grads[w]))
	}
	if err := graph.Validate(train); err != nil {
		t.Fatalf("training graph invalid: %v", err)
	}
	ts, err := ort.NewSessionFromModel(train, ort.Options{})
	if err != nil {
		t.Fatalf("training graph does not load: %v", err)
	}
	defer ts.Close()
	got, err := ts.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ort.NewSessionFromModel(lossModel, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	loss := func(feeds map[string]*tensor.Tensor) float64 {
		out, err := fs.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := tensor.AsFloat64(out["gc_loss"])
		return v[0]
	}
	r := rand.New(rand.NewPCG(5, 6))
	baseLoss := loss
	for _, w := range wrt {
		loss := baseLoss
		g := got[grads[w]]
		if g == nil {
			t.Fatalf("gradient of %s missing from the run", w)
		}
		gv, _ := tensor.AsFloat64(g)
		// The value to perturb: a feed, or an initializer made a feed.
		base, isFeed := feeds[w]
		lm := lossModel
		if !isFeed {
			var init *onnxpb.TensorProto
			for _, x := range lossModel.Graph.Initializer {
				if x.Name == w {
					init = x
				}
			}
			if init == nil {
				t.Fatalf("%s is neither a feed nor an initializer", w)
			}
			base, err = tensor.FromProto(init)
			if err != nil {
				t.Fatal(err)
			}
			lm = proto.Clone(lossModel).(*onnxpb.ModelProto)
			lm.Graph.Initializer = slices.DeleteFunc(lm.Graph.Initializer, func(x *onnxpb.TensorProto) bool { return x.Name == w })
			lm.Graph.Input = append(lm.Graph.Input, valueInfo(w, tensor.Float32, init.Dims))
			s2, err := ort.NewSessionFromModel(lm, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			fs2 := s2
			loss = func(feeds map[string]*tensor.Tensor) float64 {
				out, err := fs2.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := tensor.AsFloat64(out["gc_loss"])
				return v[0]
			}
		}
		if !slices.Equal(g.Shape(), base.Shape()) {
			t.Fatalf("gradient of %s has shape %v, the value %v", w, g.Shape(), base.Shape())
		}
		bv := slices.Clone(tensor.Values[float32](base))
		elems := r.Perm(len(bv))
		if len(elems) > c.maxElems {
			elems = elems[:c.maxElems]
		}
		for _, i := range elems {
			at := func(delta float64) float64 {
				v := slices.Clone(bv)
				v[i] += float32(delta)
				f := map[string]*tensor.Tensor{}
				for k, x := range feeds {
					f[k] = x
				}
				f[w] = tensor.MustNew(base.Shape(), v)
				return loss(f)
			}
			num := (at(c.eps) - at(-c.eps)) / (2 * c.eps)
			ana := gv[i]
			if math.Abs(ana-num) > c.atol+c.rtol*math.Max(math.Abs(ana), math.Abs(num)) {
				t.Errorf("d loss / d %s[%d]: analytic %.6g, finite difference %.6g", w, i, ana, num)
			}
		}
	}
}

// randTensor is a float32 tensor of N(0,1) values (or uniform in [lo,hi)
// when lo < hi), seeded.
func randTensor(seed uint64, shape []int64, lo, hi float64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 17))
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	v := make([]float32, n)
	for i := range v {
		if lo < hi {
			v[i] = float32(lo + (hi-lo)*r.Float64())
		} else {
			v[i] = float32(r.NormFloat64())
		}
	}
	return tensor.MustNew(shape, v)
}

// valueInfoUnknownShape declares a float32 output of unknown shape.
func valueInfoUnknownShape(name string) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32)}}}}
}
