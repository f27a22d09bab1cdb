package prune_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/prune"
)

// exactTol bounds the relative output difference when only channels
// that contribute exactly zero are removed: the sums lose zero terms, so
// only their rounding order may change.
const exactTol = 1e-5

// prepared returns a copy of m brought into the form PruneChannels
// expects: constants folded and value_info from ONNX Runtime, BatchNorm
// left unfolded so its slicing is exercised.
func prepared(t *testing.T, m *onnxpb.ModelProto) *onnxpb.ModelProto {
	t.Helper()
	testutil.InitORT(t)
	c := proto.Clone(m).(*onnxpb.ModelProto)
	if _, err := prep.Run(c, prep.Options{FoldConstants: true, InferShapes: true}); err != nil {
		t.Fatal(err)
	}
	return c
}

// pruneCopy prunes a copy of m and checks the result is a valid model.
func pruneCopy(t *testing.T, m *onnxpb.ModelProto, opts prune.ChannelOptions) (*onnxpb.ModelProto, *prune.ChannelResult) {
	t.Helper()
	c := proto.Clone(m).(*onnxpb.ModelProto)
	res, err := prune.PruneChannels(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Validate(c); err != nil {
		t.Fatalf("pruned model: %v", err)
	}
	same := func(a, b *onnxpb.ValueInfoProto) bool { return proto.Equal(a, b) }
	if !slices.EqualFunc(c.GetGraph().GetInput(), m.GetGraph().GetInput(), same) || !slices.EqualFunc(c.GetGraph().GetOutput(), m.GetGraph().GetOutput(), same) {
		t.Error("pruning changed the graph's inputs or outputs")
	}
	return c, res
}

// runModel runs m in ONNX Runtime without graph optimizations.
func runModel(t *testing.T, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, ort.Options{OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// uniform draws a seeded float32 tensor in [-1, 1).
func uniform(seed uint64, shape ...int64) *tensor.Tensor {
	return tensor.MustNew(shape, testmodels.NewRand(seed).Uniform(shape, -1, 1))
}

// compareOutputs runs both models on feeds; every output must have the
// same shape, and with tol ≥ 0 agree to tol relative to the largest
// reference magnitude.
func compareOutputs(t *testing.T, got, want *onnxpb.ModelProto, feeds map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	g, w := runModel(t, got, feeds), runModel(t, want, feeds)
	for name, wt := range w {
		gt := g[name]
		if gt == nil || !slices.Equal(gt.Shape(), wt.Shape()) {
			t.Fatalf("output %s: got %v, want shape %v", name, gt, wt.Shape())
		}
		if tol < 0 {
			continue
		}
		gv, wv := tensor.Values[float32](gt), tensor.Values[float32](wt)
		var diff, scale float64
		for i := range wv {
			diff = math.Max(diff, math.Abs(float64(gv[i]-wv[i])))
			scale = math.Max(scale, math.Abs(float64(wv[i])))
		}
		if diff > tol*math.Max(scale, 1e-6) {
			t.Errorf("output %s differs by %.3g (scale %.3g)", name, diff, scale)
		}
	}
}

// dims returns the shape of initializer name of m's main graph.
func dims(t *testing.T, m *onnxpb.ModelProto, name string) []int64 {
	t.Helper()
	for _, x := range m.GetGraph().GetInitializer() {
		if x.GetName() == name {
			return x.GetDims()
		}
	}
	t.Fatalf("no initializer %s", name)
	return nil
}

// values decodes initializer name of m as float32 or int64 values.
func values[T float32 | int64](t *testing.T, m *onnxpb.ModelProto, name string) []T {
	t.Helper()
	for _, x := range m.GetGraph().GetInitializer() {
		if x.GetName() == name {
			v, err := tensor.FromProto(x)
			if err != nil {
				t.Fatal(err)
			}
			return tensor.Values[T](v)
		}
	}
	t.Fatalf("no initializer %s", name)
	return nil
}

// floatParams counts the elements of m's float initializers.
func floatParams(m *onnxpb.ModelProto) int64 {
	var n int64
	for _, x := range m.GetGraph().GetInitializer() {
		if tensor.DType(x.GetDataType()).IsFloat() {
			n += testmodels.Numel(x.GetDims())
		}
	}
	return n
}

// node returns the node called name.
func node(t *testing.T, m *onnxpb.ModelProto, name string) *onnxpb.NodeProto {
	t.Helper()
	for _, n := range m.GetGraph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

// weightsWithZeroChannels draws He weights [out, rest…] and zeroes the
// listed output channels (axis 0).
func weightsWithZeroChannels(r *testmodels.Rand, shape []int64, zero ...int) []float32 {
	w := r.He(shape, testmodels.Numel(shape[1:]))
	per := int(testmodels.Numel(shape[1:]))
	for _, c := range zero {
		clear(w[c*per : (c+1)*per])
	}
	return w
}

// zeroAt sets v[i] = 0 for each listed i and returns v.
func zeroAt(v []float32, idx ...int) []float32 {
	for _, i := range idx {
		v[i] = 0
	}
	return v
}

func TestChannelCNN(t *testing.T) {
	m := prepared(t, testmodels.CNN(testmodels.CNNConfig{}))
	before := proto.Clone(m)
	groups, err := prune.ChannelGroups(m, prune.ChannelOptions{Sparsity: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, m) {
		t.Fatal("ChannelGroups modified the model")
	}
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	if !slices.EqualFunc(groups, res.Groups, func(a, b prune.ChannelGroup) bool {
		return a.Name == b.Name && a.Kept == b.Kept && a.Reason == b.Reason
	}) {
		t.Errorf("ChannelGroups %+v, PruneChannels %+v", groups, res.Groups)
	}
	if len(res.Groups) != 4 {
		t.Fatalf("groups %+v, want 3 convolutions and the classifier", res.Groups)
	}
	for i, want := range []int{8, 16, 32} {
		g := res.Groups[i]
		if g.Kept != want || g.Channels != 2*want || g.Reason != "" || len(g.Sources) != 1 {
			t.Errorf("group %d = %+v, want %d of %d channels kept", i, g, want, 2*want)
		}
	}
	if g := res.Groups[3]; g.Kept != g.Channels || !strings.Contains(g.Reason, "output reaches graph output logits") {
		t.Errorf("classifier group %+v, want left alone as it reaches the output", g)
	}
	for name, want := range map[string][]int64{
		"conv1.weight": {8, 3, 3, 3}, "conv1.bias": {8},
		"conv2.weight": {16, 8, 3, 3}, "conv3.weight": {32, 16, 3, 3},
		"bn1.scale": {8}, "bn2.mean": {16}, "bn3.var": {32}, "bn3.bias": {32},
		"fc.weight": {10, 32}, "fc.bias": {10},
	} {
		if got := dims(t, p, name); !slices.Equal(got, want) {
			t.Errorf("%s has shape %v, want %v", name, got, want)
		}
	}
	if got, want := res.RemovedParams, floatParams(m)-floatParams(p); got != want || got <= 0 {
		t.Errorf("RemovedParams = %d, want %d", got, want)
	}
	if !proto.Equal(before, m) {
		t.Error("PruneChannels of a clone modified the original")
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(1, 2, 3, 32, 32)}, -1)
}

// exactCNN is Conv → BatchNormalization → Relu → MaxPool → Conv → Relu →
// Flatten (no GlobalAveragePool: 6 channels × 4 × 4) → Gemm, where
// channels 1, 4, 6, 7 of the first convolution and 0, 3, 5 of the second
// are exactly zero after their ReLU (zero weights, bias, BN mean and β).
func exactCNN() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("exact_cnn", 17)
	r := testmodels.NewRand(7)
	x := b.Input("x", tensor.Float32, "N", 3, 8, 8)
	zero1, zero2 := []int{1, 4, 6, 7}, []int{0, 3, 5}
	w1 := b.Initializer("w1", []int64{8, 3, 3, 3}, weightsWithZeroChannels(r, []int64{8, 3, 3, 3}, zero1...))
	b1 := b.Initializer("b1", []int64{8}, zeroAt(r.Normal([]int64{8}, 0.1), zero1...))
	h := b.Op("Conv", []string{x, w1, b1}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))
	h = b.Op("BatchNormalization", []string{h,
		b.Initializer("bn.scale", []int64{8}, r.Uniform([]int64{8}, 0.5, 1.5)),
		b.Initializer("bn.bias", []int64{8}, zeroAt(r.Normal([]int64{8}, 0.1), zero1...)),
		b.Initializer("bn.mean", []int64{8}, zeroAt(r.Normal([]int64{8}, 0.1), zero1...)),
		b.Initializer("bn.var", []int64{8}, r.Uniform([]int64{8}, 0.5, 1.5)),
	})
	h = b.Op("Relu", []string{h})
	h = b.Op("MaxPool", []string{h}, testmodels.AttrInts("kernel_shape", 2, 2), testmodels.AttrInts("strides", 2, 2))
	w2 := b.Initializer("w2", []int64{6, 8, 3, 3}, weightsWithZeroChannels(r, []int64{6, 8, 3, 3}, zero2...))
	b2 := b.Initializer("b2", []int64{6}, zeroAt(r.Normal([]int64{6}, 0.1), zero2...))
	h = b.Op("Relu", []string{b.Op("Conv", []string{h, w2, b2}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))})
	h = b.Op("Flatten", []string{h}, testmodels.AttrInt("axis", 1))
	fc := b.Initializer("fc.weight", []int64{5, 96}, r.Xavier([]int64{5, 96}, 96, 5))
	fb := b.Initializer("fc.bias", []int64{5}, r.Normal([]int64{5}, 0.1))
	b.Node("Gemm", []string{h, fc, fb}, []string{"y"}, testmodels.AttrInt("transB", 1))
	b.Output("y", tensor.Float32, "N", 5)
	return b.Model()
}

func TestChannelExact(t *testing.T) {
	m := prepared(t, exactCNN())
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	if res.Groups[0].Kept != 4 || res.Groups[1].Kept != 3 {
		t.Fatalf("groups %+v, want 4 and 3 channels kept", res.Groups)
	}
	// Which channels, and the last activation holding them on axis 1: the
	// MaxPool's output, then the second Relu's (Flatten interleaves).
	outputOf := func(op string, k int) string {
		for _, n := range m.Graph.Node {
			if n.OpType == op {
				if k == 0 {
					return n.Output[0]
				}
				k--
			}
		}
		return ""
	}
	if g := res.Groups[0]; !slices.Equal(g.Keep, []int{0, 2, 3, 5}) || g.Value != outputOf("MaxPool", 0) {
		t.Errorf("group 0 keeps %v of %q, want [0 2 3 5] of %q", g.Keep, g.Value, outputOf("MaxPool", 0))
	}
	if g := res.Groups[1]; !slices.Equal(g.Keep, []int{1, 2, 4}) || g.Value != outputOf("Relu", 1) {
		t.Errorf("group 1 keeps %v of %q, want [1 2 4] of %q", g.Keep, g.Value, outputOf("Relu", 1))
	}
	for name, want := range map[string][]int64{
		"w1": {4, 3, 3, 3}, "bn.var": {4}, "w2": {3, 4, 3, 3}, "b2": {3}, "fc.weight": {5, 48},
	} {
		if got := dims(t, p, name); !slices.Equal(got, want) {
			t.Errorf("%s has shape %v, want %v", name, got, want)
		}
	}
	// The Gemm keeps the 16 columns of each kept channel (1, 2, 4).
	orig, got := values[float32](t, m, "fc.weight"), values[float32](t, p, "fc.weight")
	for row := range 5 {
		for j, c := range []int{1, 2, 4} {
			if !slices.Equal(got[row*48+j*16:row*48+(j+1)*16], orig[row*96+c*16:row*96+(c+1)*16]) {
				t.Errorf("fc.weight row %d: columns of channel %d not kept", row, c)
			}
		}
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"x": uniform(3, 4, 3, 8, 8)}, exactTol)
}

