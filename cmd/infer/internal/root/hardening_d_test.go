package root

import (
	"fmt"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Hardening (issue 15, item 6): subgraph nesting depth.

// nestedIfModel returns a model of depth Ifs, each in the then-branch of
// the one before, every branch reading the main graph's x.
func nestedIfModel(depth int) *onnxpb.ModelProto {
	identity := func(out string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: out, Node: []*onnxpb.NodeProto{{OpType: "Identity", Input: []string{"x"}, Output: []string{out}}},
			Output: []*onnxpb.ValueInfoProto{testmodels.ValueInfo(out, tensor.Float32, 2)}}
	}
	g := identity(fmt.Sprintf("y%d", depth))
	for level := depth; level >= 1; level-- {
		out := fmt.Sprintf("y%d", level-1)
		g = &onnxpb.GraphProto{Name: out, Node: []*onnxpb.NodeProto{{OpType: "If", Input: []string{"c"}, Output: []string{out}, Attribute: []*onnxpb.AttributeProto{
			testmodels.AttrGraph("then_branch", g), testmodels.AttrGraph("else_branch", identity(fmt.Sprintf("e%d", level))),
		}}}, Output: []*onnxpb.ValueInfoProto{testmodels.ValueInfo(out, tensor.Float32, 2)}}
	}
	g.Input = []*onnxpb.ValueInfoProto{testmodels.ValueInfo("c", tensor.Bool), testmodels.ValueInfo("x", tensor.Float32, 2)}
	return &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g}
}

// A model nested 400 Ifs deep (accepted before, after a validation
// quadratic in the depth: 37 s at 1,600 levels) is refused at
// once with one line naming its depth and the limit; one nested to the
// limit is accepted and runs.
func TestNestingDepthLimitCLI(t *testing.T) {
	dir := t.TempDir()
	deep := writeProto(t, dir, "deep.onnx", nestedIfModel(400))
	r := infer(t, "inspect", deep)
	oneLineError(t, r, 1, fmt.Sprintf("subgraph nesting depth 400 exceeds the limit of %d", graph.MaxSubgraphDepth))
	ok := writeProto(t, dir, "ok.onnx", nestedIfModel(graph.MaxSubgraphDepth))
	if r := infer(t, "eval", ok, "--data", "random", "--input-value", "c=1"); r.code != 0 {
		t.Fatalf("depth %d: exit %d: %s", graph.MaxSubgraphDepth, r.code, r.stderr)
	}
}
