package half

import (
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// apply rewrites the model as planned.
func (c *converter) apply() error {
	c.namer = graph.NewNamer(c.root.g)
	if err := c.convertTensors(); err != nil {
		return err
	}
	// ConstantOfShape values are not weights.
	c.res.Converted -= c.nonWeightSwaps()
	for _, s := range c.scopes {
		for _, n := range s.g.GetNode() {
			c.retypeNode(s, n)
		}
	}
	if err := c.renameMainOutputs(); err != nil {
		return err
	}
	c.insertCasts()
	c.retypeInfos()
	if err := c.cleanup(); err != nil {
		return err
	}
	if err := graph.Validate(c.m); err != nil {
		return fmt.Errorf("internal error: the converted model is invalid: %w", err)
	}
	return nil
}

// releaseEvery is how many bytes of float32 data convertTensors drops
// between returning freed memory to the operating system.
const releaseEvery = 64 << 20

// convertTensors stores the planned weights in the half type, one at a
// time, each dropping its float32 data as soon as its half copy exists.
// After every releaseEvery bytes dropped it collects garbage and returns
// the memory to the operating system, so that a large model's float32
// data (and what its caller left to collect) is not kept beside its half
// copies until the heap doubles, and ONNX Runtime sessions created next
// can use that memory.
func (c *converter) convertTensors() error {
	dropped := 0
	for _, sw := range c.converted {
		size := len(sw.tp.GetRawData()) + 4*len(sw.tp.GetFloatData())
		clamped, err := convertTensor(sw.tp, c.half)
		if err != nil {
			// checkTensors accepted it: only a model changed meanwhile
			// gets here.
			return fmt.Errorf("internal error: %s: %w", sw.what, err)
		}
		if dropped += size; dropped >= releaseEvery {
			debug.FreeOSMemory()
			dropped = 0
		}
		c.res.Converted++
		if clamped > 0 {
			c.res.Clamped += clamped
			c.res.note("%s: %d value(s) beyond ±%g clamped", sw.what, clamped, halfMax(c.half))
		}
	}
	return nil
}

// nonWeightSwaps counts converted tensors that are ConstantOfShape values.
func (c *converter) nonWeightSwaps() int {
	k := 0
	for _, s := range c.scopes {
		for _, n := range s.g.GetNode() {
			if n.GetOpType() == "ConstantOfShape" && len(n.GetOutput()) > 0 && s.final[n.Output[0]] == c.half {
				if a := attrOf(n, "value"); a != nil && a.GetT() != nil {
					k++
				}
			}
		}
	}
	return k
}

// retypeNode rewrites the attributes that fix a node's output type: Cast's
// to, Constant's value_float(s), ConstantOfShape's default value and
// SequenceEmpty's dtype.
func (c *converter) retypeNode(s *scope, n *onnxpb.NodeProto) {
	if !graph.IsDefaultDomain(n.GetDomain()) || len(n.GetOutput()) == 0 || n.Output[0] == "" {
		return
	}
	o := n.Output[0]
	if s.elem[o] != tFloat || s.final[o] != c.half {
		return
	}
	switch n.GetOpType() {
	case "Cast":
		if a := attrOf(n, "to"); a != nil {
			a.I = int64(c.half)
		}
	case "Constant":
		for i, a := range n.GetAttribute() {
			var vals []float32
			var dims []int64
			switch a.GetName() {
			case "value_float":
				vals = []float32{a.GetF()}
			case "value_floats":
				vals = a.GetFloats()
				dims = []int64{int64(len(vals))}
			default:
				continue
			}
			t, err := tensor.New(dims, slices.Clone(vals))
			if err != nil {
				continue
			}
			tp, _ := tensor.ToProto(t, "")
			clamped, err := convertTensor(tp, c.half)
			if err != nil {
				continue
			}
			c.res.Clamped += clamped
			c.res.Converted++
			n.Attribute[i] = &onnxpb.AttributeProto{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: tp}
		}
	case "ConstantOfShape":
		if attrOf(n, "value") == nil {
			zero, _ := tensor.Zeros(tensor.DType(c.half), []int64{1})
			tp, _ := tensor.ToProto(zero, "")
			n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: tp})
		}
	case "SequenceEmpty":
		if a := attrOf(n, "dtype"); a != nil {
			a.I = int64(c.half)
		} else {
			n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: "dtype", Type: onnxpb.AttributeProto_INT, I: int64(c.half)})
		}
	}
}