// residual builds stem Conv → x; x → Conv → Relu → Conv → Mul by a
// per-channel constant → Add x → Relu → Conv → output. The stem and the
// second branch convolution share their channels through the Add;
// channels zeroChannels of both are zero, and channels 0–3 of the first
// branch convolution.
func residual() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("residual", 17)
	r := testmodels.NewRand(11)
	in := b.Input("input", tensor.Float32, "N", 3, 6, 6)
	zero := []int{2, 5, 6, 7}
	conv := func(x string, w []float32, shape []int64, bias []float32) string {
		wn := b.Initializer(b.Unique("w"), shape, w)
		bn := b.Initializer(b.Unique("b"), shape[:1], bias)
		return b.Op("Conv", []string{x, wn, bn}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))
	}
	x := conv(in, weightsWithZeroChannels(r, []int64{8, 3, 3, 3}, zero...), []int64{8, 3, 3, 3}, zeroAt(r.Normal([]int64{8}, 0.1), zero...))
	h := b.Op("Relu", []string{conv(x, weightsWithZeroChannels(r, []int64{8, 8, 3, 3}, 0, 1, 2, 3), []int64{8, 8, 3, 3}, zeroAt(r.Normal([]int64{8}, 0.1), 0, 1, 2, 3))})
	h = conv(h, weightsWithZeroChannels(r, []int64{8, 8, 3, 3}, zero...), []int64{8, 8, 3, 3}, zeroAt(r.Normal([]int64{8}, 0.1), zero...))
	h = b.Op("Mul", []string{h, b.Initializer("scale", []int64{8, 1, 1}, r.Uniform([]int64{8, 1, 1}, 0.5, 2))})
	h = b.Op("Relu", []string{b.Op("Add", []string{x, h})})
	w := b.Initializer("head.weight", []int64{4, 8, 1, 1}, r.He([]int64{4, 8, 1, 1}, 8))
	b.Node("Conv", []string{h, w}, []string{"output"}, testmodels.AttrInts("kernel_shape", 1, 1))
	b.Output("output", tensor.Float32, "N", 4, 6, 6)
	return b.Model()
}

