package int4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Domain is the operator domain of MatMulNBits.
const Domain = "com.microsoft"

// Defaults for the zero fields of Options.
const (
	DefaultBlockSize   = 32
	DefaultMinElements = 1024
)

// Options configure Quantize. The zero value quantizes asymmetrically in
// blocks of 32 with accuracy level 0.
type Options struct {
	// BlockSize is the number of weights along K that share a scale: a
	// power of two from 16 to 256 (ONNX Runtime's CPU kernels have 16, 32,
	// 64, 128 and 256). 0 means DefaultBlockSize. Smaller blocks are more
	// accurate and a little larger (a 4-byte scale per block).
	BlockSize int
	// Symmetric drops the per-block zero points (ONNX Runtime then uses 8);
	// false stores one 4-bit zero point per block, which fits blocks that
	// are not centred on 0 better, as ONNX Runtime's own quantizer does by
	// default.
	Symmetric bool
	// AccuracyLevel is MatMulNBits' accuracy_level: the precision its
	// kernel may convert A to (0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8).
	// On x86 CPUs level 4 is the fast one (int8 dot products); levels 0–3
	// dequantize to float32 and, measured here, run no faster than
	// float32 MatMul once A has tens of rows (see BenchmarkMatMul).
	AccuracyLevel int
	// MinElements: weights with fewer values stay float, since they save
	// little. 0 means DefaultMinElements; 1 quantizes every weight that
	// fills a block.
	MinElements int
	// ExcludeNodes names nodes that stay float.
	ExcludeNodes []string
}

// Skip is a MatMul or Gemm left float, and why.
type Skip struct {
	Node   string `json:"node"` // the node's name, or "#<index> <op>" when it has none
	Reason string `json:"reason"`
}

// Result reports what Quantize did.
type Result struct {
	// Quantized counts the nodes rewritten as MatMulNBits.
	Quantized int `json:"quantized"`
	// Skipped lists every MatMul and Gemm left float, in graph order
	// (subgraphs after their graph).
	Skipped []Skip `json:"skipped,omitempty"`
	// WeightBytesBefore is the float32 size of the weights that were
	// quantized (each counted once); WeightBytesAfter the size of what
	// replaced them: packed codes, scales and zero points. Biases are in
	// neither.
	WeightBytesBefore int64 `json:"weight_bytes_before"`
	WeightBytesAfter  int64 `json:"weight_bytes_after"`
}

func (o *Options) check() error {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BlockSize < 16 || o.BlockSize > 256 || o.BlockSize&(o.BlockSize-1) != 0 {
		return fmt.Errorf("block size %d: want a power of two from 16 to 256", o.BlockSize)
	}
	if o.AccuracyLevel < 0 || o.AccuracyLevel > 4 {
		return fmt.Errorf("accuracy level %d: want 0 to 4", o.AccuracyLevel)
	}
	if o.MinElements < 0 {
		return fmt.Errorf("minimum weight size %d is negative", o.MinElements)
	}
	if o.MinElements == 0 {
		o.MinElements = DefaultMinElements
	}
	return nil
}

// Quantize rewrites m in place: each MatMul and Gemm whose weight can be
// quantized becomes a MatMulNBits (see the package documentation). It
// returns an error, leaving m unchanged, for bad options, a nil model or
// graph, or a nil node in any graph.
func Quantize(m *onnxpb.ModelProto, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("int4: %w", err)
	}
	g := m.GetGraph()
	if g == nil {
		return nil, errors.New("int4: model has no graph")
	}
	if err := checkNodes(g, "main graph"); err != nil {
		return nil, fmt.Errorf("int4: %w", err)
	}
	q := &quantizer{
		opts:    opts,
		exclude: make(map[string]bool, len(opts.ExcludeNodes)),
		namer:   graph.NewNamer(g),
		res:     &Result{},
	}
	for _, name := range opts.ExcludeNodes {
		q.exclude[name] = true
	}
	q.graph(g)
	if q.res.Quantized > 0 {
		addMSOpset(m)
	}
	return q.res, nil
}

func checkNodes(g *onnxpb.GraphProto, where string) error {
	for i, n := range g.GetNode() {
		if n == nil {
			return fmt.Errorf("%s: node #%d is nil", where, i)
		}
		for _, sg := range subgraphs(n) {
			if err := checkNodes(sg, fmt.Sprintf("subgraph of %s", label(n, i))); err != nil {
				return err
			}
		}
	}
	return nil
}

