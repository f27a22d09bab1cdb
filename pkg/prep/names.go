package prep

import (
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// NameNodes gives every node of g's main graph a name of its own, for the
// passes and reports that refer to nodes by name (--exclude-nodes, the
// accuracy-aware search, the per-node decisions). PyTorch's exporter
// leaves nodes unnamed, and merged graphs repeat names, which ONNX Runtime
// refuses. It returns how many unnamed nodes it named and how many
// repeated names it replaced.
//
// A named node keeps its name where it is the first to use it. An unnamed
// node is named after its first output (a value name, unique in the graph
// and stable when other nodes are added or removed, so an exclusion list
// written against one run still applies to the next), or its op type when
// it has no output; a node repeating an earlier name is named after that
// name. When the chosen name is taken, "_1", "_2", ... is appended, the
// first free one in graph order. Subgraph nodes are left alone: only the
// main graph is quantized or pruned node by node.
func NameNodes(g *onnxpb.GraphProto) (named, renamed int) {
	taken := make(map[string]bool, len(g.GetNode()))
	var fresh []*onnxpb.NodeProto // unnamed, or repeating an earlier name
	for _, n := range g.GetNode() {
		if name := n.GetName(); name != "" && !taken[name] {
			taken[name] = true
		} else {
			fresh = append(fresh, n)
		}
	}
	for _, n := range fresh {
		base := n.GetName()
		if base == "" {
			named++
			base = firstOutput(n)
		} else {
			renamed++
		}
		name := base
		for k := 1; taken[name]; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		taken[name] = true
		n.Name = name
	}
	return named, renamed
}

// firstOutput returns n's first non-empty output name, else its op type.
func firstOutput(n *onnxpb.NodeProto) string {
	for _, o := range n.GetOutput() {
		if o != "" {
			return o
		}
	}
	if n.GetOpType() != "" {
		return n.GetOpType()
	}
	return "node"
}

func nameNodesPass(m *onnxpb.ModelProto, res *Result) error {
	named, renamed := NameNodes(m.GetGraph())
	var parts []string
	if named > 0 {
		parts = append(parts, fmt.Sprintf("named %d unnamed %s after %s", named, plural(named, "node", "nodes"), plural(named, "its output", "their outputs")))
	}
	if renamed > 0 {
		parts = append(parts, fmt.Sprintf("renamed %d %s whose %s an earlier node's", renamed, plural(renamed, "node", "nodes"), plural(renamed, "name repeated", "names repeated")))
	}
	if len(parts) > 0 {
		res.note("%s", strings.Join(parts, "; "))
	}
	return nil
}
