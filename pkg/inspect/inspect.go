// Package inspect summarises an ONNX model: versions, signature, operator
// histogram, parameters by element type (initializers, Constant nodes and
// subgraph weights alike), weight sparsity, quantization state, external
// data, and estimated FLOPs of Conv/MatMul/Gemm-like nodes.
//
// FLOPs count multiply-adds as two operations, for one batch: batch size
// 1 unless the model fixes it, other dynamic dimensions at a realistic
// size the model runs at (224 for images, 128 for sequences, unless given;
// FLOPs.Inputs says which). Shapes come from running the model once in
// ONNX Runtime on random inputs with the values the estimate reads exposed;
// without a runtime, from the model's value_info where present.
package inspect

import (
	"fmt"
	"sort"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Summary is what Inspect reports. Its JSON form is `infer inspect --json`.
type Summary struct {
	Path            string       `json:"path,omitempty"`
	SHA256          string       `json:"sha256,omitempty"`
	FileBytes       int64        `json:"file_bytes"`
	ExternalBytes   int64        `json:"external_bytes,omitempty"`
	ExternalFiles   []string     `json:"external_files,omitempty"`
	IRVersion       int64        `json:"ir_version"`
	Opsets          []Opset      `json:"opsets"`
	Producer        string       `json:"producer,omitempty"`
	ProducerVersion string       `json:"producer_version,omitempty"`
	GraphName       string       `json:"graph_name,omitempty"`
	Inputs          []Value      `json:"inputs"`
	Outputs         []Value      `json:"outputs"`
	Nodes           int          `json:"nodes"`
	SubgraphNodes   int          `json:"subgraph_nodes,omitempty"`
	Subgraphs       int          `json:"subgraphs,omitempty"`
	Functions       int          `json:"functions,omitempty"`
	Ops             []OpCount    `json:"ops"`
	Params          []ParamGroup `json:"params"`
	// FloatParams counts elements of floating-point weights (any width).
	FloatParams int64 `json:"float_params"`
	ParamBytes  int64 `json:"param_bytes"`
	// ConstantWeights and SubgraphWeights count weight tensors held in
	// Constant nodes and inside If/Loop/Scan subgraphs.
	ConstantWeights int `json:"constant_weights,omitempty"`
	SubgraphWeights int `json:"subgraph_weights,omitempty"`
	// Sparsity is the fraction of exactly-zero float weight elements.
	Sparsity     float64      `json:"sparsity"`
	Quantization Quantization `json:"quantization"`
	FLOPs        FLOPs        `json:"flops"`
}

// Opset is one operator set import.
type Opset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// Value is a graph input or output.
type Value struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []string `json:"shape,omitempty"`
}

// OpCount is one operator type ("Conv", "com.microsoft.MatMulNBits") and
// how many nodes use it, subgraphs included.
type OpCount struct {
	Op    string `json:"op"`
	Count int    `json:"count"`
}

// ParamGroup totals weights of one element type.
type ParamGroup struct {
	DType    string `json:"dtype"`
	Tensors  int    `json:"tensors"`
	Elements int64  `json:"elements"`
	Bytes    int64  `json:"bytes"`
}

// Quantization describes how the model is quantized, if at all.
type Quantization struct {
	// Formats found: "QDQ", "QOperator", "MatMulNBits", "fp16", "bf16";
	// empty for a plain float model.
	Formats          []string `json:"formats"`
	QuantizeLinear   int      `json:"quantize_linear,omitempty"`
	DequantizeLinear int      `json:"dequantize_linear,omitempty"`
	QOperators       int      `json:"qoperators,omitempty"`
	MatMulNBits      int      `json:"matmul_nbits,omitempty"`
}

// FLOPs is the estimate for one sample.
type FLOPs struct {
	Total int64            `json:"total"`
	ByOp  map[string]int64 `json:"by_op,omitempty"`
	// Nodes estimated, and nodes of counted types whose shapes were unknown.
	Counted int    `json:"counted"`
	Unknown int    `json:"unknown,omitempty"`
	Source  string `json:"source"` // "onnxruntime", "value_info" or "none"
	Note    string `json:"note,omitempty"`
	// Inputs describes the input shapes the estimate is for, "x [1 3 224
	// 224]", and Batch their batch size (the model's fixed one, or 1).
	Inputs string `json:"inputs,omitempty"`
	Batch  int    `json:"batch,omitempty"`
}

var qOperators = map[string]bool{
	"QLinearConv": true, "QLinearMatMul": true, "MatMulInteger": true, "ConvInteger": true,
	"QLinearAdd": true, "QLinearMul": true, "QLinearConcat": true, "QLinearAveragePool": true,
	"QLinearGlobalAveragePool": true, "QLinearLeakyRelu": true, "QLinearSigmoid": true,
	"QLinearSoftmax": true, "QGemm": true, "DynamicQuantizeMatMul": true, "QAttention": true,
	"DynamicQuantizeLinear": true, "MatMulIntegerToFloat": true,
}