func TestChannelResidual(t *testing.T) {
	m := prepared(t, residual())
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	var joined *prune.ChannelGroup
	for i, g := range res.Groups {
		if len(g.Sources) == 2 {
			joined = &res.Groups[i]
		}
	}
	if joined == nil || len(res.Groups) != 3 {
		t.Fatalf("groups %+v, want the stem and the last branch convolution in one group", res.Groups)
	}
	if joined.Name != "Conv_0" || !slices.Equal(joined.Sources, []string{"Conv_0", "Conv_2"}) || joined.Kept != 4 || joined.Reason != "" {
		t.Errorf("joined group %+v, want Conv_0 and Conv_2 pruned to 4 channels", *joined)
	}
	if got := dims(t, p, "scale"); !slices.Equal(got, []int64{4, 1, 1}) {
		t.Errorf("per-channel Mul constant has shape %v, want [4 1 1]", got)
	}
	if got := dims(t, p, "head.weight"); !slices.Equal(got, []int64{4, 4, 1, 1}) {
		t.Errorf("head weight has shape %v, want [4 4 1 1]", got)
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(5, 2, 3, 6, 6)}, exactTol)
}

// A Concat's output read by anything but a group-1 Conv (here a Softmax
// across the channels) blocks every space it joins.
func TestChannelConcatBlocks(t *testing.T) {
	b := testmodels.NewBuilder("concat", 17)
	r := testmodels.NewRand(3)
	x := b.Input("x", tensor.Float32, "N", 3, 5, 5)
	var parts []string
	for range 2 {
		w := b.Initializer(b.Unique("w"), []int64{4, 3, 1, 1}, r.He([]int64{4, 3, 1, 1}, 3))
		parts = append(parts, b.Op("Conv", []string{x, w}, testmodels.AttrInts("kernel_shape", 1, 1)))
	}
	cat := b.Op("Concat", parts, testmodels.AttrInt("axis", 1))
	b.Node("Softmax", []string{cat}, []string{"y"}, testmodels.AttrInt("axis", 1))
	b.Output("y", tensor.Float32, "N", 8, 5, 5)
	m := prepared(t, b.Model())

	groups, err := prune.ChannelGroups(m, prune.ChannelOptions{Sparsity: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 {
		t.Fatalf("groups %+v, want 2", groups)
	}
	for _, g := range groups {
		if g.Reason != "read by Softmax Softmax_0 after a Concat" || g.Kept != g.Channels {
			t.Errorf("group %+v, want left alone because of the Softmax after the Concat", g)
		}
	}
	c := proto.Clone(m).(*onnxpb.ModelProto)
	_, err = prune.PruneChannels(c, prune.ChannelOptions{Sparsity: 0.5})
	if !errors.Is(err, prune.ErrNothingPrunable) || !strings.Contains(err.Error(), "Concat") {
		t.Errorf("error %v, want ErrNothingPrunable naming the Concat", err)
	}
	if !proto.Equal(c, m) {
		t.Error("a failed PruneChannels changed the model")
	}
}

func TestChannelMLP(t *testing.T) {
	m := prepared(t, testmodels.MLP(testmodels.MLPConfig{}))
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5, Norm: prune.L2})
	if len(res.Groups) != 3 || res.Groups[0].Kept != 64 || res.Groups[1].Kept != 32 || res.Groups[2].Kept != 10 {
		t.Fatalf("groups %+v, want 128→64 and 64→32 neurons, logits untouched", res.Groups)
	}
	for name, want := range map[string][]int64{
		"fc1.weight": {64, 64}, "fc1.bias": {64}, "fc2.weight": {32, 64}, "fc2.bias": {32}, "fc3.weight": {10, 32}, "fc3.bias": {10},
	} {
		if got := dims(t, p, name); !slices.Equal(got, want) {
			t.Errorf("%s has shape %v, want %v", name, got, want)
		}
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(2, 3, 64)}, -1)
}

