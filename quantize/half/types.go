package half

import (
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Element types used here, as ONNX numbers them.
const (
	tFloat  = int32(onnxpb.TensorProto_FLOAT)
	tInt32  = int32(onnxpb.TensorProto_INT32)
	tInt64  = int32(onnxpb.TensorProto_INT64)
	tBool   = int32(onnxpb.TensorProto_BOOL)
	tF16    = int32(onnxpb.TensorProto_FLOAT16)
	tBF16   = int32(onnxpb.TensorProto_BFLOAT16)
	tDouble = int32(onnxpb.TensorProto_DOUBLE)
)

// scope is one graph (the main graph or a subgraph) with the element type
// of every value it defines, before and after conversion.
type scope struct {
	g      *onnxpb.GraphProto
	parent *scope
	main   bool
	// force keeps the whole graph float32: the node holding it is blocked.
	force bool
	where string // prefix for messages, "" for the main graph

	elem     map[string]int32 // element type before conversion (0: unknown)
	nonTens  map[string]bool  // sequences and optionals: no Cast applies
	producer map[string]*onnxpb.NodeProto
	init     map[string]*onnxpb.TensorProto // dense initializers that are not inputs
	sparse   map[string]*onnxpb.SparseTensorProto
	input    map[string]bool
	final    map[string]int32 // element type after conversion, float32 values only
	subs     map[*onnxpb.NodeProto][]*scope
	casts    map[castKey]string
}

type castKey struct {
	name string
	to   int32
}

func newScope(g *onnxpb.GraphProto, parent *scope, where string) *scope {
	return &scope{
		g: g, parent: parent, main: parent == nil, where: where,
		elem:     make(map[string]int32),
		nonTens:  make(map[string]bool),
		producer: make(map[string]*onnxpb.NodeProto),
		init:     make(map[string]*onnxpb.TensorProto),
		sparse:   make(map[string]*onnxpb.SparseTensorProto),
		input:    make(map[string]bool),
		final:    make(map[string]int32),
		subs:     make(map[*onnxpb.NodeProto][]*scope),
		casts:    make(map[castKey]string),
	}
}

// defines reports whether this graph itself defines name.
func (s *scope) defines(name string) bool {
	_, ok := s.elem[name]
	return ok
}

// resolve returns the scope that defines name as seen from s, or nil.
func (s *scope) resolve(name string) *scope {
	for t := s; t != nil; t = t.parent {
		if t.defines(name) {
			return t
		}
	}
	return nil
}

// typeOf returns name's element type before conversion as seen from s.
func (s *scope) typeOf(name string) int32 {
	if d := s.resolve(name); d != nil {
		return d.elem[name]
	}
	return 0
}

// finalOf returns name's element type after conversion as seen from s.
func (s *scope) finalOf(name string) int32 {
	d := s.resolve(name)
	if d == nil {
		return 0
	}
	if t, ok := d.final[name]; ok {
		return t
	}
	return d.elem[name]
}

// label names a place for messages.
func (s *scope) label(what string) string {
	if s.where == "" {
		return what
	}
	return s.where + ": " + what
}

func nodeLabel(n *onnxpb.NodeProto) string {
	op := n.GetOpType()
	if d := n.GetDomain(); !graph.IsDefaultDomain(d) {
		op = d + "." + op
	}
	if n.GetName() != "" {
		return fmt.Sprintf("node %q (%s)", n.GetName(), op)
	}
	return fmt.Sprintf("unnamed %s node", op)
}

// typeElem returns the element type a TypeProto declares (for sequences
// and optionals, that of their tensors) and whether it is a tensor.
func typeElem(tp *onnxpb.TypeProto) (elem int32, tensor bool) {
	switch {
	case tp == nil:
		return 0, true
	case tp.GetTensorType() != nil:
		return tp.GetTensorType().GetElemType(), true
	case tp.GetSequenceType() != nil:
		e, _ := typeElem(tp.GetSequenceType().GetElemType())
		return e, false
	case tp.GetOptionalType() != nil:
		e, _ := typeElem(tp.GetOptionalType().GetElemType())
		return e, false
	}
	return 0, false
}

// setTypeElem sets the element type a TypeProto declares, looking through
// sequences and optionals; it does nothing to maps or a nil type.
func setTypeElem(tp *onnxpb.TypeProto, elem int32) {
	for tp != nil {
		switch {
		case tp.GetTensorType() != nil:
			tp.GetTensorType().ElemType = elem
			return
		case tp.GetSequenceType() != nil:
			tp = tp.GetSequenceType().GetElemType()
		case tp.GetOptionalType() != nil:
			tp = tp.GetOptionalType().GetElemType()
		default:
			return
		}
	}
}

func attrOf(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attrOf(n, name); a != nil && a.GetType() == onnxpb.AttributeProto_INT {
		return a.GetI()
	}
	return def
}

// castTo returns a Cast node's target type (Cast-1 spells it as a string).
func castTo(n *onnxpb.NodeProto) int32 {
	a := attrOf(n, "to")
	if a == nil {
		return 0
	}
	if a.GetType() == onnxpb.AttributeProto_STRING {
		if v, ok := onnxpb.TensorProto_DataType_value[strings.ToUpper(string(a.GetS()))]; ok {
			return v
		}
		return 0
	}
	return int32(a.GetI())
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// firstInputType lists default-domain operators whose first output has the
// element type of their first input.
var firstInputType = setOf(
	"Abs", "Acos", "Acosh", "Add", "AffineGrid", "Asin", "Asinh", "Atan", "Atanh", "Attention",
	"AveragePool", "BatchNormalization", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr",
	"BitwiseXor", "Ceil", "Celu", "CenterCropPad", "Clip", "Col2Im", "Compress", "Concat",
	"ConcatFromSequence", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DFT", "DeformConv",
	"DepthToSpace", "Det", "Div", "Dropout", "Einsum", "Elu", "Erf", "Exp", "Expand", "Flatten",
	"Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool",
	"GlobalLpPool", "GlobalMaxPool", "GridSample", "GroupNormalization", "HardSigmoid",
	"HardSwish", "Hardmax", "Identity", "InstanceNormalization", "LRN", "LSTM",
	"LayerNormalization", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LpPool",
	"MatMul", "Max", "MaxPool", "MaxRoiPool", "MaxUnpool", "Mean", "MeanVarianceNormalization",
	"Min", "Mish", "Mod", "Mul", "Neg", "NegativeLogLikelihoodLoss", "Optional",
	"OptionalGetElement", "PRelu", "Pad", "Pow", "RMSNormalization", "RNN", "Range",
	"Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
	"ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
	"Resize", "ReverseSequence", "RoiAlign", "RotaryEmbedding", "Round", "STFT", "Scatter",
	"ScatterElements", "ScatterND", "Selu", "SequenceAt", "SequenceConstruct", "SequenceErase",
	"SequenceInsert", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Slice", "Softmax",
	"SoftmaxCrossEntropyLoss", "Softplus", "Softsign", "SpaceToDepth", "Split", "SplitToSequence",
	"Sqrt", "Squeeze", "Sub", "Sum", "Swish", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK",
	"Transpose", "Trilu", "Unique", "Unsqueeze", "Upsample",
)

// allOutputsFirstType lists operators whose every output has the first
// input's element type.
var allOutputsFirstType = setOf("Split", "BatchNormalization", "GRU", "LSTM", "RNN",
	"SoftmaxCrossEntropyLoss", "Attention")

// sequenceOutputs lists operators whose output is a sequence or optional.
var sequenceOutputs = setOf("SequenceConstruct", "SequenceEmpty", "SequenceErase",
	"SequenceInsert", "SplitToSequence", "Optional")

// dtypeAttrOps produce their output's element type from an attribute
// (name, default; a default of 0 means "the first input's type").
var dtypeAttrOps = map[string]struct {
	attr string
	def  int32
}{
	"RandomNormal":      {"dtype", tFloat},
	"RandomUniform":     {"dtype", tFloat},
	"RandomNormalLike":  {"dtype", 0},
	"RandomUniformLike": {"dtype", 0},
	"Bernoulli":         {"dtype", 0},
	"EyeLike":           {"dtype", 0},
	"Multinomial":       {"dtype", tInt32},
	"SequenceEmpty":     {"dtype", tFloat},
	"HannWindow":        {"output_datatype", tFloat},
	"HammingWindow":     {"output_datatype", tFloat},
	"BlackmanWindow":    {"output_datatype", tFloat},
	"MelWeightMatrix":   {"output_datatype", tFloat},
}

// outputType infers the element type of output j of a default-domain node
// from its inputs and attributes (0 when unknown).
func (c *converter) outputType(s *scope, n *onnxpb.NodeProto, j int) int32 {
	op := n.GetOpType()
	in := func(i int) int32 {
		if i < len(n.GetInput()) && n.Input[i] != "" {
			return s.typeOf(n.Input[i])
		}
		return 0
	}
	switch op {
	case "Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression", "SequenceLength":
		return tInt64
	case "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not",
		"IsNaN", "IsInf", "OptionalHasElement", "RegexFullMatch":
		return tBool
	case "Cast":
		return castTo(n)
	case "CastLike", "Where":
		return in(1)
	case "OneHot":
		return in(2)
	case "TopK", "MaxPool", "Unique":
		if j > 0 {
			return tInt64
		}
	case "Dropout":
		if j > 0 && c.opset >= 10 {
			return tBool
		}
		return in(0) // the mask had the data's type before opset 10
	case "LayerNormalization":
		if j > 0 {
			return int32(attrInt(n, "stash_type", int64(tFloat)))
		}
	case "Constant":
		return constantType(n)
	case "ConstantOfShape":
		if a := attrOf(n, "value"); a != nil && a.GetT() != nil {
			return a.GetT().GetDataType()
		}
		return tFloat
	case "TfIdfVectorizer":
		return tFloat
	case "ImageDecoder":
		return int32(onnxpb.TensorProto_UINT8)
	}
	if d, ok := dtypeAttrOps[op]; ok {
		if a := attrOf(n, d.attr); a != nil {
			return int32(a.GetI())
		}
		if d.def != 0 {
			return d.def
		}
		return in(0)
	}
	if firstInputType[op] && (j == 0 || allOutputsFirstType[op]) {
		return in(0)
	}
	return 0
}

// constantType returns the element type of a Constant node's value.
func constantType(n *onnxpb.NodeProto) int32 {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			return a.GetT().GetDataType()
		case "sparse_value":
			return a.GetSparseTensor().GetValues().GetDataType()
		case "value_float", "value_floats":
			return tFloat
		case "value_int", "value_ints":
			return tInt64
		case "value_string", "value_strings":
			return int32(onnxpb.TensorProto_STRING)
		}
	}
	return 0
}

