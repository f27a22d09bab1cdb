package calib

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Fingerprint returns a hex sha256 of the parts of m's structure that
// decide which tensors exist and what they compute:
//
//   - the graph inputs that are not initializers: names and element types
//     (not shapes, so fixing a dynamic batch size keeps the fingerprint);
//   - the graph output names;
//   - every node in order: domain, op type, input and output names, and
//     attributes (names and values, subgraphs recursively; tensor-valued
//     attributes by data type and dims only);
//   - initializers (sorted by name): names, data types and dims.
//
// Weight values, names of nodes, doc strings, producer fields, opset
// imports and metadata are left out, so re-saving a model or changing only
// its weights keeps its fingerprint. Constant nodes count as nodes: a model
// whose constants were turned into initializers has another fingerprint,
// so fingerprint the model as it is calibrated. A nil model hashes as an
// empty one.
func Fingerprint(m *onnxpb.ModelProto) string {
	f := fingerprinter{sha256.New()}
	f.graph(m.GetGraph())
	return hex.EncodeToString(f.h.Sum(nil))
}

type fingerprinter struct{ h hash.Hash }

func (f fingerprinter) int(v int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	f.h.Write(b[:])
}

// str writes s with its length, so that concatenations cannot collide.
func (f fingerprinter) str(s string) {
	f.int(int64(len(s)))
	f.h.Write([]byte(s))
}

func (f fingerprinter) strs(ss []string) {
	f.int(int64(len(ss)))
	for _, s := range ss {
		f.str(s)
	}
}

func (f fingerprinter) ints(vs []int64) {
	f.int(int64(len(vs)))
	for _, v := range vs {
		f.int(v)
	}
}

func (f fingerprinter) graph(g *onnxpb.GraphProto) {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, t := range g.GetSparseInitializer() {
		inits[t.GetValues().GetName()] = true
	}
	f.str("inputs")
	for _, in := range g.GetInput() {
		if inits[in.GetName()] {
			continue
		}
		f.str(in.GetName())
		f.int(int64(in.GetType().GetTensorType().GetElemType()))
	}
	f.str("outputs")
	for _, o := range g.GetOutput() {
		f.str(o.GetName())
	}
	f.str("nodes")
	f.int(int64(len(g.GetNode())))
	for _, n := range g.GetNode() {
		f.str(n.GetDomain())
		f.str(n.GetOpType())
		f.strs(n.GetInput())
		f.strs(n.GetOutput())
		f.int(int64(len(n.GetAttribute())))
		for _, a := range n.GetAttribute() {
			f.attribute(a)
		}
	}
	f.str("initializers")
	ts := slices.Clone(g.GetInitializer())
	slices.SortFunc(ts, func(a, b *onnxpb.TensorProto) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, t := range ts {
		f.str(t.GetName())
		f.int(int64(t.GetDataType()))
		f.ints(t.GetDims())
	}
	sparse := slices.Clone(g.GetSparseInitializer())
	slices.SortFunc(sparse, func(a, b *onnxpb.SparseTensorProto) int {
		return strings.Compare(a.GetValues().GetName(), b.GetValues().GetName())
	})
	for _, t := range sparse {
		f.str(t.GetValues().GetName())
		f.int(int64(t.GetValues().GetDataType()))
		f.ints(t.GetDims())
	}
}

func (f fingerprinter) attribute(a *onnxpb.AttributeProto) {
	f.str(a.GetName())
	f.int(int64(a.GetType()))
	f.str(a.GetRefAttrName())
	f.int(int64(math.Float32bits(a.GetF())))
	f.int(a.GetI())
	f.str(string(a.GetS()))
	f.tensorShape(a.GetT())
	f.int(int64(len(a.GetFloats())))
	for _, v := range a.GetFloats() {
		f.int(int64(math.Float32bits(v)))
	}
	f.ints(a.GetInts())
	f.int(int64(len(a.GetStrings())))
	for _, s := range a.GetStrings() {
		f.str(string(s))
	}
	f.int(int64(len(a.GetTensors())))
	for _, t := range a.GetTensors() {
		f.tensorShape(t)
	}
	if g := a.GetG(); g != nil {
		f.str("graph")
		f.graph(g)
	}
	f.int(int64(len(a.GetGraphs())))
	for _, g := range a.GetGraphs() {
		f.graph(g)
	}
}

func (f fingerprinter) tensorShape(t *onnxpb.TensorProto) {
	if t == nil {
		f.int(-1)
		return
	}
	f.int(int64(t.GetDataType()))
	f.ints(t.GetDims())
}
