package quantize

import (
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// poolBeforeRelu rewrites Conv → Relu → MaxPool as Conv → MaxPool → Relu
// after each convolution the plan keeps float. Max pooling commutes with
// Relu (both are monotonic), so results are identical; but where the
// quantized part of the model starts after the pooling, the quantizer then
// follows the Relu (which ONNX Runtime folds into it) instead of the
// MaxPool, which ONNX Runtime would move the quantizer above and run as a
// slow int8 NCHW MaxPool (7 ms against 0.4 ms in float on the 224×224
// test CNN). It also applies Relu to four times fewer values. It returns
// how many pairs it swapped.
func poolBeforeRelu(m *onnxpb.ModelProto, p *Plan) int {
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	info := map[string]*onnxpb.ValueInfoProto{}
	for _, v := range g.GetValueInfo() {
		info[v.GetName()] = v
	}
	single := func(name string) *onnxpb.NodeProto {
		us := ix.Consumers(name)
		if len(us) != 1 || us[0].Input != 0 || ix.IsOutput(name) {
			return nil
		}
		return us[0].Node
	}
	n := 0
	for _, conv := range g.GetNode() {
		if conv.GetOpType() != "Conv" || len(conv.GetOutput()) == 0 || p.quantizedOut[conv.GetOutput()[0]] {
			continue
		}
		relu := single(conv.GetOutput()[0])
		if relu == nil || relu.GetOpType() != "Relu" {
			continue
		}
		pool := single(relu.GetOutput()[0])
		if pool == nil || pool.GetOpType() != "MaxPool" || len(pool.GetOutput()) != 1 {
			continue
		}
		a, b, c := relu.Input[0], relu.Output[0], pool.Output[0]
		pool.Input[0], pool.Output[0] = a, b
		relu.Input[0], relu.Output[0] = b, c
		// b now has the pooled shape, which c's value_info describes.
		if vc, ok := info[c]; ok {
			if vb, ok := info[b]; ok {
				vb.Type = proto.Clone(vc.GetType()).(*onnxpb.TypeProto)
			}
		} else {
			dropValueInfo(g, b)
		}
		n++
	}
	if n > 0 {
		graph.SortNodes(g)
	}
	return n
}