// build indexes g into a scope and infers the element type of every value
// it defines, recursing into subgraphs. It visits nodes in topological
// order without reordering g.
func (c *converter) build(g *onnxpb.GraphProto, parent *scope, where string, declared map[string]int32) (*scope, error) {
	s := newScope(g, parent, where)
	decl := make(map[string]*onnxpb.TypeProto)
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetValueInfo(), g.GetOutput(), g.GetInput()} {
		for _, v := range vs {
			if v.GetType() != nil {
				decl[v.GetName()] = v.GetType()
			}
		}
	}
	// A declared type wins over inference, except where an attribute fixes
	// the type (Cast, Constant, ConstantOfShape): Convert rewrites those.
	typed := func(name string, infer int32, nonTensor, fixed bool) {
		t := infer
		if tp, ok := decl[name]; ok {
			e, isTensor := typeElem(tp)
			if e != 0 && !(fixed && infer != 0) {
				t = e
			}
			nonTensor = nonTensor || !isTensor
		}
		s.elem[name] = t
		if nonTensor {
			s.nonTens[name] = true
		}
	}
	for _, v := range g.GetInput() {
		s.input[v.GetName()] = true
		typed(v.GetName(), declared[v.GetName()], false, false)
	}
	for _, t := range g.GetInitializer() {
		if !s.input[t.GetName()] {
			s.init[t.GetName()] = t
		}
		s.elem[t.GetName()] = t.GetDataType()
	}
	for _, st := range g.GetSparseInitializer() {
		name := st.GetValues().GetName()
		if !s.input[name] {
			s.sparse[name] = st
		}
		s.elem[name] = st.GetValues().GetDataType()
	}
	order, err := graph.Topo(g)
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		var subOut [][]int32 // per subgraph, output element types
		var subNonTens [][]bool
		for _, a := range n.GetAttribute() {
			gs := a.GetGraphs()
			if a.GetG() != nil {
				gs = append([]*onnxpb.GraphProto{a.GetG()}, gs...)
			}
			for _, sg := range gs {
				w := fmt.Sprintf("%s attribute %q", nodeLabel(n), a.GetName())
				if where != "" {
					w = where + ": " + w
				}
				sub, err := c.build(sg, s, w, c.subgraphInputTypes(s, n, sg))
				if err != nil {
					return nil, err
				}
				s.subs[n] = append(s.subs[n], sub)
				var ts []int32
				var ns []bool
				for _, o := range sg.GetOutput() {
					ts = append(ts, sub.typeOf(o.GetName()))
					ns = append(ns, sub.resolve(o.GetName()) != nil && sub.resolve(o.GetName()).nonTens[o.GetName()])
				}
				subOut = append(subOut, ts)
				subNonTens = append(subNonTens, ns)
			}
		}
		for j, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			s.producer[o] = n
			var t int32
			nonTensor := false
			switch {
			case !graph.IsDefaultDomain(n.GetDomain()):
			case n.GetOpType() == "If" && len(subOut) > 0:
				t, nonTensor = pick(subOut[0], subNonTens[0], j)
			case n.GetOpType() == "Loop" && len(subOut) > 0:
				t, nonTensor = pick(subOut[0], subNonTens[0], j+1)
			case n.GetOpType() == "Scan" && len(subOut) > 0:
				t, nonTensor = pick(subOut[0], subNonTens[0], j)
			case n.GetOpType() == "SequenceMap" && len(subOut) > 0:
				t, _ = pick(subOut[0], subNonTens[0], j)
				nonTensor = true
			default:
				t = c.outputType(s, n, j)
				nonTensor = sequenceOutputs[n.GetOpType()]
				if !nonTensor && firstInputType[n.GetOpType()] && len(n.GetInput()) > 0 {
					// Identity and Optional* pass sequences through.
					if d := s.resolve(n.Input[0]); d != nil && d.nonTens[n.Input[0]] &&
						(n.GetOpType() == "Identity" || n.GetOpType() == "Optional") {
						nonTensor = true
					}
				}
			}
			fixed := graph.IsDefaultDomain(n.GetDomain()) &&
				(n.GetOpType() == "Cast" || n.GetOpType() == "Constant" || n.GetOpType() == "ConstantOfShape")
			typed(o, t, nonTensor, fixed)
		}
	}
	return s, nil
}

