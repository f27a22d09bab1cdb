package distill

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/prune"
)

// StudentFromTeacher builds a student by channel pruning the teacher to
// keep width of the channels of every prunable group (prune.PruneChannels
// on the pre-processed teacher). It also returns the hints that pair the
// student's activations with the teacher's (the last activation of each
// pruned group that carries its channels on axis 1, and the channels
// kept), for LossConfig.Hints.
func StudentFromTeacher(teacher *onnxpb.ModelProto, width float64) (*onnxpb.ModelProto, []Hint, []string, error) {
	if !(width > 0 && width < 1) {
		return nil, nil, nil, fmt.Errorf("width %g: the share of channels kept must be in (0, 1)", width)
	}
	s, pr, err := prune.PrepareWith(teacher, prune.Channel, false, prune.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	notes := pr.Notes
	r, err := prune.PruneChannels(s, prune.ChannelOptions{Sparsity: 1 - width})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("building the student from the teacher: %w", err)
	}
	// The student is written: it keeps only the shapes its teacher
	// declared, not those the channel trace recorded.
	prep.DropRecordedShapes(s.GetGraph(), pr.RecordedShapes)
	pruned := 0
	for _, g := range r.Groups {
		if g.Kept < g.Channels {
			pruned++
		}
	}
	hints := HintsFor(teacher, r.Groups)
	notes = append(notes, fmt.Sprintf("student: the teacher with %d channel groups pruned to %.0f%% of their channels", pruned, 100*width))
	if d, ok := DynamicBatch(s); ok {
		s = d
		notes = append(notes, "student: the teacher's export fixes the batch at 1; the student takes any batch size (checked in ONNX Runtime)")
	}
	return s, hints, notes, nil
}

// HintsFor pairs the activations of the pruned channel groups with the
// teacher's: one hint per group that lost channels and whose last
// channel-carrying value (ChannelGroup.Value) the teacher itself produces
// (pre-processing may have renamed values), with the channels kept.
func HintsFor(teacher *onnxpb.ModelProto, groups []prune.ChannelGroup) []Hint {
	var hints []Hint
	idx := graph.NewIndex(teacher.GetGraph())
	for _, g := range groups {
		if g.Kept >= g.Channels || g.Value == "" {
			continue
		}
		if n, _ := idx.Producer(g.Value); n != nil {
			hints = append(hints, Hint{Value: g.Value, Keep: slices.Clone(g.Keep)})
		}
	}
	return hints
}

// DynamicBatch returns a copy of m whose batch dimension may vary, when m
// was exported for a fixed batch b (graph inputs and outputs with first
// dimension b, Reshape constants starting with b): the dimensions become
// symbolic and those Reshape entries 0 (copy the batch). The copy is
// used only when ONNX Runtime shows it is the same function: a batch of
// two random samples gives, row by row, what two batches of one give.
func DynamicBatch(m *onnxpb.ModelProto) (*onnxpb.ModelProto, bool) {
	g := m.GetGraph()
	var b int64
	for _, in := range g.GetInput() {
		d := in.GetType().GetTensorType().GetShape().GetDim()
		if len(d) == 0 || d[0].GetDimParam() != "" || d[0].GetDimValue() <= 0 {
			return nil, false
		}
		if b != 0 && d[0].GetDimValue() != b {
			return nil, false
		}
		b = d[0].GetDimValue()
	}
	if b != 1 {
		return nil, false // only batch-1 exports: a row split is then exact
	}
	c := proto.Clone(m).(*onnxpb.ModelProto)
	cg := c.Graph
	sym := func(vs []*onnxpb.ValueInfoProto) {
		for _, v := range vs {
			if d := v.GetType().GetTensorType().GetShape().GetDim(); len(d) > 0 && d[0].GetDimValue() == b {
				d[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
			}
		}
	}
	sym(cg.Input)
	sym(cg.Output)
	cg.ValueInfo = nil
	inits := map[string]int{}
	for i, t := range cg.Initializer {
		inits[t.GetName()] = i
	}
	for _, n := range cg.Node {
		if n.GetOpType() != "Reshape" || len(n.GetInput()) < 2 {
			continue
		}
		i, ok := inits[n.GetInput()[1]]
		if !ok {
			continue
		}
		t, err := tensor.FromProto(cg.Initializer[i])
		if err != nil || t.DType() != tensor.Int64 {
			continue
		}
		v := slices.Clone(tensor.Values[int64](t))
		if len(v) == 0 || v[0] != b {
			continue
		}
		v[0] = 0
		p, err := tensor.ToProto(tensor.MustNew(t.Shape(), v), cg.Initializer[i].GetName())
		if err != nil {
			return nil, false
		}
		cg.Initializer[i] = p
	}
	return c, sameFunction(m, c)
}

// sameFunction runs two random samples through m one at a time and
// through c as one batch of two, and compares the outputs.
func sameFunction(m, c *onnxpb.ModelProto) bool {
	ms, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		return false
	}
	defer ms.Close()
	cs, err := ort.NewSessionFromModel(c, ort.Options{})
	if err != nil {
		return false
	}
	defer cs.Close()
	src, err := dataset.Open("random", dataset.SpecsFromGraph(c.Graph), dataset.Options{RandomSamples: 2, BatchSize: 2, Seed: 5})
	if err != nil {
		return false
	}
	defer src.Close()
	both, err := src.Next()
	if err != nil {
		return false
	}
	out2, err := cs.Run(both.Inputs)
	if err != nil {
		return false
	}
	for row := 0; row < 2; row++ {
		one := map[string]*tensor.Tensor{}
		for k, t := range both.Inputs {
			r, err := t.Rows(row, row+1)
			if err != nil {
				return false
			}
			one[k] = r
		}
		out1, err := ms.Run(one)
		if err != nil {
			return false
		}
		for name, t := range out1 {
			a, _ := tensor.AsFloat64(t)
			full, ok := out2[name]
			if !ok {
				return false
			}
			r, err := full.Rows(row, row+1)
			if err != nil {
				return false
			}
			bb, _ := tensor.AsFloat64(r)
			if len(a) != len(bb) {
				return false
			}
			for i := range a {
				if math.Abs(a[i]-bb[i]) > 1e-4*(1+math.Abs(a[i])) {
					return false
				}
			}
		}
	}
	return true
}