// matMulChain is x [N, 4, 16] → MatMul [16, 32] → Add [32] → Relu →
// MatMul [32, 8] → Add [8] → y, with hidden neurons zeroHidden exactly
// zero (zero columns and bias).
func matMulChain(zeroHidden ...int) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("matmul_chain", 17)
	r := testmodels.NewRand(5)
	x := b.Input("x", tensor.Float32, "N", 4, 16)
	w1 := r.He([]int64{16, 32}, 16)
	for k := range 16 {
		zeroAt(w1[k*32:(k+1)*32], zeroHidden...)
	}
	h := b.Op("MatMul", []string{x, b.Initializer("w1", []int64{16, 32}, w1)})
	h = b.Op("Add", []string{h, b.Initializer("b1", []int64{32}, zeroAt(r.Normal([]int64{32}, 0.1), zeroHidden...))})
	h = b.Op("Relu", []string{h})
	h = b.Op("MatMul", []string{h, b.Initializer("w2", []int64{32, 8}, r.Xavier([]int64{32, 8}, 32, 8))})
	b.Node("Add", []string{h, b.Initializer("b2", []int64{8}, r.Normal([]int64{8}, 0.1))}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 4, 8)
	return b.Model()
}

func TestChannelMatMulChain(t *testing.T) {
	zero := []int{0, 3, 4, 9, 10, 11, 17, 18, 20, 21, 22, 25, 27, 28, 30, 31}
	m := prepared(t, matMulChain(zero...))
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	if res.Groups[0].Kept != 16 || res.Groups[1].Reason == "" {
		t.Fatalf("groups %+v, want 16 hidden neurons kept, the last MatMul left alone", res.Groups)
	}
	for name, want := range map[string][]int64{"w1": {16, 16}, "b1": {16}, "w2": {16, 8}, "b2": {8}} {
		if got := dims(t, p, name); !slices.Equal(got, want) {
			t.Errorf("%s has shape %v, want %v", name, got, want)
		}
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"x": uniform(9, 3, 4, 16)}, exactTol)
}

// TestChannelNorms checks that L1 and L2 rank differently where they
// should: hidden neuron 0 has four weights 1 (L1 4, L2 2), neuron 1 one
// weight 3 (L1 3, L2 3); the other neurons are larger.
func TestChannelNorms(t *testing.T) {
	b := testmodels.NewBuilder("norms", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	w1 := make([]float32, 4*4)
	for k := range 4 {
		w1[k*4+0] = 1
		w1[k*4+2] = 5
		w1[k*4+3] = 6
	}
	w1[1] = 3
	h := b.Op("Relu", []string{b.Op("MatMul", []string{x, b.Initializer("w1", []int64{4, 4}, w1)})})
	b.Node("MatMul", []string{h, b.Initializer("w2", []int64{4, 2}, []float32{1, 2, 3, 4, 5, 6, 7, 8})}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 2)
	m := prepared(t, b.Model())
	for norm, removed := range map[prune.Norm]float32{prune.L1: 3, prune.L2: 1} {
		p, _ := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.25, Norm: norm})
		// Column 0 of w2's rows is 1, 3, 5, 7: the removed neuron's row
		// is gone.
		w2 := values[float32](t, p, "w2")
		if len(w2) != 6 || slices.Contains([]float32{w2[0], w2[2], w2[4]}, removed) {
			t.Errorf("%s: w2 = %v, want the row of neuron %v removed", norm, w2, (removed-1)/2)
		}
	}
}

