package prep

import (
	"errors"
	"fmt"
	"slices"

	"github.com/x448/float16"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// constantFolders computes the ops FoldConstants folds. Each returns nil,
// leaving the node alone, for inputs or attributes it does not handle or
// that ONNX Runtime would refuse at run time. in holds the node's inputs,
// nil where the input is absent.
var constantFolders = map[string]func(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor{
	"Reshape":   foldReshape,
	"Flatten":   foldFlatten,
	"Squeeze":   foldSqueeze,
	"Unsqueeze": foldUnsqueeze,
	"Identity":  foldIdentity,
	"Transpose": foldTranspose,
	"Cast":      foldCast,
}

// FoldConstants replaces the nodes of g's main graph that compute a
// tensor from initializers alone by one of Reshape, Flatten, Squeeze,
// Unsqueeze, Identity, Transpose, or Cast between float32 and float16 or
// float64, with an initializer named after the node's output, and returns
// how many it folded per op type. A weight exporters store in another
// layout (Reshape(W, shape), Transpose(W)) is then an initializer that
// quantization sees as a weight rather than an activation. Chains fold
// whole: a node reading a folded value can fold in turn.
//
// A node is folded only when it is of the default domain, has one output
// that is not a graph output, every input it reads is a dense initializer
// that is not also a graph input (a default a caller may override), with
// its data inline, and the computation is one ONNX Runtime would perform
// (a Reshape whose element count does not match, say, is left for ONNX
// Runtime to refuse). Unknown attributes leave the node alone. Subgraphs
// are not searched. The value_info entries of folded values go: the
// initializer carries the type. Initializers left unused stay for
// graph.EliminateDeadCode to remove.
//
// It returns an error, changing nothing, if g is nil or its nodes cannot
// be ordered (a nil node, a cycle).
func FoldConstants(g *onnxpb.GraphProto) (map[string]int, error) {
	if g == nil {
		return nil, errors.New("fold constants: nil graph")
	}
	order, err := graph.Topo(g)
	if err != nil {
		return nil, fmt.Errorf("fold constants: %w", err)
	}
	idx := graph.NewIndex(g)
	// folded holds the values computed so far, so chains fold whole.
	folded := make(map[string]*tensor.Tensor)
	decoded := make(map[string]*tensor.Tensor)
	constant := func(name string) *tensor.Tensor {
		if t, ok := folded[name]; ok {
			return t
		}
		if t, ok := decoded[name]; ok {
			return t
		}
		var t *tensor.Tensor
		if tp := idx.Initializer(name); tp != nil && !idx.IsInput(name) {
			// A tensor that does not decode (external data not loaded) is
			// not understood: not folded.
			t, _ = tensor.FromProto(tp)
		}
		decoded[name] = t
		return t
	}
	var (
		inits  []*onnxpb.TensorProto
		drop   = make(map[*onnxpb.NodeProto]bool)
		names  = make(map[string]bool)
		counts = make(map[string]int)
	)
	for _, n := range order {
		fold := constantFolders[n.GetOpType()]
		out := n.GetOutput()
		if fold == nil || !graph.IsDefaultDomain(n.GetDomain()) || len(out) != 1 || out[0] == "" || idx.IsOutput(out[0]) {
			continue
		}
		in := make([]*tensor.Tensor, len(n.GetInput()))
		all := len(in) > 0 && n.GetInput()[0] != ""
		for i, name := range n.GetInput() {
			if name == "" {
				continue
			}
			if in[i] = constant(name); in[i] == nil {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		t := fold(n, in)
		if t == nil {
			continue
		}
		tp, err := tensor.ToProto(t, out[0])
		if err != nil {
			continue
		}
		folded[out[0]] = t
		inits = append(inits, tp)
		drop[n] = true
		names[out[0]] = true
		counts[n.GetOpType()]++
	}
	if len(inits) == 0 {
		return nil, nil
	}
	// A new array: the list may share one with another graph message.
	g.Initializer = append(slices.Clip(g.Initializer), inits...)
	removeNodes(g, drop)
	dropValueInfo(g, names)
	return counts, nil
}

// attrsWithin reports whether every attribute of n is one of known.
func attrsWithin(n *onnxpb.NodeProto, known ...string) bool {
	for _, a := range n.GetAttribute() {
		if !slices.Contains(known, a.GetName()) {
			return false
		}
	}
	return true
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// int64s returns the elements of a 1-D int64 tensor, or false.
func int64s(t *tensor.Tensor) ([]int64, bool) {
	if t == nil || t.DType() != tensor.Int64 || len(t.Shape()) != 1 {
		return nil, false
	}
	return tensor.Values[int64](t), true
}

// reshaped returns t with dims (sharing its data: nothing here writes to
// a tensor), or nil when the element count differs.
func reshaped(t *tensor.Tensor, dims []int64) *tensor.Tensor {
	r, err := t.Reshape(dims)
	if err != nil {
		return nil
	}
	return r
}

// normAxis maps axis in [-rank, rank) to [0, rank), or returns -1.
func normAxis(axis int64, rank int) int {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return -1
	}
	return int(axis)
}

func foldReshape(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	if len(in) != 2 || !attrsWithin(n, "allowzero") {
		return nil
	}
	shape, ok := int64s(in[1])
	if !ok {
		return nil
	}
	allowZero := attr(n, "allowzero").GetI() != 0
	x := in[0]
	dims := make([]int64, len(shape))
	infer := -1
	for i, s := range shape {
		switch {
		case s == -1 && infer < 0:
			infer = i
			continue
		case s == 0 && !allowZero:
			if i >= len(x.Shape()) {
				return nil
			}
			dims[i] = x.Shape()[i]
		case s < 0:
			return nil
		default:
			dims[i] = s
		}
	}
	if infer >= 0 {
		// With allowzero, a 0 next to -1 leaves -1 undetermined; without,
		// a copied 0 does the same.
		dims[infer] = 1
		known, err := tensor.NumElements(dims)
		if err != nil || known == 0 || x.Len()%known != 0 {
			return nil
		}
		dims[infer] = int64(x.Len() / known)
	}
	return reshaped(x, dims)
}

func foldFlatten(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	if len(in) != 1 || !attrsWithin(n, "axis") {
		return nil
	}
	x := in[0]
	r := len(x.Shape())
	axis := int64(1)
	if a := attr(n, "axis"); a != nil {
		axis = a.GetI()
	}
	if axis < 0 {
		axis += int64(r)
	}
	if r == 0 || axis < 0 || axis > int64(r) {
		return nil
	}
	outer, err := tensor.NumElements(x.Shape()[:axis])
	if err != nil {
		return nil
	}
	inner, err := tensor.NumElements(x.Shape()[axis:])
	if err != nil {
		return nil
	}
	return reshaped(x, []int64{int64(outer), int64(inner)})
}

// squeezeAxes returns the axes of Squeeze or Unsqueeze: the input from
// opset 13, the attribute before. has is false when there are none, and ok
// false when they are malformed or given both ways.
func squeezeAxes(n *onnxpb.NodeProto, in []*tensor.Tensor) (axes []int64, has, ok bool) {
	a := attr(n, "axes")
	switch {
	case len(in) > 2 || !attrsWithin(n, "axes"):
		return nil, false, false
	case len(in) == 2 && in[1] != nil:
		if a != nil {
			return nil, false, false
		}
		axes, ok = int64s(in[1])
		return axes, true, ok
	case a != nil:
		return a.GetInts(), true, true
	}
	return nil, false, true
}

func foldSqueeze(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	axes, has, ok := squeezeAxes(n, in)
	// Runtimes disagree on an empty axes input; leave it to them.
	if !ok || (has && len(axes) == 0) {
		return nil
	}
	x := in[0]
	shape := x.Shape()
	squeeze := make([]bool, len(shape))
	for _, a := range axes {
		i := normAxis(a, len(shape))
		if i < 0 || squeeze[i] || shape[i] != 1 {
			return nil
		}
		squeeze[i] = true
	}
	dims := []int64{}
	for i, d := range shape {
		if has && !squeeze[i] || !has && d != 1 {
			dims = append(dims, d)
		}
	}
	return reshaped(x, dims)
}

func foldUnsqueeze(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	axes, has, ok := squeezeAxes(n, in)
	if !ok || !has || len(axes) == 0 {
		return nil
	}
	x := in[0]
	rank := len(x.Shape()) + len(axes)
	one := make([]bool, rank)
	for _, a := range axes {
		i := normAxis(a, rank)
		if i < 0 || one[i] {
			return nil
		}
		one[i] = true
	}
	dims := make([]int64, rank)
	next := 0
	for i := range dims {
		if one[i] {
			dims[i] = 1
		} else {
			dims[i] = x.Shape()[next]
			next++
		}
	}
	return reshaped(x, dims)
}

func foldIdentity(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	if len(in) != 1 || len(n.GetAttribute()) != 0 {
		return nil
	}
	return in[0]
}

func foldTranspose(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	if len(in) != 1 || !attrsWithin(n, "perm") {
		return nil
	}
	x := in[0]
	shape := x.Shape()
	r := len(shape)
	perm := make([]int, r)
	if a := attr(n, "perm"); a != nil {
		if len(a.GetInts()) != r {
			return nil
		}
		seen := make([]bool, r)
		for i, p := range a.GetInts() {
			if p < 0 || p >= int64(r) || seen[p] {
				return nil
			}
			seen[p] = true
			perm[i] = int(p)
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	dims := make([]int64, r)
	for i, p := range perm {
		dims[i] = shape[p]
	}
	var data any
	switch v := x.Data().(type) {
	case []float32:
		data = transposed(v, shape, perm)
	case []float64:
		data = transposed(v, shape, perm)
	case []float16.Float16:
		data = transposed(v, shape, perm)
	case []tensor.BFloat16:
		data = transposed(v, shape, perm)
	case []int8:
		data = transposed(v, shape, perm)
	case []uint8:
		data = transposed(v, shape, perm)
	case []int16:
		data = transposed(v, shape, perm)
	case []uint16:
		data = transposed(v, shape, perm)
	case []int32:
		data = transposed(v, shape, perm)
	case []uint32:
		data = transposed(v, shape, perm)
	case []int64:
		data = transposed(v, shape, perm)
	case []uint64:
		data = transposed(v, shape, perm)
	case []bool:
		data = transposed(v, shape, perm)
	case []string:
		data = transposed(v, shape, perm)
	case []complex64:
		data = transposed(v, shape, perm)
	case []complex128:
		data = transposed(v, shape, perm)
	default:
		return nil
	}
	t, err := tensor.NewWithDType(x.DType(), dims, data)
	if err != nil {
		return nil
	}
	return t
}

// transposed returns v, a row-major tensor of shape, with its axes
// permuted: axis i of the result is axis perm[i] of v.
func transposed[T any](v []T, shape []int64, perm []int) []T {
	r := len(perm)
	srcStride := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		srcStride[i] = s
		s *= int(shape[i])
	}
	dims, stride := make([]int, r), make([]int, r)
	for i, p := range perm {
		dims[i], stride[i] = int(shape[p]), srcStride[p]
	}
	out := make([]T, len(v))
	pos := make([]int, r)
	off := 0 // of out[i]'s element in v
	for i := range out {
		out[i] = v[off]
		for j := r - 1; j >= 0; j-- {
			pos[j]++
			off += stride[j]
			if pos[j] < dims[j] {
				break
			}
			off -= stride[j] * dims[j]
			pos[j] = 0
		}
	}
	return out
}

// castable are the element types Cast folds between, as long as one side
// is float32: conversions ONNX Runtime rounds once, to nearest even, as
// tensor.Cast does (float64 → float16 may round twice there).
var castable = map[tensor.DType]bool{tensor.Float16: true, tensor.Float32: true, tensor.Float64: true}

func foldCast(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	// saturate applies to float8 targets only.
	to := attr(n, "to")
	if len(in) != 1 || to == nil || !attrsWithin(n, "to", "saturate") {
		return nil
	}
	from, d := in[0].DType(), tensor.DType(to.GetI())
	if !castable[from] || !castable[d] || (from != tensor.Float32 && d != tensor.Float32 && from != d) {
		return nil
	}
	t, err := tensor.Cast(in[0], d)
	if err != nil {
		return nil
	}
	return t
}
