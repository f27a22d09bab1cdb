package distill

import (
	"fmt"
	"path"
	"slices"

	"github.com/infer-ml/infer/distill/autodiff"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// Loss kinds.
const (
	LossKL  = "kl"
	LossMSE = "mse"
)

// LossConfig chooses the training objective.
type LossConfig struct {
	// Kind is LossKL (soft targets: alpha·T²·KL(softmax(t/T) ‖
	// softmax(s/T)) + (1−alpha)·cross-entropy with the labels) or LossMSE
	// (mean squared error between the outputs).
	Kind        string
	Temperature float64
	Alpha       float64
	// Labels adds the cross-entropy term (KL with labelled data, alpha < 1).
	Labels bool
	// Hints adds, with weight HintWeight > 0, a term per hint pulling a
	// student activation towards the teacher's: HintWeight·Σ(s − t)²/Σt²
	// over the batch, t the teacher's value restricted to the channels
	// Keep (axis 1).
	Hints      []Hint  `json:",omitempty"`
	HintWeight float64 `json:",omitempty"`
}

// Hint names an activation that student and teacher share channel for
// channel: Value in both graphs, the student's channel i (axis 1) being
// the teacher's channel Keep[i]. A student built by channel pruning has
// them (StudentFromTeacher).
type Hint struct {
	Value string
	Keep  []int
}

// Names of the training graph's extra inputs and of its loss.
const (
	teacherInput = "distill_teacher"
	labelsInput  = "distill_labels_onehot"
	softScale    = "distill_soft_scale"
	hardScale    = "distill_hard_scale"
	lossName     = "distill_loss"
)

// TrainGraph is the student's forward pass, the loss and the gradients of
// every trainable weight, as one ONNX model. Trainable weights are graph
// inputs (fed from Go buffers each step); the teacher's output, the
// one-hot labels and the loss scales are inputs too.
type TrainGraph struct {
	Model *onnxpb.ModelProto
	// Params are the trainable weights (initializers of the student), in
	// graph order; Grads their gradient outputs, in the same order.
	Params []string
	Shapes [][]int64
	Grads  []string
	// Frozen lists float initializers left out and why.
	Frozen []string
	// Output is the student output the loss reads; Classes its last
	// dimension.
	Output  string
	Classes int64
	Loss    LossConfig
}

// PrepareStudent returns a copy of the student in the form training needs:
// Constant weights as initializers, the opset raised to autodiff.MinOpset,
// and every intermediate shape recorded (one ORT run). Weight names are
// kept, so trained values map back onto the original.
func PrepareStudent(student *onnxpb.ModelProto) (*onnxpb.ModelProto, []string, error) {
	s := graph.CloneSharingInitializers(student)
	r, err := prep.Run(s, prep.Options{MinOpset: autodiff.MinOpset, InferShapes: true})
	if err != nil {
		return nil, nil, err
	}
	return s, r.Notes, nil
}

// BuildTrainGraph builds the training graph from a prepared student
// (PrepareStudent). output is the student output the loss reads; freeze
// holds path.Match patterns of weights to keep fixed.
func BuildTrainGraph(prepared *onnxpb.ModelProto, output string, loss LossConfig, freeze []string) (*TrainGraph, error) {
	m := graph.CloneSharingInitializers(prepared)
	g := m.Graph
	idx := graph.NewIndex(g)
	if !idx.IsOutput(output) {
		return nil, fmt.Errorf("the student has no output %q", output)
	}
	shape, ok := valueShape(g, output)
	if !ok || len(shape) == 0 {
		return nil, fmt.Errorf("the shape of the student output %q is unknown", output)
	}
	tg := &TrainGraph{Output: output, Classes: shape[len(shape)-1], Loss: loss}
	nm := graph.NewNamer(g)
	if _, err := foldBatchNormsForTraining(g, nm); err != nil {
		return nil, err
	}
	poolBeforeRelu(g, nm, hintValues(loss))
	lossNodes := len(g.Node) // the loss's nodes follow
	outType := g.Output[slices.IndexFunc(g.Output, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == output })]
	dynShape := outType.GetType().GetTensorType().GetShape()
	addInput := func(name string, d tensor.DType, s *onnxpb.TensorShapeProto) {
		g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(d), Shape: s}}}})
	}
	op := func(opType string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
		o := nm.Name("distill_" + opType)
		g.Node = append(g.Node, &onnxpb.NodeProto{Name: nm.Name("distill_node"), OpType: opType, Input: inputs, Output: []string{o}, Attribute: attrs})
		return o
	}
	scalar := func(v float32) string {
		n := nm.Name("distill_const")
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: n, DataType: int32(tensor.Float32), FloatData: []float32{v}})
		return n
	}
	addInput(teacherInput, tensor.Float32, dynShape)
	addInput(softScale, tensor.Float32, &onnxpb.TensorShapeProto{})
	var terms []string
	switch loss.Kind {
	case LossKL:
		temp := scalar(float32(loss.Temperature))
		pt := op("Softmax", []string{op("Div", []string{teacherInput, temp})}, autodiff.AttrInt("axis", -1))
		lpt := op("LogSoftmax", []string{op("Div", []string{teacherInput, temp})}, autodiff.AttrInt("axis", -1))
		lps := op("LogSoftmax", []string{op("Div", []string{output, temp})}, autodiff.AttrInt("axis", -1))
		kl := op("ReduceSum", []string{op("Mul", []string{pt, op("Sub", []string{lpt, lps})})}, autodiff.AttrInt("keepdims", 0))
		terms = append(terms, op("Mul", []string{kl, softScale}))
		if loss.Labels {
			addInput(labelsInput, tensor.Float32, dynShape)
			addInput(hardScale, tensor.Float32, &onnxpb.TensorShapeProto{})
			ls := op("LogSoftmax", []string{output}, autodiff.AttrInt("axis", -1))
			ce := op("ReduceSum", []string{op("Mul", []string{labelsInput, ls})}, autodiff.AttrInt("keepdims", 0))
			terms = append(terms, op("Mul", []string{ce, hardScale})) // hardScale is negative
		}
	case LossMSE:
		d := op("Sub", []string{output, teacherInput})
		terms = append(terms, op("Mul", []string{op("ReduceSum", []string{op("Mul", []string{d, d})}, autodiff.AttrInt("keepdims", 0)), softScale}))
	default:
		return nil, fmt.Errorf("unknown loss %q (want kl or mse)", loss.Kind)
	}
	sum := &onnxpb.NodeProto{Name: nm.Name("distill_node"), OpType: "Sum", Input: terms, Output: []string{lossName}}
	g.Node = append(g.Node, sum)
	// Shapes of the loss values, for the rules that undo broadcasting.
	for _, n := range g.Node[lossNodes:] {
		if len(n.Output) == 0 || n.Output[0] == lossName {
			continue
		}
		switch n.OpType {
		case "ReduceSum", "Mul", "Sum":
			if n.OpType != "Mul" || isScalarMul(n) {
				g.ValueInfo = append(g.ValueInfo, valueInfo(n.Output[0], nil))
				continue
			}
		}
		g.ValueInfo = append(g.ValueInfo, valueInfo(n.Output[0], shape))
	}
	if loss.HintWeight > 0 {
		for k, h := range loss.Hints {
			hs, ok := valueShape(g, h.Value)
			if !ok || len(hs) < 2 || hs[1] != int64(len(h.Keep)) {
				return nil, fmt.Errorf("hint %q: the student has no such activation with %d channels on axis 1", h.Value, len(h.Keep))
			}
			in, scale := hintInput(k), hintScale(k)
			addInput(in, tensor.Float32, shapeProto(hs))
			addInput(scale, tensor.Float32, &onnxpb.TensorShapeProto{})
			d := op("Sub", []string{h.Value, in})
			sq := op("Mul", []string{d, d})
			r := op("ReduceSum", []string{sq}, autodiff.AttrInt("keepdims", 0))
			term := op("Mul", []string{r, scale})
			g.ValueInfo = append(g.ValueInfo, valueInfo(d, hs), valueInfo(sq, hs), valueInfo(r, nil), valueInfo(term, nil))
			sum.Input = append(sum.Input, term)
		}
	}
	g.ValueInfo = append(g.ValueInfo, valueInfo(lossName, nil)) // until it becomes the output
	var cands []string
	for _, t := range g.Initializer {
		if tensor.DType(t.GetDataType()) != tensor.Float32 || len(t.GetDims()) == 0 || isDistill(t.GetName()) {
			continue
		}
		frozen := false
		for _, p := range freeze {
			if ok, _ := path.Match(p, t.GetName()); ok {
				frozen = true
			}
		}
		if frozen {
			tg.Frozen = append(tg.Frozen, t.GetName()+" (--freeze)")
			continue
		}
		cands = append(cands, t.GetName())
	}
	grads, err := autodiff.Gradients(m, lossName, cands)
	if err != nil {
		return nil, err
	}
	byName := map[string]*onnxpb.TensorProto{}
	for _, t := range g.Initializer {
		byName[t.GetName()] = t
	}
	outputs := []*onnxpb.ValueInfoProto{valueInfo(lossName, nil)}
	for _, c := range cands {
		if grads[c] == "" {
			tg.Frozen = append(tg.Frozen, c+" (no gradient reaches it: running statistics, or unused by the loss)")
			continue
		}
		t := byName[c]
		tg.Params = append(tg.Params, c)
		tg.Shapes = append(tg.Shapes, slices.Clone(t.GetDims()))
		tg.Grads = append(tg.Grads, grads[c])
		outputs = append(outputs, valueInfo(grads[c], t.GetDims()))
	}
	if len(tg.Params) == 0 {
		return nil, fmt.Errorf("the student has no float32 weight the loss depends on")
	}
	// Trainable weights become inputs bound to Go buffers.
	train := map[string]bool{}
	for _, p := range tg.Params {
		train[p] = true
		addInput(p, tensor.Float32, shapeProto(byName[p].GetDims()))
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnxpb.TensorProto) bool { return train[t.GetName()] })
	g.Output = outputs
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == lossName })
	if err := graph.Validate(m); err != nil {
		return nil, fmt.Errorf("internal error: the training graph is invalid: %w", err)
	}
	tg.Model = m
	return tg, nil
}

