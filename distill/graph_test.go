package distill

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// reluPools counts the Relu → MaxPool pairs of a training graph (a Relu
// whose output a MaxPool reads) and its Relu nodes.
func reluPools(g *onnxpb.GraphProto) (pairs, relus int) {
	idx := graph.NewIndex(g)
	for _, n := range g.Node {
		if n.OpType != "Relu" {
			continue
		}
		relus++
		for _, u := range idx.Consumers(n.Output[0]) {
			if u.Node.OpType == "MaxPool" {
				pairs++
			}
		}
	}
	return pairs, relus
}

// TestPoolBeforeRelu: the training graph of the testdata CNN pools before
// its Relu (poolBeforeRelu: both Relu → MaxPool pairs become MaxPool →
// Relu, no Relu lost), except where a hint reads the Relu's output; and
// the rewritten graph gives the same loss and the same gradient of every
// weight as the graph left as it is (built with hints on both Relu
// outputs, their weight fed as 0), on a batch whose constant images make
// tied positive maxima and all-zero windows.
func TestPoolBeforeRelu(t *testing.T) {
	testutil.InitORT(t)
	student := testmodels.CNN(testmodels.CNNConfig{InputSize: 16, Channels: []int64{4, 8, 8}, Seed: 3})
	p, _, err := PrepareStudent(student)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := BuildTrainGraph(p, "logits", LossConfig{Kind: LossKL, Temperature: 2, Alpha: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pairs, relus := reluPools(fast.Model.Graph); pairs != 0 || relus != 3 {
		t.Fatalf("training graph: %d Relu → MaxPool pairs and %d Relu nodes, want 0 and 3", pairs, relus)
	}
	// Hints on the two pooled Relu outputs keep those pairs as they are.
	var hints []Hint
	pidx := graph.NewIndex(p.Graph)
	for _, n := range p.Graph.Node {
		if n.OpType == "MaxPool" {
			prod, _ := pidx.Producer(n.Input[0])
			if prod == nil || prod.OpType != "Relu" {
				t.Fatalf("MaxPool %s does not read a Relu", n.Name)
			}
			s, _ := valueShape(p.Graph, n.Input[0])
			keep := make([]int, s[1])
			for i := range keep {
				keep[i] = i
			}
			hints = append(hints, Hint{Value: n.Input[0], Keep: keep})
		}
	}
	plain, err := BuildTrainGraph(p, "logits", LossConfig{Kind: LossKL, Temperature: 2, Alpha: 1, Hints: hints, HintWeight: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pairs, _ := reluPools(plain.Model.Graph); pairs != 2 {
		t.Fatalf("with hints on the Relu outputs: %d Relu → MaxPool pairs, want 2", pairs)
	}
	// Two random images, one constant positive and one constant negative.
	const n, size = 4, 3 * 16 * 16
	r := rand.New(rand.NewPCG(5, 5))
	img := make([]float32, n*size)
	for i := range img {
		switch i / size {
		case 0, 1:
			img[i] = float32(r.NormFloat64())
		case 2:
			img[i] = 0.5
		default:
			img[i] = -0.5
		}
	}
	teach := make([]float32, n*10)
	for i := range teach {
		teach[i] = float32(r.NormFloat64() * 2)
	}
	feeds := map[string]*tensor.Tensor{"input": tensor.MustNew([]int64{n, 3, 16, 16}, img),
		teacherInput: tensor.MustNew([]int64{n, 10}, teach), softScale: scalar(1)}
	paramFeeds(student, fast, feeds)
	got := runTrain(t, fast, feeds)
	for k, h := range hints {
		s, _ := valueShape(p.Graph, h.Value)
		s[0] = n
		feeds[hintInput(k)] = tensor.MustNew(s, make([]float32, testmodels.Numel(s)))
		feeds[hintScale(k)] = scalar(0)
	}
	want := runTrain(t, plain, feeds)
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Fatalf("%s: %d values, want %d", name, len(g), len(w))
		}
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > 1e-5+1e-4*math.Abs(float64(w[i])) {
				t.Fatalf("%s[%d]: %v pooling before Relu, %v after", name, i, g[i], w[i])
			}
		}
	}
}

// runTrain runs a training graph once and returns its loss and gradients
// by the names of loss and weights.
func runTrain(t *testing.T, tg *TrainGraph, feeds map[string]*tensor.Tensor) map[string][]float32 {
	t.Helper()
	s, err := ort.NewSessionFromModel(tg.Model, trainingSession(ort.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]float32{lossName: tensor.Values[float32](out[lossName])}
	for i, g := range tg.Grads {
		res[tg.Params[i]] = tensor.Values[float32](out[g])
	}
	return res
}