// reshapeModel is the MNIST classifier's tail: x [1, 16, 4, 4] → Conv
// 1×1 → Relu → Reshape(shape) → MatMul [256, 10] → Add → y, plus x
// reshaped with the same shape constant through another MatMul, so the
// constant is shared. Channels zero of the Conv are exactly zero.
func reshapeModel(shape []int64, zero ...int) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("reshape", 17)
	r := testmodels.NewRand(13)
	x := b.Input("x", tensor.Float32, 1, 16, 4, 4)
	w := b.Initializer("conv.weight", []int64{16, 16, 1, 1}, weightsWithZeroChannels(r, []int64{16, 16, 1, 1}, zero...))
	bias := b.Initializer("conv.bias", []int64{16}, zeroAt(r.Normal([]int64{16}, 0.1), zero...))
	h := b.Op("Relu", []string{b.Op("Conv", []string{x, w, bias}, testmodels.AttrInts("kernel_shape", 1, 1))})
	sh := b.InitializerInt64("shape", []int64{int64(len(shape))}, shape)
	h = b.Op("MatMul", []string{b.Op("Reshape", []string{h, sh}), b.Initializer("fc.weight", []int64{256, 10}, r.Xavier([]int64{256, 10}, 256, 10))})
	skip := b.Op("MatMul", []string{b.Op("Reshape", []string{x, sh}), b.Initializer("skip.weight", []int64{256, 10}, r.Xavier([]int64{256, 10}, 256, 10))})
	h = b.Op("Add", []string{h, skip})
	b.Node("Add", []string{h, b.Initializer("fc.bias", []int64{10}, r.Normal([]int64{10}, 0.1))}, []string{"y"})
	b.Output("y", tensor.Float32, 1, 10)
	return b.Model()
}

func TestChannelFlattenReshape(t *testing.T) {
	zero := []int{1, 2, 3, 5, 8, 9, 12, 14}
	kept := []int{0, 4, 6, 7, 10, 11, 13, 15}
	for _, tc := range []struct {
		shape, want []int64
	}{
		{[]int64{1, 256}, []int64{1, 128}},
		{[]int64{-1, 256}, []int64{-1, 128}},
		{[]int64{0, -1}, []int64{0, -1}},
	} {
		m := prepared(t, reshapeModel(tc.shape, zero...))
		p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
		if res.Groups[0].Kept != 8 {
			t.Fatalf("shape %v: groups %+v, want 8 channels kept", tc.shape, res.Groups)
		}
		// The pruned branch reads a new shape; the other keeps the old.
		rs := node(t, p, "Reshape_0")
		if got := values[int64](t, p, rs.Input[1]); !slices.Equal(got, tc.want) {
			t.Errorf("shape %v: pruned branch's shape %v, want %v", tc.shape, got, tc.want)
		}
		if got := values[int64](t, p, "shape"); !slices.Equal(got, tc.shape) || node(t, p, "Reshape_1").Input[1] != "shape" {
			t.Errorf("shape %v: shared shape became %v", tc.shape, got)
		}
		// Rows c·16 … c·16+15 of the MatMul belong to channel c.
		orig, got := values[float32](t, m, "fc.weight"), values[float32](t, p, "fc.weight")
		if len(got) != 128*10 {
			t.Fatalf("shape %v: fc.weight has %d values, want 1280", tc.shape, len(got))
		}
		for j, c := range kept {
			if !slices.Equal(got[j*160:(j+1)*160], orig[c*160:(c+1)*160]) {
				t.Errorf("shape %v: rows of channel %d not kept", tc.shape, c)
			}
		}
		compareOutputs(t, p, m, map[string]*tensor.Tensor{"x": uniform(17, 1, 16, 4, 4)}, exactTol)
	}
}

// depthwise is Conv (8) → Relu → depthwise Conv (multiplier mult) →
// BatchNormalization → Relu → Conv (4) → output.
func depthwise(mult int64) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("depthwise", 17)
	r := testmodels.NewRand(19)
	x := b.Input("x", tensor.Float32, "N", 3, 8, 8)
	w := b.Initializer("w", []int64{8, 3, 3, 3}, r.He([]int64{8, 3, 3, 3}, 27))
	h := b.Op("Relu", []string{b.Op("Conv", []string{x, w}, testmodels.AttrInts("pads", 1, 1, 1, 1))})
	c := 8 * mult
	dw := b.Initializer("dw.weight", []int64{c, 1, 3, 3}, r.He([]int64{c, 1, 3, 3}, 9))
	dwb := b.Initializer("dw.bias", []int64{c}, r.Normal([]int64{c}, 0.1))
	h = b.Op("Conv", []string{h, dw, dwb}, testmodels.AttrInt("group", 8), testmodels.AttrInts("pads", 1, 1, 1, 1))
	h = b.Op("BatchNormalization", []string{h,
		b.Initializer("bn.scale", []int64{c}, r.Uniform([]int64{c}, 0.5, 1.5)),
		b.Initializer("bn.bias", []int64{c}, r.Normal([]int64{c}, 0.1)),
		b.Initializer("bn.mean", []int64{c}, r.Normal([]int64{c}, 0.1)),
		b.Initializer("bn.var", []int64{c}, r.Uniform([]int64{c}, 0.5, 1.5)),
	})
	h = b.Op("Relu", []string{h})
	b.Node("Conv", []string{h, b.Initializer("head", []int64{4, c, 1, 1}, r.He([]int64{4, c, 1, 1}, c))}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 4, 8, 8)
	return b.Model()
}

func TestChannelDepthwise(t *testing.T) {
	for _, mult := range []int64{1, 2} {
		m := prepared(t, depthwise(mult))
		p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
		if len(res.Groups) != 2 || res.Groups[0].Kept != 4 {
			t.Fatalf("multiplier %d: groups %+v, want the first Conv pruned to 4", mult, res.Groups)
		}
		c := 4 * mult
		for name, want := range map[string][]int64{
			"w": {4, 3, 3, 3}, "dw.weight": {c, 1, 3, 3}, "dw.bias": {c}, "bn.var": {c}, "head": {4, c, 1, 1},
		} {
			if got := dims(t, p, name); !slices.Equal(got, want) {
				t.Errorf("multiplier %d: %s has shape %v, want %v", mult, name, got, want)
			}
		}
		for _, a := range node(t, p, "Conv_1").GetAttribute() {
			if a.GetName() == "group" && a.GetI() != 4 {
				t.Errorf("multiplier %d: depthwise group = %d, want 4", mult, a.GetI())
			}
		}
		compareOutputs(t, p, m, map[string]*tensor.Tensor{"x": uniform(23, 2, 3, 8, 8)}, -1)
	}
}

