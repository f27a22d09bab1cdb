package prune

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// initRead is one initializer read: node.Input[input].
type initRead struct {
	node  *onnxpb.NodeProto
	input int
}

// channelCut keeps, along axis, the e indices of each kept channel.
type channelCut struct {
	axis, e int
	keep    []int
	// offset, width: the cut applies to [offset, offset+width) of the
	// axis only (a Concat segment); width 0 is the whole axis.
	offset, width int
}

// rewrittenTensor is a rewritten initializer for one read: it replaces the
// initializer of its name, or is added under a new name.
type rewrittenTensor struct {
	at      initRead
	t       *onnxpb.TensorProto
	replace bool
}

// apply rewrites m for the groups p keeps channels of and returns the
// initializer elements removed. Everything that can fail (decoding,
// slicing) happens before m changes.
func (p *channelPlan) apply(m *onnxpb.ModelProto) (int64, error) {
	t, g := p.t, p.t.g
	keep := make(map[int][]int)
	for _, gp := range p.groups {
		if gp.keep != nil {
			keep[gp.root] = gp.keep
		}
	}
	var reads []initRead // in the order the trace met them
	cuts := make(map[initRead][]channelCut)
	shapes := make(map[initRead]channelCut) // Reshape shape entries
	var groups, infos []sizedEdit
	for _, e := range t.edits {
		k, ok := keep[t.find(e.space)]
		if !ok {
			continue
		}
		switch u := (initRead{e.node, e.input}); e.kind {
		case editSlice:
			if _, seen := cuts[u]; !seen {
				reads = append(reads, u)
			}
			cuts[u] = append(cuts[u], channelCut{axis: e.axis, e: e.e, keep: k, offset: e.offset, width: e.width})
		case editReshape:
			reads = append(reads, u)
			shapes[u] = channelCut{axis: e.axis, e: e.e, keep: k}
		case editGroup:
			groups = append(groups, sizedEdit{e, len(k) * e.e})
		case editValueInfo:
			// e 0: a Concat's output, whose shape is dropped (size 0).
			infos = append(infos, sizedEdit{e, len(k) * e.e})
		}
	}

	before := initializerElementCount(g)
	nm := graph.NewNamer(g)
	refs := make(map[string]int)
	var made []rewrittenTensor
	for _, u := range reads {
		name := u.node.Input[u.input]
		old := t.idx.Initializer(name)
		var nt *onnxpb.TensorProto
		var err error
		if c, ok := shapes[u]; ok {
			nt, err = setShapeEntry(old, c.axis, len(c.keep)*c.e)
		} else {
			nt, err = sliceInitializer(old, cuts[u])
		}
		if err != nil {
			return 0, fmt.Errorf("channel pruning: %s, input %d of %s %s: %w", name, u.input, channelOpName(u.node), channelNodeLabel(u.node), err)
		}
		// Another reader keeps the original: take a new name (the last
		// reader rewritten may then take over the old one).
		if _, ok := refs[name]; !ok {
			refs[name] = t.uses(name)
		}
		if refs[name] == 1 {
			made = append(made, rewrittenTensor{at: u, t: nt, replace: true})
			nt.Name = name
			continue
		}
		refs[name]--
		nt.Name = nm.Name(name + "_pruned")
		made = append(made, rewrittenTensor{at: u, t: nt})
	}

	// From here on nothing fails.
	// The list may share its array with another graph message (a
	// clone's, or the one graph.UpgradeOpset replaced).
	g.Initializer = slices.Clone(g.Initializer)
	for _, x := range made {
		placeInitializer(g, x.t, x.replace)
		x.at.node.Input[x.at.input] = x.t.GetName()
	}
	for _, r := range groups {
		setNodeAttrInt(r.node, "group", int64(r.size))
	}
	resizeValueInfo(g, infos)
	if err := graph.Validate(m); err != nil {
		return 0, fmt.Errorf("channel pruning: the rewritten model is invalid (a bug): %w", err)
	}
	return before - initializerElementCount(g), nil
}

// sizedEdit is an edit with the new size of what it resizes (kept·e).
type sizedEdit struct {
	channelEdit
	size int
}

// resizeValueInfo sets the channel dimension of each value in infos to
// its new size.
func resizeValueInfo(g *onnxpb.GraphProto, infos []sizedEdit) {
	if len(infos) == 0 {
		return
	}
	byName := make(map[string][]*onnxpb.ValueInfoProto)
	for _, vi := range g.GetValueInfo() {
		byName[vi.GetName()] = append(byName[vi.GetName()], vi)
	}
	for _, e := range infos {
		for _, vi := range byName[e.value] {
			sh := vi.GetType().GetTensorType().GetShape()
			if sh == nil {
				continue
			}
			if e.size == 0 {
				vi.Type.GetTensorType().Shape = nil
				continue
			}
			if e.axis >= len(sh.GetDim()) {
				// Not the rank the trace saw: drop the shape rather than
				// leave a wrong one.
				vi.Type.GetTensorType().Shape = nil
				continue
			}
			d := sh.Dim[e.axis]
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				sh.Dim[e.axis] = &onnxpb.TensorShapeProto_Dimension{
					Value:      &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(e.size)},
					Denotation: d.GetDenotation(),
				}
			}
		}
	}
}

// placeInitializer puts t in the place of the initializer of the same name
// with replace, and otherwise appends it.
func placeInitializer(g *onnxpb.GraphProto, t *onnxpb.TensorProto, replace bool) {
	if replace {
		for i, old := range g.Initializer {
			if old.GetName() == t.GetName() {
				g.Initializer[i] = t
				return
			}
		}
	}
	g.Initializer = append(g.Initializer, t)
}

