package distill

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestTrainGraphCNN checks the whole training graph of a CNN whose
// Conv → BatchNormalization pairs it rewrites (foldBatchNormsForTraining):
// with a hint term on an activation: the forward output equals the
// student's own in ONNX Runtime, the
// BatchNormalization nodes are gone, the running statistics are not
// trained, and the gradient of every trainable tensor (convolution weight
// and bias, normalisation scale and B, classifier) matches central finite
// differences of the loss computed by ONNX Runtime forward runs, on
// sampled elements (ε = 1e-2 in float32; |analytic − numeric| ≤ 2e-3 +
// 2e-2·|numeric|, the autodiff gradient checks' tolerance).
func TestTrainGraphCNN(t *testing.T) {
	testutil.InitORT(t)
	student := testmodels.CNN(testmodels.CNNConfig{InputSize: 8, Channels: []int64{3, 4}, Seed: 4})
	// With a hint term on the first normalised activation [4, 3, 8, 8]
	// (before Relu and MaxPool, whose kinks finite differences may cross).
	var normed string
	for _, n := range student.Graph.Node {
		if n.OpType == "BatchNormalization" && normed == "" {
			normed = n.Output[0]
		}
	}
	p, _, err := PrepareStudent(student)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := BuildTrainGraph(p, "logits", LossConfig{Kind: LossKL, Temperature: 2, Alpha: 1,
		Hints: []Hint{{Value: normed, Keep: []int{0, 1, 2}}}, HintWeight: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tg.Model.Graph.Node {
		if n.OpType == "BatchNormalization" {
			t.Fatalf("node %s was not rewritten", n.Name)
		}
	}
	want := []string{"bn1.bias", "bn1.scale", "bn2.bias", "bn2.scale", "conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc.bias", "fc.weight"}
	if got := slices.Sorted(slices.Values(tg.Params)); !slices.Equal(got, want) {
		t.Fatalf("trainable %v, want %v", got, want)
	}
	b, ref := studentBatch(t, student, 4, 2)
	ts, err := ort.NewSessionFromModel(tg.Model, ort.Options{ExtraOutputs: []string{"logits"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	// A teacher that disagrees, so the gradients are not zero.
	r := rand.New(rand.NewPCG(7, 7))
	teach := make([]float32, 4*10)
	for i := range teach {
		teach[i] = float32(r.NormFloat64() * 2)
	}
	feeds := map[string]*tensor.Tensor{"input": b.Inputs["input"], teacherInput: tensor.MustNew([]int64{4, 10}, teach), softScale: scalar(1)}
	params := paramFeeds(student, tg, feeds)
	hint := make([]float32, 4*3*8*8)
	for i := range hint {
		hint[i] = float32(r.NormFloat64())
	}
	feeds[hintInput(0)], feeds[hintScale(0)] = tensor.MustNew([]int64{4, 3, 8, 8}, hint), scalar(0.02)
	out, err := ts.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	sameLogits(t, ref["logits"], out["logits"], 1e-4, 1e-4)
	loss := func() float64 {
		o, err := ts.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := tensor.AsFloat64(o[lossName])
		return l[0]
	}
	const eps = 1e-2
	for i, name := range tg.Params {
		grad := tensor.Values[float32](out[tg.Grads[i]])
		w := params[name]
		for _, k := range []int{0, len(w) / 2, len(w) - 1} {
			orig := w[k]
			w[k] = orig + eps
			up := loss()
			w[k] = orig - eps
			down := loss()
			w[k] = orig
			num := (up - down) / (2 * eps)
			if d := math.Abs(float64(grad[k]) - num); d > 2e-3+2e-2*math.Abs(num) {
				t.Errorf("%s[%d]: gradient %v, finite differences %v", name, k, grad[k], num)
			}
		}
	}
}

// TestTrainGraphKeepsOddBatchNorm: a BatchNormalization whose variance
// makes 1/√(var + ε) non-finite is left as it is (its own gradient rule
// applies).
func TestTrainGraphKeepsOddBatchNorm(t *testing.T) {
	testutil.InitORT(t)
	student := testmodels.CNN(testmodels.CNNConfig{InputSize: 8, Channels: []int64{3, 4}, Seed: 4})
	for _, in := range student.Graph.Initializer {
		if in.Name == "bn1.var" {
			in.FloatData = []float32{-1, -1, -1}
			in.RawData = nil
		}
	}
	tg := trainGraph(t, student, 2)
	var kept []string
	for _, n := range tg.Model.Graph.Node {
		if n.OpType == "BatchNormalization" {
			kept = append(kept, n.Input[1])
		}
	}
	if !slices.Equal(kept, []string{"bn1.scale"}) {
		t.Fatalf("BatchNormalization nodes left: %v, want bn1's only", kept)
	}
}
