package graph

import (
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// typeEnv answers "what element type / rank does this value have?" for
// the few adapters that need it, from declared types (inputs, outputs,
// value_info), initializers and light propagation through well-known
// operators. It answers 0 (element type) or -1 (rank) when it does not
// know; it never guesses.
type typeEnv struct {
	parent    *typeEnv
	declared  map[string]*onnxpb.TypeProto
	inits     map[string]*onnxpb.TensorProto
	producer  map[string]producerRef
	elemMemo  map[string]int32
	rankMemo  map[string]int
	visitingE map[string]bool
	visitingR map[string]bool
}

func newTypeEnv(g *onnxpb.GraphProto, parent *typeEnv) *typeEnv {
	e := &typeEnv{
		parent:    parent,
		declared:  make(map[string]*onnxpb.TypeProto),
		inits:     make(map[string]*onnxpb.TensorProto),
		producer:  make(map[string]producerRef),
		elemMemo:  make(map[string]int32),
		rankMemo:  make(map[string]int),
		visitingE: make(map[string]bool),
		visitingR: make(map[string]bool),
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetValueInfo(), g.GetOutput(), g.GetInput()} {
		for _, v := range vs {
			if v.GetType() != nil {
				e.declared[v.GetName()] = v.GetType()
			}
		}
	}
	for _, t := range g.GetInitializer() {
		e.inits[t.GetName()] = t
	}
	for _, n := range g.GetNode() {
		for j, o := range n.GetOutput() {
			if o != "" {
				if _, dup := e.producer[o]; !dup {
					e.producer[o] = producerRef{n, j}
				}
			}
		}
	}
	return e
}

// local reports whether this scope defines name.
func (e *typeEnv) local(name string) bool {
	if _, ok := e.producer[name]; ok {
		return true
	}
	if _, ok := e.inits[name]; ok {
		return true
	}
	_, ok := e.declared[name]
	return ok
}

// constTensor returns the value of name when it is constant: an
// initializer, or the output of a Constant node, of the scope that defines
// it. It returns nil otherwise. The tensor may be shared: do not modify it.
func (e *typeEnv) constTensor(name string) *onnxpb.TensorProto {
	for s := e; s != nil; s = s.parent {
		if t, ok := s.inits[name]; ok {
			return t
		}
		if p, ok := s.producer[name]; ok {
			if p.node.GetOpType() != "Constant" || !IsDefaultDomain(p.node.GetDomain()) {
				return nil
			}
			if a := p.node.GetAttribute(); len(a) == 1 && a[0].GetName() == "value" {
				return a[0].GetT()
			}
			t, err := constantTensor(p.node)
			if err != nil {
				return nil
			}
			return t
		}
		if s.local(name) {
			return nil
		}
	}
	return nil
}

// elemType returns the element type of a tensor value, 0 when unknown.
func (e *typeEnv) elemType(name string) int32 {
	if name == "" {
		return 0
	}
	if !e.local(name) {
		if e.parent != nil {
			return e.parent.elemType(name)
		}
		return 0
	}
	if d, ok := e.elemMemo[name]; ok {
		return d
	}
	if e.visitingE[name] {
		return 0
	}
	e.visitingE[name] = true
	d := e.computeElem(name)
	delete(e.visitingE, name)
	e.elemMemo[name] = d
	return d
}

func (e *typeEnv) computeElem(name string) int32 {
	if t, ok := e.inits[name]; ok {
		return t.GetDataType()
	}
	if tp, ok := e.declared[name]; ok {
		if tt := tp.GetTensorType(); tt != nil && tt.GetElemType() != 0 {
			return tt.GetElemType()
		}
	}
	p, ok := e.producer[name]
	if !ok {
		return 0
	}
	n, out := p.node, p.output
	op := n.GetOpType()
	if !IsDefaultDomain(n.GetDomain()) {
		return 0
	}
	switch op {
	case "Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression":
		return int32(onnxpb.TensorProto_INT64)
	case "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf":
		return int32(onnxpb.TensorProto_BOOL)
	case "MatMulInteger", "ConvInteger":
		return int32(onnxpb.TensorProto_INT32)
	case "Cast":
		if a := attr(n, "to"); a != nil {
			if a.GetType() == onnxpb.AttributeProto_STRING {
				return castNameToType(string(a.GetS()))
			}
			return int32(a.GetI())
		}
		return 0
	case "CastLike":
		return e.elemType(input(n, 1))
	case "Where":
		return e.elemType(input(n, 1))
	case "OneHot":
		return e.elemType(input(n, 2))
	case "TopK", "MaxPool", "Unique":
		if out > 0 {
			return int32(onnxpb.TensorProto_INT64)
		}
		return e.elemType(input(n, 0))
	case "Dropout":
		if out > 0 {
			return 0 // the mask's type changed between opsets
		}
		return e.elemType(input(n, 0))
	case "QuantizeLinear", "DynamicQuantizeLinear":
		if op == "QuantizeLinear" && input(n, 2) != "" {
			return e.elemType(input(n, 2))
		}
		if out == 0 {
			return int32(onnxpb.TensorProto_UINT8)
		}
		return 0
	case "Constant":
		d, _ := constantInfo(n)
		return d
	}
	if sameTypeOps[op] {
		return e.elemType(input(n, 0))
	}
	return 0
}

// sameTypeOps produce (in their first output, and in every output for
// Split) the element type of their first input.
var sameTypeOps = setOf(
	"Abs", "Acos", "Acosh", "Add", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
	"BatchNormalization", "Ceil", "Celu", "Clip", "Compress", "Concat", "Conv",
	"ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace", "Div", "Einsum", "Elu",
	"Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
	"Gelu", "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "GroupNormalization",
	"HardSigmoid", "HardSwish", "Hardmax", "Identity", "InstanceNormalization", "LRN",
	"LayerNormalization", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LpPool",
	"MatMul", "Max", "MaxRoiPool", "Mean", "MeanVarianceNormalization", "Min", "Mish", "Mod",
	"Mul", "Neg", "PRelu", "Pad", "Pow", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
	"ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
	"ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence", "Round", "Scatter",
	"ScatterElements", "ScatterND", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Slice",
	"Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub",
	"Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Trilu", "Unsqueeze", "Upsample",
)

// rankSameOps produce (in their first output) a tensor of their first
// input's rank.
var rankSameOps = setOf(
	"Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
	"BatchNormalization", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Conv", "ConvTranspose",
	"Cos", "Cosh", "CumSum", "DepthToSpace", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu",
	"GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "GroupNormalization", "HardSigmoid",
	"HardSwish", "Hardmax", "Identity", "InstanceNormalization", "IsInf", "IsNaN", "LRN",
	"LayerNormalization", "LeakyRelu", "Log", "LogSoftmax", "LpNormalization", "LpPool",
	"MaxPool", "MeanVarianceNormalization", "Mish", "Neg", "Not", "PRelu", "Pad", "Reciprocal",
	"Relu", "Resize", "ReverseSequence", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin",
	"Sinh", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt",
	"Tan", "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Trilu", "Upsample", "Concat",
	"ScatterElements", "Scatter", "ScatterND", "TopK",
)

// broadcastOps produce a tensor of the largest rank among their inputs.
var broadcastOps = setOf(
	"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor",
	"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Where", "BitShift",
)

// rank returns the rank of a tensor value, -1 when unknown.
func (e *typeEnv) rank(name string) int {
	if name == "" {
		return -1
	}
	if !e.local(name) {
		if e.parent != nil {
			return e.parent.rank(name)
		}
		return -1
	}
	if r, ok := e.rankMemo[name]; ok {
		return r
	}
	if e.visitingR[name] {
		return -1
	}
	e.visitingR[name] = true
	r := e.computeRank(name)
	delete(e.visitingR, name)
	e.rankMemo[name] = r
	return r
}

func (e *typeEnv) computeRank(name string) int {
	if t, ok := e.inits[name]; ok {
		return len(t.GetDims())
	}
	if tp, ok := e.declared[name]; ok {
		if tt := tp.GetTensorType(); tt != nil && tt.GetShape() != nil {
			return len(tt.GetShape().GetDim())
		}
	}
	p, ok := e.producer[name]
	if !ok || !IsDefaultDomain(p.node.GetDomain()) {
		return -1
	}
	n, out := p.node, p.output
	op := n.GetOpType()
	switch {
	case op == "Gemm" || op == "Flatten":
		return 2
	case op == "Shape":
		return 1
	case op == "Size":
		return 0
	case op == "Constant":
		_, r := constantInfo(n)
		return r
	case op == "MatMul":
		a, b := e.rank(input(n, 0)), e.rank(input(n, 1))
		switch {
		case a < 1 || b < 1:
			return -1
		case a == 1 && b == 1:
			return 0
		case a == 1:
			return b - 1
		case b == 1:
			return a - 1
		}
		return max(a, b)
	case op == "Reshape":
		if shape, ok, _ := attrInts(n, "shape"); ok {
			return len(shape)
		}
		if t := e.constTensor(input(n, 1)); t != nil && len(t.GetDims()) == 1 {
			return int(t.GetDims()[0])
		}
		return -1
	case op == "Unsqueeze" || op == "Squeeze":
		r := e.rank(input(n, 0))
		axes, ok := e.constInts(n, "axes", 1)
		if r < 0 || !ok || (op == "Squeeze" && len(axes) == 0) {
			return -1
		}
		if op == "Unsqueeze" {
			return r + len(axes)
		}
		return r - len(axes)
	case strings.HasPrefix(op, "Reduce") || op == "ArgMax" || op == "ArgMin":
		r := e.rank(input(n, 0))
		if r < 0 {
			return -1
		}
		keep, err := attrInt(n, "keepdims", 1)
		if err != nil {
			return -1
		}
		if keep != 0 {
			return r
		}
		if op == "ArgMax" || op == "ArgMin" {
			return r - 1
		}
		axes, ok := e.constInts(n, "axes", 1)
		if !ok {
			return -1
		}
		if len(axes) == 0 {
			return 0
		}
		return r - len(axes)
	case op == "Gather":
		a, b := e.rank(input(n, 0)), e.rank(input(n, 1))
		if a < 0 || b < 0 {
			return -1
		}
		return a - 1 + b
	case broadcastOps[op]:
		r := -1
		for _, in := range n.GetInput() {
			ri := e.rank(in)
			if ri < 0 {
				return -1
			}
			r = max(r, ri)
		}
		return r
	case op == "BatchNormalization" && out > 0:
		return -1 // running statistics are 1-D
	case rankSameOps[op]:
		return e.rank(input(n, 0))
	}
	return -1
}

// constInts reads a list of ints given either as attribute attrName or as
// a constant input at position pos (an initializer). ok is false when the
// list is given but not constant. A list given neither way is empty.
func (e *typeEnv) constInts(n *onnxpb.NodeProto, attrName string, pos int) ([]int64, bool) {
	if v, present, err := attrInts(n, attrName); present {
		return v, err == nil
	}
	in := input(n, pos)
	if in == "" {
		return nil, true
	}
	t := e.constTensor(in)
	if t == nil {
		return nil, false
	}
	v, err := int64Values(t)
	return v, err == nil
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// castNameToType maps Cast-1's string 'to' attribute onto DataType.
func castNameToType(s string) int32 {
	if v, ok := onnxpb.TensorProto_DataType_value[strings.ToUpper(s)]; ok {
		return v
	}
	return 0
}

// constantInfo returns the element type and rank of a Constant node's
// value (0 and -1 when it cannot tell), without copying the value.
func constantInfo(n *onnxpb.NodeProto) (int32, int) {
	if len(n.GetAttribute()) != 1 {
		return 0, -1
	}
	a := n.Attribute[0]
	switch a.GetName() {
	case "value":
		return a.GetT().GetDataType(), len(a.GetT().GetDims())
	case "sparse_value":
		return a.GetSparseTensor().GetValues().GetDataType(), len(a.GetSparseTensor().GetDims())
	case "value_float":
		return int32(onnxpb.TensorProto_FLOAT), 0
	case "value_floats":
		return int32(onnxpb.TensorProto_FLOAT), 1
	case "value_int":
		return int32(onnxpb.TensorProto_INT64), 0
	case "value_ints":
		return int32(onnxpb.TensorProto_INT64), 1
	case "value_string":
		return int32(onnxpb.TensorProto_STRING), 0
	case "value_strings":
		return int32(onnxpb.TensorProto_STRING), 1
	}
	return 0, -1
}