func TestChannelGroupOptions(t *testing.T) {
	mlp := prepared(t, testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{32, 32, 32}}))
	cnn := prepared(t, testmodels.CNN(testmodels.CNNConfig{}))
	type want struct {
		kept   int
		reason string // a substring; "" means none
	}
	for _, tc := range []struct {
		name string
		m    *onnxpb.ModelProto
		opts prune.ChannelOptions
		want []want
	}{
		{"default", mlp, prune.ChannelOptions{Sparsity: 0.5},
			[]want{{16, ""}, {16, ""}, {16, ""}, {10, "output reaches graph output logits"}}},
		{"keep first and last", mlp, prune.ChannelOptions{Sparsity: 0.5, KeepFirstLast: true},
			[]want{{32, "first prunable layer"}, {16, ""}, {32, "last prunable layer"}, {10, "graph output"}}},
		{"exclude", mlp, prune.ChannelOptions{Sparsity: 0.5, ExcludeNodes: []string{"Gemm_1"}},
			[]want{{16, ""}, {32, "source Gemm_1 is excluded"}, {16, ""}, {10, "graph output"}}},
		{"per group", mlp, prune.ChannelOptions{PerGroup: map[string]float64{"Gemm_2": 0.25}},
			[]want{{32, "no sparsity given"}, {32, "no sparsity given"}, {24, ""}, {10, "graph output"}}},
		{"per group over sparsity", mlp, prune.ChannelOptions{Sparsity: 0.5, PerGroup: map[string]float64{"Gemm_0": 0.75, "Gemm_1": 0}},
			[]want{{8, ""}, {32, "sparsity 0 removes no channel"}, {16, ""}, {10, "graph output"}}},
		{"min params", cnn, prune.ChannelOptions{Sparsity: 0.5, MinParams: 1000},
			[]want{{16, "432 weight elements, fewer than MinParams 1000"}, {16, ""}, {32, ""}, {10, "graph output"}}},
		{"op types", cnn, prune.ChannelOptions{Sparsity: 0.5, OpTypes: []string{"Gemm"}},
			[]want{{16, "not among the op types Gemm"}, {32, "not among"}, {64, "not among"}, {10, "graph output"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := prune.ChannelGroups(tc.m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(groups) != len(tc.want) {
				t.Fatalf("groups %+v, want %d", groups, len(tc.want))
			}
			for i, w := range tc.want {
				g := groups[i]
				if g.Kept != w.kept || (w.reason == "") != (g.Reason == "") || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("group %d = %+v, want %d kept, reason %q", i, g, w.kept, w.reason)
				}
			}
		})
	}
}

func TestChannelGlobal(t *testing.T) {
	m := prepared(t, testmodels.CNN(testmodels.CNNConfig{}))
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5, Global: true})
	removed := 0
	for _, g := range res.Groups[:3] {
		if g.Kept < 1 {
			t.Errorf("group %+v lost every channel", g)
		}
		removed += g.Channels - g.Kept
	}
	if removed != 56 {
		t.Errorf("removed %d channels of 112, want 56 (groups %+v)", removed, res.Groups)
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(1, 1, 3, 32, 32)}, -1)
}

func TestChannelNothingPrunable(t *testing.T) {
	m := prepared(t, testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{}}))
	_, err := prune.PruneChannels(m, prune.ChannelOptions{Sparsity: 0.5})
	if !errors.Is(err, prune.ErrNothingPrunable) || !strings.Contains(err.Error(), "output reaches graph output logits") {
		t.Errorf("error %v, want ErrNothingPrunable with the reason", err)
	}
	mlp := prepared(t, testmodels.MLP(testmodels.MLPConfig{}))
	_, err = prune.PruneChannels(mlp, prune.ChannelOptions{Sparsity: 0.5, MinParams: 1 << 20})
	if !errors.Is(err, prune.ErrNothingPrunable) || !strings.Contains(err.Error(), "MinParams") {
		t.Errorf("error %v, want ErrNothingPrunable naming MinParams", err)
	}
}

func TestChannelOptionErrors(t *testing.T) {
	m := testmodels.MLP(testmodels.MLPConfig{})
	for _, opts := range []prune.ChannelOptions{
		{Sparsity: 1},
		{Sparsity: -0.1},
		{Sparsity: math.NaN()},
		{Sparsity: 0.5, Norm: "l3"},
		{Sparsity: 0.5, Global: true, PerGroup: map[string]float64{}},
		{PerGroup: map[string]float64{"no such group": 0.5}},
		{PerGroup: map[string]float64{"Gemm_0": 1.5}},
	} {
		if _, err := prune.ChannelGroups(m, opts); err == nil || errors.Is(err, prune.ErrNothingPrunable) {
			t.Errorf("options %+v: error %v, want an options error", opts, err)
		}
	}
	if _, err := prune.PruneChannels(nil, prune.ChannelOptions{Sparsity: 0.5}); err == nil {
		t.Error("nil model: no error")
	}
	// Without a sparsity ChannelGroups only analyses; PruneChannels
	// refuses.
	groups, err := prune.ChannelGroups(m, prune.ChannelOptions{})
	if err != nil || len(groups) != 3 || groups[0].Reason != "" || groups[0].Kept != groups[0].Channels {
		t.Errorf("analysis without sparsity: %+v, %v; want fc1 prunable and untouched", groups, err)
	}
	if _, err := prune.PruneChannels(proto.Clone(m).(*onnxpb.ModelProto), prune.ChannelOptions{}); err == nil || errors.Is(err, prune.ErrNothingPrunable) {
		t.Errorf("PruneChannels without sparsity: error %v, want an options error", err)
	}
}