// poolBeforeRelu rewrites each Relu → MaxPool pair of g whose Relu feeds
// only the MaxPool (and is no graph output, nor in keep) into MaxPool →
// Relu. The function is the same (max commutes with Relu, and the
// gradient still reaches each window's first maximum where that maximum
// is positive, and nothing where it is not), but the Relu and its
// gradient run on the pooled, k² times smaller tensor instead of the
// full-size one.
func poolBeforeRelu(g *onnxpb.GraphProto, nm *graph.Namer, keep map[string]bool) {
	idx := graph.NewIndex(g)
	vi := map[string]*onnxpb.ValueInfoProto{}
	for _, v := range g.ValueInfo {
		vi[v.GetName()] = v
	}
	for i, relu := range g.Node {
		if relu.GetOpType() != "Relu" || !graph.IsDefaultDomain(relu.GetDomain()) || len(relu.Output) != 1 {
			continue
		}
		mid := relu.Output[0]
		uses := idx.Consumers(mid)
		if keep[mid] || idx.IsOutput(mid) || len(uses) != 1 || uses[0].Input != 0 {
			continue
		}
		pool := uses[0].Node
		if pool.GetOpType() != "MaxPool" || !graph.IsDefaultDomain(pool.GetDomain()) || len(pool.Output) != 1 || vi[pool.Output[0]] == nil {
			continue
		}
		j := idx.Position(pool)
		pooled := proto.Clone(vi[pool.Output[0]]).(*onnxpb.ValueInfoProto)
		pooled.Name = nm.Name(mid + "_pooled")
		g.ValueInfo = append(g.ValueInfo, pooled)
		vi[pooled.Name] = pooled
		pool.Input[0], relu.Input[0] = relu.Input[0], pooled.Name
		relu.Output[0], pool.Output[0] = pool.Output[0], pooled.Name
		// The nodes between read neither value: the MaxPool moves up to
		// the Relu's place, the Relu down to the MaxPool's.
		g.Node[i], g.Node[j] = pool, relu
		delete(vi, mid)
	}
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return vi[v.GetName()] == nil })
}

