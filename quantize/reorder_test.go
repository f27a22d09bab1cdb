package quantize

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// On the 224×224 CNN the 3-channel first convolution stays float and its
// MaxPool moves before its Relu; the float model's outputs do not change.
func TestPoolBeforeReluKeepsResults(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.CNN(testmodels.CNN224Config())
	f, _, err := Prepare(m, Static)
	if err != nil {
		t.Fatal(err)
	}
	p, err := BuildPlan(f, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Nodes[0].OpType != "Conv" || p.Nodes[0].Quantized {
		t.Fatalf("first convolution should stay float: %+v", p.Nodes[0])
	}
	swapped := proto.Clone(f).(*onnxpb.ModelProto)
	if n := poolBeforeRelu(swapped, p); n != 1 {
		t.Fatalf("swapped %d pairs, want 1", n)
	}
	order := []string{}
	for _, n := range swapped.Graph.Node[:3] {
		order = append(order, n.OpType)
	}
	if order[0] != "Conv" || order[1] != "MaxPool" || order[2] != "Relu" {
		t.Fatalf("order %v", order)
	}
	src := randomBatch(t, m, 1)
	b, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	run := func(m *onnxpb.ModelProto) []float32 {
		s, err := ort.NewSessionFromModel(m, ort.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.Run(b.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		return tensor.Values[float32](out["logits"])
	}
	a, c := run(f), run(swapped)
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("logit %d: %v before, %v after the swap", i, a[i], c[i])
		}
	}
	// A first convolution on a tiny map (12×12, under 16×16) is still
	// quantized; at 32×32 it stays float too.
	small, _, err := Prepare(testmodels.CNN(testmodels.CNNConfig{InputSize: 12}), Static)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := BuildPlan(small, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sp.Nodes[0].Quantized {
		t.Fatalf("small first convolution stayed float: %+v", sp.Nodes[0])
	}
}
