package graph_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// FuzzPasses feeds arbitrary model bytes to every pass: none may panic,
// whatever the model holds.
func FuzzPasses(f *testing.F) {
	for _, m := range []*onnxpb.ModelProto{
		testmodels.Legacy(7), testmodels.Legacy(9), testmodels.IfConstantBranches(),
		testmodels.MLP(testmodels.MLPConfig{WeightsAsConstants: true, Hidden: []int64{4}, In: 3, Classes: 2}),
		validModel(),
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 13)
	}
	f.Fuzz(func(t *testing.T, b []byte, target int) {
		m := &onnxpb.ModelProto{}
		if proto.Unmarshal(b, m) != nil {
			return
		}
		_ = graph.Validate(m)
		x := graph.NewIndex(m.GetGraph())
		for _, n := range m.GetGraph().GetNode() {
			x.Consumers(n.GetName())
			graph.ImplicitInputs(n)
		}
		_, _ = graph.Topo(m.GetGraph())
		_, _ = graph.ConstantsToInitializers(m)
		_ = graph.UpgradeOpset(m, target%25)
		if m.GetGraph() != nil {
			_ = graph.SortNodes(m.Graph)
			_, _ = graph.EliminateDeadCode(m.Graph)
			graph.UniqueName(m.Graph, "x")
		}
	})
}