// TestChannelSubgraphBlocks checks that a value read inside an If branch
// blocks its group.
func TestChannelSubgraphBlocks(t *testing.T) {
	b := testmodels.NewBuilder("subgraph", 17)
	r := testmodels.NewRand(29)
	x := b.Input("x", tensor.Float32, "N", 4)
	cond := b.Input("cond", tensor.Bool)
	h := b.Op("Relu", []string{b.Op("MatMul", []string{x, b.Initializer("w1", []int64{4, 6}, r.He([]int64{4, 6}, 4))})})
	other := b.Op("MatMul", []string{h, b.Initializer("w2", []int64{6, 6}, r.He([]int64{6, 6}, 6))})
	then := testmodels.NewSubgraph("then")
	then.Node("Identity", []string{h}, []string{"then/out"})
	then.Output("then/out", tensor.Float32, "N", 6)
	els := testmodels.NewSubgraph("else")
	els.Node("Identity", []string{other}, []string{"else/out"})
	els.Output("else/out", tensor.Float32, "N", 6)
	b.Node("If", []string{cond}, []string{"y"}, testmodels.AttrGraph("then_branch", then.Graph()), testmodels.AttrGraph("else_branch", els.Graph()))
	b.Output("y", tensor.Float32, "N", 6)
	groups, err := prune.ChannelGroups(b.Model(), prune.ChannelOptions{Sparsity: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Reason != "read inside a subgraph of If If_0" || !strings.Contains(groups[1].Reason, "subgraph") {
		t.Errorf("groups %+v, want both blocked by the If", groups)
	}
}

func TestChannelCNN224Params(t *testing.T) {
	if testing.Short() {
		t.Skip("224×224 model")
	}
	m := prepared(t, testmodels.CNN(testmodels.CNN224Config()))
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	before, after := floatParams(m), floatParams(p)
	if float64(after) > 0.3*float64(before) {
		t.Errorf("parameters %d → %d (%.2f×), want ≤ 0.3×", before, after, float64(after)/float64(before))
	}
	if res.RemovedParams != before-after {
		t.Errorf("RemovedParams = %d, want %d", res.RemovedParams, before-after)
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(1, 1, 3, 224, 224)}, -1)
}

// hardswish builds Conv → x·Clip(x + 3, 0, 6)/6 (scalar constants, as
// PyTorch and paddle2onnx export hardswish) → Conv; channels 1, 4, 5, 6 of
// the first convolution are zero, so pruning them is exact: hardswish(0)
// is 0.
func hardswish() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("hardswish", 13)
	r := testmodels.NewRand(5)
	in := b.Input("input", tensor.Float32, "N", 3, 6, 6)
	zero := []int{1, 4, 5, 6}
	w1 := b.Initializer("w1", []int64{8, 3, 3, 3}, weightsWithZeroChannels(r, []int64{8, 3, 3, 3}, zero...))
	b1 := b.Initializer("b1", []int64{8}, zeroAt(r.Normal([]int64{8}, 0.1), zero...))
	x := b.Op("Conv", []string{in, w1, b1}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))
	three := b.Initializer("three", nil, []float32{3})
	zeroC, six := b.Initializer("zero", nil, []float32{0}), b.Initializer("six", nil, []float32{6})
	gate := b.Op("Div", []string{b.Op("Clip", []string{b.Op("Add", []string{x, three}), zeroC, six}), six})
	h := b.Op("Mul", []string{x, gate})
	w2 := b.Initializer("w2", []int64{4, 8, 1, 1}, r.He([]int64{4, 8, 1, 1}, 8))
	b.Node("Conv", []string{h, w2}, []string{"output"}, testmodels.AttrInts("kernel_shape", 1, 1))
	b.Output("output", tensor.Float32, "N", 4, 6, 6)
	return b.Model()
}

// Scalar constants have rank 0 (not unknown), and both operands of x·f(x)
// carry the same channels: the group is pruned through the hardswish.
func TestChannelHardswish(t *testing.T) {
	m := prepared(t, hardswish())
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	if g := res.Groups[0]; g.Reason != "" || g.Kept != 4 || !slices.Equal(g.Keep, []int{0, 2, 3, 7}) {
		t.Fatalf("groups %+v, want the first pruned to channels 0, 2, 3, 7", res.Groups)
	}
	if got := dims(t, p, "w2"); !slices.Equal(got, []int64{4, 4, 1, 1}) {
		t.Errorf("second weight has shape %v, want [4 4 1 1]", got)
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(9, 2, 3, 6, 6)}, exactTol)
}

// concatFPN builds two convolutions with zero channels, concatenated along
// the channels with the graph input between them (a fixed run of 3), then
// a 1×1 Conv: each convolution is its own group, pruned through the
// Concat, and the head loses the matching input channels at each
// segment's offset.
func concatFPN() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("concat", 13)
	r := testmodels.NewRand(7)
	in := b.Input("input", tensor.Float32, "N", 3, 6, 6)
	conv := func(name string, cout int64, zero ...int) string {
		w := b.Initializer(name+".w", []int64{cout, 3, 3, 3}, weightsWithZeroChannels(r, []int64{cout, 3, 3, 3}, zero...))
		bias := b.Initializer(name+".b", []int64{cout}, zeroAt(r.Normal([]int64{cout}, 0.1), zero...))
		return b.Op("Relu", []string{b.Op("Conv", []string{in, w, bias}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))})
	}
	a := conv("a", 8, 1, 3, 4, 6)
	c := conv("c", 6, 0, 2, 5)
	cat := b.Op("Concat", []string{a, in, c}, testmodels.AttrInt("axis", 1))
	w := b.Initializer("head.w", []int64{4, 17, 1, 1}, r.He([]int64{4, 17, 1, 1}, 17))
	b.Node("Conv", []string{cat, w}, []string{"output"}, testmodels.AttrInts("kernel_shape", 1, 1))
	b.Output("output", tensor.Float32, "N", 4, 6, 6)
	return b.Model()
}