// setNodeAttrInt replaces (or adds) n's INT attribute name with a new message.
func setNodeAttrInt(n *onnxpb.NodeProto, name string, v int64) {
	a := &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
	for i, old := range n.Attribute {
		if old.GetName() == name {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}

// sliceInitializer returns a new tensor holding tp with each cut applied.
func sliceInitializer(tp *onnxpb.TensorProto, cuts []channelCut) (*onnxpb.TensorProto, error) {
	x, err := tensor.FromProto(tp)
	if err != nil {
		return nil, err
	}
	// Segment cuts go last offset first, so that each leaves the offsets
	// of the ones still to come where they were.
	cuts = slices.Clone(cuts)
	slices.SortStableFunc(cuts, func(a, b channelCut) int { return b.offset - a.offset })
	for _, c := range cuts {
		idx := expandChannels(c.keep, c.e)
		if c.width > 0 {
			n := int(x.Shape()[c.axis])
			full := make([]int, 0, n-c.width+len(idx))
			for i := range c.offset {
				full = append(full, i)
			}
			for _, i := range idx {
				full = append(full, c.offset+i)
			}
			for i := c.offset + c.width; i < n; i++ {
				full = append(full, i)
			}
			idx = full
		}
		if x, err = x.Take(c.axis, idx); err != nil {
			return nil, err
		}
	}
	return tensor.ToProto(x, tp.GetName())
}

// expandChannels turns kept channels into indices: channel c is c·e … c·e+e−1.
func expandChannels(keep []int, e int) []int {
	idx := make([]int, 0, len(keep)*e)
	for _, c := range keep {
		for j := range e {
			idx = append(idx, c*e+j)
		}
	}
	return idx
}

// setShapeEntry returns a copy of the int64 shape tensor tp with entry at
// set to v.
func setShapeEntry(tp *onnxpb.TensorProto, at int, v int) (*onnxpb.TensorProto, error) {
	vals, err := constInt64s(tp)
	if err != nil {
		return nil, err
	}
	if at >= len(vals) {
		return nil, fmt.Errorf("shape has %d entries, want more than %d", len(vals), at)
	}
	vals = slices.Clone(vals)
	vals[at] = int64(v)
	x, err := tensor.NewWithDType(tensor.DType(tp.GetDataType()), slices.Clone(tp.GetDims()), vals)
	if err != nil {
		return nil, err
	}
	return tensor.ToProto(x, tp.GetName())
}

// channelNorms returns the L1 or L2 norm of each slice of the float32
// weight w along axis.
func channelNorms(w *onnxpb.TensorProto, axis int, norm Norm) ([]float64, error) {
	x, err := tensor.FromProto(w)
	if err != nil {
		return nil, err
	}
	if x.DType() != tensor.Float32 {
		return nil, fmt.Errorf("%s is %s, not float32", w.GetName(), x.DType())
	}
	shape := x.Shape()
	n := int(shape[axis])
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= int(d)
	}
	for _, d := range shape[axis+1:] {
		inner *= int(d)
	}
	v := tensor.Values[float32](x)
	sums := make([]float64, n)
	for o := range outer {
		for c := range n {
			base := (o*n + c) * inner
			for _, f := range v[base : base+inner] {
				if norm == L2 {
					sums[c] += float64(f) * float64(f)
				} else {
					sums[c] += math.Abs(float64(f))
				}
			}
		}
	}
	if norm == L2 {
		for c := range sums {
			sums[c] = math.Sqrt(sums[c])
		}
	}
	return sums, nil
}

// initializerElementCount counts the elements of g's initializers.
func initializerElementCount(g *onnxpb.GraphProto) int64 {
	var n int64
	for _, t := range g.GetInitializer() {
		n += elementCount(t.GetDims())
	}
	return n
}

// elementCount is the product of dims (1 for a scalar).
func elementCount(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// constInt64s decodes an int64 or int32 initializer.
func constInt64s(tp *onnxpb.TensorProto) ([]int64, error) {
	x, err := tensor.FromProto(tp)
	if err != nil {
		return nil, err
	}
	switch v := x.Data().(type) {
	case []int64:
		return v, nil
	case []int32:
		out := make([]int64, len(v))
		for i, e := range v {
			out[i] = int64(e)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is %s, not int64", tp.GetName(), x.DType())
}

// constFloats decodes a float32 or float64 initializer.
func constFloats(tp *onnxpb.TensorProto) ([]float64, error) {
	x, err := tensor.FromProto(tp)
	if err != nil {
		return nil, err
	}
	switch v := x.Data().(type) {
	case []float32:
		out := make([]float64, len(v))
		for i, e := range v {
			out[i] = float64(e)
		}
		return out, nil
	case []float64:
		return v, nil
	}
	return nil, errors.New(tp.GetName() + " is not float32 or float64")
}

// channelNodeLabel names a node in groups and reasons: its name, or
// "<op>:<first output>" when it has none.
func channelNodeLabel(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	out := ""
	if len(n.GetOutput()) > 0 {
		out = n.Output[0]
	}
	return n.GetOpType() + ":" + out
}

// channelOpName is n's op type, led by its domain when not the default one.
func channelOpName(n *onnxpb.NodeProto) string {
	if !graph.IsDefaultDomain(n.GetDomain()) {
		return n.GetDomain() + "." + n.GetOpType()
	}
	return n.GetOpType()
}

// nodeInput returns n.Input[i], or "" when n has fewer inputs.
func nodeInput(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.Input[i]
	}
	return ""
}

// nodeAttr returns n's attribute called name, or nil.
func nodeAttr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// nodeAttrInt returns n's INT attribute name, or def when absent.
func nodeAttrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := nodeAttr(n, name); a != nil {
		return a.GetI()
	}
	return def
}