// hintValues is the set of student activations the loss's hints read.
func hintValues(loss LossConfig) map[string]bool {
	keep := map[string]bool{}
	for _, h := range loss.Hints {
		keep[h.Value] = true
	}
	return keep
}

// hintInput and hintScale name the training graph's inputs for hint k:
// the teacher's activation and the term's scale.
func hintInput(k int) string { return fmt.Sprintf("distill_hint_%d", k) }
func hintScale(k int) string { return fmt.Sprintf("distill_hint_scale_%d", k) }

func isDistill(name string) bool { return len(name) > 8 && name[:8] == "distill_" }

// isScalarMul reports a Mul by one of the loss scales (a scalar result).
func isScalarMul(n *onnxpb.NodeProto) bool {
	return len(n.Input) == 2 && (n.Input[1] == softScale || n.Input[1] == hardScale)
}

func shapeProto(dims []int64) *onnxpb.TensorShapeProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d >= 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
		}
		s.Dim = append(s.Dim, dim)
	}
	return s
}

func valueInfo(name string, dims []int64) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: int32(tensor.Float32), Shape: shapeProto(dims)}}}}
}

// valueShape is the static shape of a value from the graph's declarations
// (-1 for dimensions that vary).
func valueShape(g *onnxpb.GraphProto, name string) ([]int64, bool) {
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetOutput(), g.GetValueInfo(), g.GetInput()} {
		for _, v := range vs {
			if v.GetName() != name {
				continue
			}
			sh := v.GetType().GetTensorType().GetShape()
			if sh == nil {
				return nil, false
			}
			out := make([]int64, len(sh.GetDim()))
			for i, d := range sh.GetDim() {
				out[i] = -1
				if d.GetDimParam() == "" && d.GetDimValue() > 0 {
					out[i] = d.GetDimValue()
				}
			}
			return out, true
		}
	}
	return nil, false
}