func pick(ts []int32, ns []bool, j int) (int32, bool) {
	if j < 0 || j >= len(ts) {
		return 0, false
	}
	return ts[j], ns[j]
}

// subgraphInputTypes gives the inputs of a Loop or Scan body the element
// types of the values the node binds to them, for bodies that do not
// declare them.
func (c *converter) subgraphInputTypes(s *scope, n *onnxpb.NodeProto, sg *onnxpb.GraphProto) map[string]int32 {
	types := make(map[string]int32)
	in := func(i int) int32 {
		if i < len(n.GetInput()) && n.Input[i] != "" {
			return s.typeOf(n.Input[i])
		}
		return 0
	}
	for k, v := range sg.GetInput() {
		switch n.GetOpType() {
		case "Loop":
			switch k {
			case 0:
				types[v.GetName()] = tInt64
			case 1:
				types[v.GetName()] = tBool
			default:
				types[v.GetName()] = in(k)
			}
		case "SequenceMap":
			// Inputs bind to the elements of sequence inputs, or to
			// tensors passed whole.
			types[v.GetName()] = in(k)
		case "Scan":
			// Inputs are the state variables then the scan inputs; Scan-8
			// takes an optional sequence_lens first.
			if c.opset < 9 {
				types[v.GetName()] = in(k + 1)
			} else {
				types[v.GetName()] = in(k)
			}
		}
	}
	return types
}