func TestChannelConcatSegments(t *testing.T) {
	m := prepared(t, concatFPN())
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	kept := map[string]int{}
	for _, g := range res.Groups {
		if g.Reason == "" {
			kept[g.Name] = g.Kept
		}
	}
	if len(kept) != 2 {
		t.Fatalf("groups %+v, want both convolutions pruned through the Concat", res.Groups)
	}
	// 4 of a's 8, the input's 3, 3 of c's 6.
	if got := dims(t, p, "head.w"); !slices.Equal(got, []int64{4, 10, 1, 1}) {
		t.Errorf("head weight has shape %v, want [4 10 1 1]", got)
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(3, 2, 3, 6, 6)}, exactTol)
}

// denseBlock is a DenseNet-style block: a stem convolution, then two
// layers that each read the stack so far through BatchNormalization and
// Relu and add 4 channels to it by Concat, and a 1×1 transition reading
// the whole stack through BatchNormalization and Relu. The removed
// channels are zero (weights, biases, and the normalisations' mean and
// bias at their positions in each stack), so pruning is exact.
func denseBlock() *onnxpb.ModelProto {
	b := testmodels.NewBuilder("dense", 13)
	r := testmodels.NewRand(11)
	in := b.Input("input", tensor.Float32, "N", 3, "H", "W")
	conv := func(name, x string, cin, cout int64, zero ...int) string {
		shape := []int64{cout, cin, 3, 3}
		w := b.Initializer(name+".w", shape, weightsWithZeroChannels(r, shape, zero...))
		bias := b.Initializer(name+".b", []int64{cout}, zeroAt(r.Normal([]int64{cout}, 0.1), zero...))
		return b.Op("Conv", []string{x, w, bias}, testmodels.AttrInts("kernel_shape", 3, 3), testmodels.AttrInts("pads", 1, 1, 1, 1))
	}
	bnRelu := func(name, x string, c int64, zero ...int) string {
		scale := b.Initializer(name+".scale", []int64{c}, r.Uniform([]int64{c}, 0.5, 1.5))
		bias := b.Initializer(name+".bias", []int64{c}, zeroAt(r.Normal([]int64{c}, 0.1), zero...))
		mean := b.Initializer(name+".mean", []int64{c}, zeroAt(r.Normal([]int64{c}, 0.1), zero...))
		v := b.Initializer(name+".var", []int64{c}, r.Uniform([]int64{c}, 0.5, 1.5))
		return b.Op("Relu", []string{b.Op("BatchNormalization", []string{x, scale, bias, mean, v})})
	}
	stem := b.Op("Relu", []string{conv("stem", in, 3, 8, 0, 3, 5, 6)})
	g1 := conv("g1", bnRelu("bn1", stem, 8, 0, 3, 5, 6), 8, 4, 1, 2)
	cat1 := b.Op("Concat", []string{stem, g1}, testmodels.AttrInt("axis", 1))
	g2 := conv("g2", bnRelu("bn2", cat1, 12, 0, 3, 5, 6, 9, 10), 12, 4, 0, 3)
	cat2 := b.Op("Concat", []string{cat1, g2}, testmodels.AttrInt("axis", 1))
	x := bnRelu("bn3", cat2, 16, 0, 3, 5, 6, 9, 10, 12, 15)
	w := b.Initializer("trans.w", []int64{6, 16, 1, 1}, r.He([]int64{6, 16, 1, 1}, 16))
	b.Node("Conv", []string{x, w}, []string{"output"}, testmodels.AttrInts("kernel_shape", 1, 1))
	b.Output("output", tensor.Float32, "N", 6, "H", "W")
	return b.Model()
}

// TestChannelDenseBlock: the stacks of a dense block are followed
// through BatchNormalization, Relu and a Concat of a Concat; every layer
// that adds channels is pruned, the parameters of each normalisation
// sliced per segment, and the pruned model is exact at two input sizes.
func TestChannelDenseBlock(t *testing.T) {
	m := prepared(t, denseBlock())
	p, res := pruneCopy(t, m, prune.ChannelOptions{Sparsity: 0.5})
	kept := map[string]int{}
	for _, g := range res.Groups {
		if g.Reason == "" {
			kept[g.Name] = g.Kept
		}
	}
	if len(kept) != 3 {
		t.Fatalf("groups %+v, want the stem and both layers pruned", res.Groups)
	}
	for name, want := range map[string][]int64{"bn2.scale": {6}, "bn3.mean": {8}, "g2.w": {2, 6, 3, 3}, "trans.w": {6, 8, 1, 1}} {
		if got := dims(t, p, name); !slices.Equal(got, want) {
			t.Errorf("%s has shape %v, want %v", name, got, want)
		}
	}
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(3, 2, 3, 6, 6)}, exactTol)
	compareOutputs(t, p, m, map[string]*tensor.Tensor{"input": uniform(4, 1, 3, 9, 7)}, exactTol)
}