func subgraphs(n *onnxpb.NodeProto) []*onnxpb.GraphProto {
	var out []*onnxpb.GraphProto
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil {
			out = append(out, a.GetG())
		}
		for _, sg := range a.GetGraphs() {
			if sg != nil {
				out = append(out, sg)
			}
		}
	}
	return out
}

func label(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return fmt.Sprintf("#%d %s", i, n.GetOpType())
}

func addMSOpset(m *onnxpb.ModelProto) {
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == Domain {
			return
		}
	}
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: Domain, Version: 1})
}

type quantizer struct {
	opts    Options
	exclude map[string]bool
	namer   *graph.Namer
	res     *Result
}

// candidate is a node that can become MatMulNBits once its weight is
// known to be read by candidates only.
type candidate struct {
	node   *onnxpb.NodeProto
	label  string
	weight *onnxpb.TensorProto
	w      matrix
	alpha  float32
	bias   []float32 // beta·C as [N]; nil without C
	biasOK string    // the name of C when it can be used as it is
	c      string    // the Gemm's C, which may be left unused
}

// packKey identifies one packing of a weight: the same initializer read by
// a MatMul and by a Gemm with transB = 1 packs the same way only if the
// orientation and alpha agree.
type packKey struct {
	weight     string
	transposed bool
	alpha      float32
}

type packing struct {
	p             *packed
	b, scales, zp string
	err           error
	counted       bool // in Result.WeightBytesAfter
}

func (q *quantizer) skip(lbl, format string, args ...any) {
	q.res.Skipped = append(q.res.Skipped, Skip{Node: lbl, Reason: fmt.Sprintf(format, args...)})
}

// graph quantizes g's nodes, then its subgraphs'.
func (q *quantizer) graph(g *onnxpb.GraphProto) {
	idx := graph.NewIndex(g)
	var cands []*candidate
	for i, n := range g.GetNode() {
		if !graph.IsDefaultDomain(n.GetDomain()) || (n.GetOpType() != "MatMul" && n.GetOpType() != "Gemm") {
			continue
		}
		lbl := label(n, i)
		c, reason := q.analyze(idx, n, lbl)
		if reason != "" {
			q.skip(lbl, "%s", reason)
			continue
		}
		cands = append(cands, c)
	}
	// A weight also read by a node that stays float would be stored twice.
	// Dropping a candidate may strand another that shares its weight, so
	// repeat until nothing changes.
	keep := cands
	for changed := true; changed; {
		changed = false
		kept := make(map[*onnxpb.NodeProto]bool, len(keep))
		for _, c := range keep {
			kept[c.node] = true
		}
		var next []*candidate
		for _, c := range keep {
			if reason := sharedReason(idx, c, kept); reason != "" {
				q.skip(c.label, "%s", reason)
				changed = true
				continue
			}
			next = append(next, c)
		}
		keep = next
	}

	packs := map[packKey]*packing{}
	counted := map[string]bool{}
	replaced := map[string]bool{}
	for _, c := range keep {
		key := packKey{c.weight.GetName(), c.w.transposed, c.alpha}
		pk := packs[key]
		if pk == nil {
			pk = &packing{}
			pk.p, pk.err = quantize(c.w, q.opts.BlockSize, q.opts.Symmetric)
			if pk.err == nil {
				if c.alpha != 1 {
					for i := range pk.p.scales {
						pk.p.scales[i] *= c.alpha
					}
				}
				q.addPacked(g, c.weight.GetName(), pk)
			}
			packs[key] = pk
		}
		if pk.err != nil {
			q.skip(c.label, "weight %q cannot be quantized: %v", c.weight.GetName(), pk.err)
			continue
		}
		if !counted[c.weight.GetName()] {
			counted[c.weight.GetName()] = true
			q.res.WeightBytesBefore += 4 * int64(c.w.k) * int64(c.w.n)
		}
		if !pk.counted {
			pk.counted = true
			q.res.WeightBytesAfter += pk.p.bytes()
		}
		q.rewrite(g, c, pk)
		replaced[c.weight.GetName()] = true
		if c.c != "" {
			replaced[c.c] = true
		}
		q.res.Quantized++
	}
	removeUnused(g, replaced)

	for _, n := range g.GetNode() {
		for _, sg := range subgraphs(n) {
			q.graph(sg)
		}
	}
}