// Inspect summarises a loaded model. shapes maps value names to concrete
// shapes for the FLOP estimate (see Shapes); nil uses value_info.
func Inspect(m *onnx.Model, shapes map[string][]int64) *Summary {
	p := m.Proto
	g := p.GetGraph()
	s := &Summary{
		Path: m.Path, SHA256: m.SHA256, FileBytes: m.FileBytes,
		ExternalBytes: m.ExternalBytes, ExternalFiles: m.ExternalFiles,
		IRVersion: p.GetIrVersion(), Producer: p.GetProducerName(),
		ProducerVersion: p.GetProducerVersion(), GraphName: g.GetName(),
		Functions: len(p.GetFunctions()),
	}
	for _, o := range p.GetOpsetImport() {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		s.Opsets = append(s.Opsets, Opset{d, o.GetVersion()})
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			s.Inputs = append(s.Inputs, describe(in))
		}
	}
	for _, out := range g.GetOutput() {
		s.Outputs = append(s.Outputs, describe(out))
	}

	ops := map[string]int{}
	var countNodes func(g *onnxpb.GraphProto, depth int)
	countNodes = func(g *onnxpb.GraphProto, depth int) {
		for _, n := range g.GetNode() {
			if depth == 0 {
				s.Nodes++
			} else {
				s.SubgraphNodes++
			}
			ops[opName(n)]++
			switch {
			case n.GetOpType() == "QuantizeLinear":
				s.Quantization.QuantizeLinear++
			case n.GetOpType() == "DequantizeLinear":
				s.Quantization.DequantizeLinear++
			case n.GetOpType() == "MatMulNBits":
				s.Quantization.MatMulNBits++
			case qOperators[n.GetOpType()]:
				s.Quantization.QOperators++
			}
			for _, a := range n.GetAttribute() {
				for _, sg := range subgraphs(a) {
					s.Subgraphs++
					countNodes(sg, depth+1)
				}
			}
		}
	}
	countNodes(g, 0)
	for op, c := range ops {
		s.Ops = append(s.Ops, OpCount{op, c})
	}
	sort.Slice(s.Ops, func(i, j int) bool {
		if s.Ops[i].Count != s.Ops[j].Count {
			return s.Ops[i].Count > s.Ops[j].Count
		}
		return s.Ops[i].Op < s.Ops[j].Op
	})

	groups := map[tensor.DType]*ParamGroup{}
	var zeros, floats int64
	onnx.Tensors(p, func(t *onnxpb.TensorProto, where string) error {
		d := tensor.DType(t.GetDataType())
		n := int64(1)
		for _, x := range t.GetDims() {
			n *= x
		}
		grp := groups[d]
		if grp == nil {
			grp = &ParamGroup{DType: d.String()}
			groups[d] = grp
		}
		grp.Tensors++
		grp.Elements += n
		if b, err := onnx.ExpectedBytes(t); err == nil {
			grp.Bytes += b
		}
		if strings.Contains(where, "subgraph") {
			s.SubgraphWeights++
		} else if strings.Contains(where, "attribute") {
			s.ConstantWeights++
		}
		if d.IsFloat() {
			s.FloatParams += n
			if tt, err := tensor.FromProto(t); err == nil {
				if vals, err := tensor.AsFloat64(tt); err == nil {
					floats += int64(len(vals))
					for _, v := range vals {
						if v == 0 {
							zeros++
						}
					}
				}
			}
		}
		return nil
	})
	for _, grp := range groups {
		s.Params = append(s.Params, *grp)
		s.ParamBytes += grp.Bytes
	}
	sort.Slice(s.Params, func(i, j int) bool { return s.Params[i].Bytes > s.Params[j].Bytes })
	if floats > 0 {
		s.Sparsity = float64(zeros) / float64(floats)
	}
	s.Quantization.Formats = formats(s, groups)
	s.FLOPs = estimateFLOPs(p, shapes)
	return s
}

func formats(s *Summary, groups map[tensor.DType]*ParamGroup) []string {
	f := []string{}
	q := s.Quantization
	if q.QuantizeLinear+q.DequantizeLinear > 0 {
		f = append(f, "QDQ")
	}
	if q.QOperators > 0 {
		f = append(f, "QOperator")
	}
	if q.MatMulNBits > 0 {
		f = append(f, "MatMulNBits")
	}
	if g := groups[tensor.Float16]; g != nil && g.Elements > 0 {
		f = append(f, "fp16")
	}
	if g := groups[tensor.BFloat16Type]; g != nil && g.Elements > 0 {
		f = append(f, "bf16")
	}
	return f
}

func opName(n *onnxpb.NodeProto) string {
	if d := n.GetDomain(); !graph.IsDefaultDomain(d) {
		return d + "." + n.GetOpType()
	}
	return n.GetOpType()
}

func subgraphs(a *onnxpb.AttributeProto) []*onnxpb.GraphProto {
	gs := append([]*onnxpb.GraphProto{}, a.GetGraphs()...)
	if a.GetG() != nil {
		gs = append(gs, a.GetG())
	}
	return gs
}

func describe(v *onnxpb.ValueInfoProto) Value {
	out := Value{Name: v.GetName()}
	tp := v.GetType()
	switch {
	case tp.GetTensorType() != nil:
		out.Type = tensor.DType(tp.GetTensorType().GetElemType()).String()
		if sh := tp.GetTensorType().GetShape(); sh != nil {
			out.Shape = []string{}
			for _, d := range sh.GetDim() {
				switch x := d.Value.(type) {
				case *onnxpb.TensorShapeProto_Dimension_DimValue:
					out.Shape = append(out.Shape, fmt.Sprint(x.DimValue))
				case *onnxpb.TensorShapeProto_Dimension_DimParam:
					out.Shape = append(out.Shape, x.DimParam)
				default:
					out.Shape = append(out.Shape, "?")
				}
			}
		}
	case tp.GetSequenceType() != nil:
		out.Type = "sequence"
	case tp.GetMapType() != nil:
		out.Type = "map"
	case tp.GetOptionalType() != nil:
		out.Type = "optional"
	case tp.GetSparseTensorType() != nil:
		out.Type = "sparse " + tensor.DType(tp.GetSparseTensorType().GetElemType()).String()
	default:
		out.Type = "unknown"
	}
	return out
}
