package quantize

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
)

// Kernels is what ONNX Runtime runs for a quantized model after its graph
// optimizations: QDQ placement is only worth what ORT fuses.
type Kernels struct {
	// Ops counts the optimized graph's nodes by op type (QLinearConv,
	// QGemm, DynamicQuantizeMatMul, …).
	Ops map[string]int `json:"ops"`
	// Unfused names the compute nodes ORT runs in float on dequantized
	// inputs: a quantized node it did not turn into an int8 kernel, which
	// costs the DequantizeLinear on top of the float work.
	Unfused []string `json:"unfused,omitempty"`
}

// computeOps are the op types whose float form fed by a DequantizeLinear
// means a missed int8 kernel.
var computeOps = map[string]bool{"Conv": true, "MatMul": true, "Gemm": true, "Add": true, "Mul": true,
	"Concat": true, "GlobalAveragePool": true, "AveragePool": true, "ConvTranspose": true}

// ORTKernels saves the model as ONNX Runtime optimizes it on the session's
// provider and reads what it runs. quantized names the nodes the plan
// quantized: only those count as unfused (a float node at the edge of an
// int8 region reads a DequantizeLinear by design).
func ORTKernels(m *onnxpb.ModelProto, so ort.Options, quantized map[string]bool) (*Kernels, error) {
	dir, err := os.MkdirTemp("", "infer-kernels")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	so.OptimizedModelPath = filepath.Join(dir, "optimized.onnx")
	so.ExtraOutputs = nil
	s, err := ort.NewSessionFromModel(m, so)
	if err != nil {
		return nil, err
	}
	s.Close()
	om, err := onnx.Load(so.OptimizedModelPath, onnx.LoadOptions{})
	if err != nil {
		return nil, err
	}
	g := om.Proto.GetGraph()
	ix := graph.NewIndex(g)
	k := &Kernels{Ops: map[string]int{}}
	for _, n := range g.GetNode() {
		k.Ops[n.GetOpType()]++
		if !computeOps[n.GetOpType()] || !graph.IsDefaultDomain(n.GetDomain()) || !quantized[n.GetName()] {
			continue
		}
		for _, in := range n.GetInput() {
			if p, _ := ix.Producer(in); p != nil && p.GetOpType() == "DequantizeLinear" {
				k.Unfused = append(k.Unfused, n.GetName())
				break
			}
		}
	}
	sort.Strings(k.Unfused)
	return k, nil
}