// analyze decides whether n can be rewritten on its own terms; the
// weight's other readers are checked later.
func (q *quantizer) analyze(idx *graph.Index, n *onnxpb.NodeProto, lbl string) (*candidate, string) {
	if q.exclude[n.GetName()] && n.GetName() != "" {
		return nil, "excluded (ExcludeNodes)"
	}
	in := n.GetInput()
	gemm := n.GetOpType() == "Gemm"
	if len(in) < 2 || in[0] == "" || in[1] == "" || len(n.GetOutput()) != 1 || (!gemm && len(in) != 2) || len(in) > 3 {
		return nil, "unexpected inputs or outputs"
	}
	c := &candidate{node: n, label: lbl, alpha: 1}
	var beta float32 = 1
	transB := false
	if gemm {
		for _, a := range n.GetAttribute() {
			switch a.GetName() {
			case "alpha":
				c.alpha = a.GetF()
			case "beta":
				beta = a.GetF()
			case "transA":
				if a.GetI() != 0 {
					return nil, "transA = 1 (MatMulNBits reads A as it is)"
				}
			case "transB":
				transB = a.GetI() != 0
			default:
				return nil, fmt.Sprintf("unknown Gemm attribute %q", a.GetName())
			}
		}
		if !finite(c.alpha) || !finite(beta) {
			return nil, fmt.Sprintf("alpha %v or beta %v is not finite", c.alpha, beta)
		}
	} else if len(n.GetAttribute()) > 0 {
		return nil, "MatMul with attributes"
	}
	wName := in[1]
	w := idx.Initializer(wName)
	switch {
	case w == nil:
		return nil, fmt.Sprintf("weight %q is not a constant initializer of the node's graph", wName)
	case idx.IsInput(wName):
		return nil, fmt.Sprintf("weight %q is also a graph input, so callers may override it", wName)
	case tensor.DType(w.GetDataType()) != tensor.Float32:
		return nil, fmt.Sprintf("weight %q is %s, not float32", wName, tensor.DType(w.GetDataType()))
	case len(w.GetDims()) != 2:
		return nil, fmt.Sprintf("weight %q has shape %v, not a matrix", wName, w.GetDims())
	}
	rows, cols := w.GetDims()[0], w.GetDims()[1]
	k, nOut := rows, cols
	if transB {
		k, nOut = cols, rows
	}
	if k < int64(q.opts.BlockSize) {
		return nil, fmt.Sprintf("weight %q has K = %d, less than one block of %d", wName, k, q.opts.BlockSize)
	}
	if nOut < 1 {
		return nil, fmt.Sprintf("weight %q has N = 0", wName)
	}
	if k*nOut < int64(q.opts.MinElements) {
		return nil, fmt.Sprintf("weight %q has %d values, fewer than the minimum %d", wName, k*nOut, q.opts.MinElements)
	}
	t, err := tensor.FromProto(w)
	if err != nil {
		return nil, fmt.Sprintf("weight %q cannot be read: %v", wName, err)
	}
	c.weight = w
	c.w = matrix{data: tensor.Values[float32](t), k: int(k), n: int(nOut), transposed: transB}
	if gemm && len(in) == 3 && in[2] != "" {
		c.c = in[2]
	}
	if c.c != "" && beta != 0 {
		bias, same, reason := gemmBias(idx, in[2], int(nOut), beta)
		if reason != "" {
			return nil, reason
		}
		c.bias = bias
		if same {
			c.biasOK = in[2]
		}
	}
	return c, ""
}

// gemmBias returns beta·C as a vector of n, and whether C is that vector
// already (beta = 1, shape [N]). C broadcast along columns or per row
// depends on the batch, which MatMulNBits' bias cannot express.
func gemmBias(idx *graph.Index, name string, n int, beta float32) ([]float32, bool, string) {
	c := idx.Initializer(name)
	switch {
	case c == nil || idx.IsInput(name):
		return nil, false, fmt.Sprintf("bias %q is not a constant initializer", name)
	case tensor.DType(c.GetDataType()) != tensor.Float32:
		return nil, false, fmt.Sprintf("bias %q is %s, not float32", name, tensor.DType(c.GetDataType()))
	}
	dims := c.GetDims()
	var last int64 = 1
	if len(dims) > 0 {
		last = dims[len(dims)-1]
	}
	rowVector := len(dims) <= 2 && (len(dims) < 2 || dims[0] == 1) && (last == int64(n) || last == 1)
	if !rowVector {
		return nil, false, fmt.Sprintf("bias %q has shape %v; only [N], [1, N] or a scalar fold into MatMulNBits", name, dims)
	}
	t, err := tensor.FromProto(c)
	if err != nil {
		return nil, false, fmt.Sprintf("bias %q cannot be read: %v", name, err)
	}
	vals := tensor.Values[float32](t)
	out := make([]float32, n)
	for i := range out {
		v := vals[0]
		if len(vals) == n {
			v = vals[i]
		}
		out[i] = beta * v
	}
	return out, beta == 1 && len(dims) == 1 && last == int64(n), ""
}