// castAttr is Cast's to attribute.
func castAttr(to int32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: "to", Type: onnxpb.AttributeProto_INT, I: int64(to)}
}

// newCast adds to s a Cast of name to type to and returns its output.
func (c *converter) newCast(s *scope, name string, to int32) string {
	if out, ok := s.casts[castKey{name, to}]; ok {
		return out
	}
	out := c.namer.Name(name + "_" + c.typeName(to))
	n := &onnxpb.NodeProto{
		OpType: "Cast", Name: c.namer.Name(out + "_cast"),
		Input: []string{name}, Output: []string{out},
		Attribute: []*onnxpb.AttributeProto{castAttr(to)},
	}
	s.g.Node = append(s.g.Node, n)
	c.ours[n] = true
	s.elem[out] = tFloat
	s.final[out] = to
	s.producer[out] = n
	s.casts[castKey{name, to}] = out
	c.res.CastsAdded++
	return out
}

// renameMainOutputs gives each main-graph output whose producer makes the
// wrong type a Cast: the producer's output is renamed and the Cast writes
// the output name, so the model's interface keeps its names.
func (c *converter) renameMainOutputs() error {
	s := c.root
	for _, o := range slices.Clone(s.g.GetOutput()) {
		v := o.GetName()
		w := c.ioType(s)
		if s.elem[v] != tFloat || s.final[v] == w {
			continue
		}
		p := s.producer[v]
		if p == nil {
			return fmt.Errorf("internal error: graph output %q needs %s but has no producer to rename", v, c.typeName(w))
		}
		renamed := c.namer.Name(v + "_" + c.typeName(s.final[v]))
		for j, out := range p.Output {
			if out == v {
				p.Output[j] = renamed
			}
		}
		if _, err := graph.ReplaceAllUses(s.g, v, renamed); err != nil {
			return err
		}
		s.elem[renamed] = tFloat
		s.final[renamed] = s.final[v]
		s.producer[renamed] = p
		cast := &onnxpb.NodeProto{
			OpType: "Cast", Name: c.namer.Name(v + "_cast"),
			Input: []string{renamed}, Output: []string{v},
			Attribute: []*onnxpb.AttributeProto{castAttr(w)},
		}
		s.g.Node = append(s.g.Node, cast)
		c.ours[cast] = true
		c.res.CastsAdded++
		s.final[v] = w
		s.producer[v] = cast
		s.casts[castKey{renamed, w}] = v
	}
	return nil
}

// insertCasts makes every reader of a float32 value see the type it needs.
// Casts go into the graph that defines the value, so readers in several
// subgraphs share one.
func (c *converter) insertCasts() {
	for _, r := range c.reads() {
		d := r.s.resolve(r.name)
		if d == nil || r.s.finalOf(r.name) == r.want {
			continue
		}
		out := c.newCast(d, r.name, r.want)
		if r.node != nil {
			r.node.Input[r.slot] = out
		} else {
			r.s.g.Output[r.slot].Name = out
		}
	}
}

// retypeInfos writes the final element types into graph inputs, outputs
// and value_info.
func (c *converter) retypeInfos() {
	for _, s := range c.scopes {
		for _, vs := range [][]*onnxpb.ValueInfoProto{s.g.GetInput(), s.g.GetOutput(), s.g.GetValueInfo()} {
			for _, v := range vs {
				if s.typeOf(v.GetName()) == tFloat && v.GetType() != nil {
					setTypeElem(v.GetType(), s.finalOf(v.GetName()))
				}
			}
		}
	}
}