// sharedReason says why c's weight cannot leave the graph: another reader
// that is not a kept candidate, or the weight being a graph output.
func sharedReason(idx *graph.Index, c *candidate, kept map[*onnxpb.NodeProto]bool) string {
	name := c.weight.GetName()
	if idx.IsOutput(name) {
		return fmt.Sprintf("weight %q is also a graph output", name)
	}
	for _, u := range idx.Consumers(name) {
		if u.Input == graph.Implicit {
			return fmt.Sprintf("weight %q is also read inside a subgraph of %s", name, nodeName(u.Node))
		}
		if !kept[u.Node] || u.Input != 1 {
			return fmt.Sprintf("weight %q is also read by %s, which stays float", name, nodeName(u.Node))
		}
	}
	return ""
}

func nodeName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%q", n.GetName())
	}
	return "an unnamed " + n.GetOpType()
}

// addPacked adds the packed weight's initializers to g.
func (q *quantizer) addPacked(g *onnxpb.GraphProto, weight string, pk *packing) {
	p := pk.p
	pk.b = q.namer.Name(weight + "_Q4")
	pk.scales = q.namer.Name(weight + "_scales")
	g.Initializer = append(g.Initializer,
		&onnxpb.TensorProto{Name: pk.b, DataType: int32(tensor.Uint8), Dims: []int64{int64(p.n), int64(p.kBlocks), int64(p.blockSize / 2)}, RawData: p.b},
		floatTensor(pk.scales, []int64{int64(p.n), int64(p.kBlocks)}, p.scales))
	if p.zeroPoints != nil {
		pk.zp = q.namer.Name(weight + "_zp")
		g.Initializer = append(g.Initializer,
			&onnxpb.TensorProto{Name: pk.zp, DataType: int32(tensor.Uint8), Dims: []int64{int64(p.n), int64((p.kBlocks + 1) / 2)}, RawData: p.zeroPoints})
	}
}

func floatTensor(name string, dims []int64, vals []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: name, DataType: int32(tensor.Float32), Dims: dims, RawData: raw}
}

// rewrite turns c's node into MatMulNBits reading pk.
func (q *quantizer) rewrite(g *onnxpb.GraphProto, c *candidate, pk *packing) {
	n, p := c.node, pk.p
	inputs := []string{n.GetInput()[0], pk.b, pk.scales}
	if c.bias != nil {
		bias := c.biasOK
		if bias == "" {
			bias = q.namer.Name(c.weight.GetName() + "_bias")
			g.Initializer = append(g.Initializer, floatTensor(bias, []int64{int64(p.n)}, c.bias))
		}
		inputs = append(inputs, pk.zp, "", bias)
	} else if pk.zp != "" {
		inputs = append(inputs, pk.zp)
	}
	n.OpType = "MatMulNBits"
	n.Domain = Domain
	n.Input = inputs
	n.Attribute = []*onnxpb.AttributeProto{
		intAttr("K", int64(p.k)),
		intAttr("N", int64(p.n)),
		intAttr("bits", 4),
		intAttr("block_size", int64(p.blockSize)),
		intAttr("accuracy_level", int64(q.opts.AccuracyLevel)),
	}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

// removeUnused drops the float weights in names that nothing reads any
// more, with their value_info.
func removeUnused(g *onnxpb.GraphProto, names map[string]bool) {
	if len(names) == 0 {
		return
	}
	idx := graph.NewIndex(g)
	gone := map[string]bool{}
	for name := range names {
		if !idx.Used(name) && !idx.IsInput(name) {
			gone[name] = true
		}
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnxpb.TensorProto) bool { return gone[t.GetName()] })
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return gone[v.GetName()] })
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// String summarises r in one line.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d weights to int4", r.Quantized)
	if r.WeightBytesBefore > 0 {
		fmt.Fprintf(&b, " (%d → %d bytes, %.3f×)", r.WeightBytesBefore, r.WeightBytesAfter, float64(r.WeightBytesAfter)/float64(r.WeightBytesBefore))
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, ", %d left float", len(r.Skipped))
	}
	return b.String()
}
