package quantize

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// ApplyStats counts what Apply did.
type ApplyStats struct {
	QDQPairs   int `json:"qdq_pairs"`
	Weights    int `json:"weights"`
	Biases     int `json:"biases"`
	FoldedActs int `json:"folded_activations"`
	// Rescaled counts Mul-by-constant nodes turned into a scale.
	Rescaled      int `json:"rescaled_muls"`
	WeightBytesIn int64
	WeightBytes   int64
}

// Apply materialises a plan on m (modified in place): int8 weights and
// int32 biases with DequantizeLinear, and a QuantizeLinear/DequantizeLinear
// pair after every marked activation. ranges gives each calibrated tensor's
// [min, max] (Plan.Calibrate lists them). It returns an error naming a
// tensor without a range.
func Apply(m *onnxpb.ModelProto, p *Plan, ranges map[string][2]float64) (*ApplyStats, error) {
	g := m.GetGraph()
	st := &ApplyStats{}
	marks := snapshot(p.marks)
	// Fold Relu/Clip nodes into their producer's quantizer. The folds are
	// independent (each folded node is the only reader of an output of a
	// Conv, MatMul, Gemm or Add), so one index serves them all.
	fix := graph.NewIndex(g)
	for _, out := range sortedKeys(p.folded) {
		node, _ := fix.Producer(out)
		if node == nil {
			return nil, fmt.Errorf("fold the activation writing %q: no node writes it", out)
		}
		in := node.GetInput()[0]
		prod, pos := fix.Producer(in)
		if prod == nil {
			return nil, fmt.Errorf("fold the %s writing %q: no producer for %q", node.GetOpType(), out, in)
		}
		if err := graph.RemoveNode(g, node); err != nil {
			return nil, err
		}
		// in fed only the removed node (BuildPlan checked), so the producer
		// can write out directly.
		prod.Output[pos] = out
		dropValueInfo(g, in)
		delete(marks, in)
		marks[out] = &mark{kind: markActivation}
		st.FoldedActs++
	}
	namer := graph.NewNamer(g)
	ix := graph.NewIndex(g)
	// The nodes the plan quantizes, known by what they write (before
	// insertQDQ renames producers' outputs).
	quantized := map[*onnxpb.NodeProto]bool{}
	for _, n := range g.Node {
		for _, o := range n.GetOutput() {
			if p.quantizedOut[o] {
				quantized[n] = true
			}
		}
	}
	params := map[string][]Params{} // per tensor (one entry per channel for per-channel weights)
	actType := p.opts.ActivationType
	// Activations first: biases need their input's scale.
	var acts []string
	for _, name := range sortedKeys(marks) {
		if marks[name].kind == markActivation {
			acts = append(acts, name)
		}
	}
	resolve := func(name string) (Params, error) {
		seen := map[string]bool{}
		factor := 1.0 // rescaled values read their input with a scaled scale
		for {
			mk := marks[name]
			if mk == nil {
				return Params{}, fmt.Errorf("tensor %q is not quantized", name)
			}
			if mk.sameAs == "" {
				break
			}
			if seen[name] {
				return Params{}, fmt.Errorf("tensor %q: parameter sharing loops", name)
			}
			seen[name] = true
			if mk.factor != 0 {
				factor *= mk.factor
			}
			name = mk.sameAs
		}
		scaled := func(pp Params) Params {
			pp.Scale = float32(float64(pp.Scale) * factor)
			return pp
		}
		if ps, ok := params[name]; ok {
			return scaled(ps[0]), nil
		}
		mk := marks[name]
		var lo, hi float64
		switch {
		case mk.fixed != nil:
			lo, hi = mk.fixed[0], mk.fixed[1]
		default:
			key := name
			if mk.rangeOf != "" {
				key = mk.rangeOf
			}
			r, ok := ranges[key]
			if !ok {
				return Params{}, fmt.Errorf("no calibrated range for tensor %q", key)
			}
			lo, hi = r[0], r[1]
		}
		pp, err := ComputeParams(lo, hi, actType, p.opts.SymmetricActivations)
		if err != nil {
			return Params{}, fmt.Errorf("tensor %q: %w", name, err)
		}
		params[name] = []Params{pp}
		return scaled(pp), nil
	}
	shared := map[Params][2]string{}
	qOf := map[string]string{} // activation → its QuantizeLinear's output
	for _, name := range acts {
		if p.rescaled[name] {
			continue
		}
		pp, err := resolve(name)
		if err != nil {
			return nil, err
		}
		if qOf[name], err = insertQDQ(g, ix, namer, shared, quantized, name, pp, actType); err != nil {
			return nil, err
		}
		st.QDQPairs++
	}
	// A Mul by a positive constant becomes a DequantizeLinear of its
	// input's int8 values with the scale times the constant.
	for _, out := range sortedKeys(p.rescaled) {
		base := out
		for p.rescaled[base] {
			base = marks[base].sameAs
		}
		q, ok := qOf[base]
		if !ok {
			return nil, fmt.Errorf("rescale %q: %q has no QuantizeLinear", out, base)
		}
		pp, err := resolve(out)
		if err != nil {
			return nil, err
		}
		node, _ := ix.Producer(out)
		if node == nil {
			return nil, fmt.Errorf("rescale %q: no node writes it", out)
		}
		if err := graph.RemoveNode(g, node); err != nil {
			return nil, err
		}
		sz := scaleZero(g, namer, shared, pp, actType)
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "DequantizeLinear", Input: []string{q, sz[0], sz[1]}, Output: []string{out}})
		st.Rescaled++
	}
	for _, name := range sortedKeys(marks) {
		mk := marks[name]
		if mk.kind != markWeight {
			continue
		}
		init := ix.Initializer(name)
		if init == nil {
			return nil, fmt.Errorf("weight %q is not an initializer", name)
		}
		wt := p.opts.WeightType
		if mk.activationType {
			wt = actType
		}
		ps, dq, err := quantizeWeight(g, namer, init, mk.axis, wt)
		if err != nil {
			return nil, err
		}
		g.Node = append(g.Node, dq)
		params[name] = ps
		st.Weights++
	}
	for _, name := range sortedKeys(marks) {
		mk := marks[name]
		if mk.kind != markBias {
			continue
		}
		in, err := resolve(mk.biasInput)
		if err != nil {
			return nil, fmt.Errorf("bias %q: %w", name, err)
		}
		ws, ok := params[mk.biasWeight]
		if !ok {
			return nil, fmt.Errorf("bias %q: weight %q not quantized", name, mk.biasWeight)
		}
		if err := quantizeBias(g, namer, ix.Initializer(name), in, ws, mk.axis); err != nil {
			return nil, err
		}
		st.Biases++
	}
	// value_info described the float model; the types of renamed values
	// are stale, and ONNX Runtime infers them anyway.
	g.ValueInfo = nil
	// Drop the float initializers replaced above and keep nodes sorted.
	if _, err := graph.EliminateDeadCode(g); err != nil {
		return nil, err
	}
	if err := graph.SortNodes(g); err != nil {
		return nil, err
	}
	return st, nil
}

// Generated names are short (q_N, f_N, s_N, z_N for activations; name_q,
// name_s, name_z for weights; name_dq for inputs) and
// inserted Q/DQ nodes are unnamed: on small models the names, not the int8
// weights, would otherwise dominate the file.

// insertQDQ makes name's consumers (and graph outputs) see
// DequantizeLinear(QuantizeLinear(name)). A produced value is renamed so
// the DequantizeLinear output keeps the original name. A graph input keeps
// its name and the readers among the quantized nodes are redirected; the
// others (an Identity passing the input on to a graph output) keep the
// exact input, and the QuantizeLinear keeps a single reader: ONNX Runtime
// converts int8 activations to the uint8 its x86 kernels take only for a
// QuantizeLinear read by one DequantizeLinear, which it duplicates for
// every further reader.
func insertQDQ(g *onnxpb.GraphProto, ix *graph.Index, namer *graph.Namer, shared map[Params][2]string, quantized map[*onnxpb.NodeProto]bool,
	name string, p Params, t tensor.DType) (string, error) {
	sz := scaleZero(g, namer, shared, p, t)
	scale, zp := sz[0], sz[1]
	// The quantized and pre-quantization values only link nodes; short
	// generated names keep small models small.
	q := namer.Name("q")
	prod, pos := ix.Producer(name)
	src, dst := name, name
	if prod != nil {
		src = namer.Name("f")
		prod.Output[pos] = src
	} else {
		dst = namer.Name(name + "_dq")
		for _, u := range ix.Consumers(name) {
			if u.Input != graph.Implicit && quantized[u.Node] {
				u.Node.Input[u.Input] = dst
			}
		}
	}
	g.Node = append(g.Node,
		&onnxpb.NodeProto{OpType: "QuantizeLinear", Input: []string{src, scale, zp}, Output: []string{q}},
		&onnxpb.NodeProto{OpType: "DequantizeLinear", Input: []string{q, scale, zp}, Output: []string{dst}},
	)
	return q, nil
}

// scaleZero returns the scale and zero-point initializers for p. Tensors
// with equal parameters (pass-through ops) share one pair.
func scaleZero(g *onnxpb.GraphProto, namer *graph.Namer, shared map[Params][2]string, p Params, t tensor.DType) [2]string {
	sz, ok := shared[p]
	if !ok {
		sz = [2]string{namer.Name("s"), namer.Name("z")}
		g.Initializer = append(g.Initializer, scalarFloat(sz[0], p.Scale), scalarInt(sz[1], t, p.ZeroPoint))
		shared[p] = sz
	}
	return sz
}

// quantizeWeight replaces a float initializer by an int8/uint8 one and a
// DequantizeLinear producing the original name. Symmetric for int8,
// asymmetric for uint8; per channel along axis (−1: per tensor).
//
// It returns the per-channel parameters and the DequantizeLinear node for
// the caller to insert.
func quantizeWeight(g *onnxpb.GraphProto, namer *graph.Namer, init *onnxpb.TensorProto, axis int, t tensor.DType) ([]Params, *onnxpb.NodeProto, error) {
	w, err := tensor.FromProto(init)
	if err != nil {
		return nil, nil, fmt.Errorf("weight %q: %w", init.GetName(), err)
	}
	removeInitializer(g, init.GetName())
	return quantizeWeightTensor(g, namer, init.GetName(), w, axis, t)
}

// quantizeWeightTensor adds the quantized form of the float32 tensor w
// (named name) to g and returns its parameters and DequantizeLinear node.
// Both passes over the values are linear in memory order, so large weights
// quantize at memory speed whatever the channel axis.
func quantizeWeightTensor(g *onnxpb.GraphProto, namer *graph.Namer, name string, w *tensor.Tensor, axis int, t tensor.DType) ([]Params, *onnxpb.NodeProto, error) {
	vals := tensor.Values[float32](w)
	shape := w.Shape()
	channels, inner := 1, len(vals)
	if axis >= 0 {
		if axis >= len(shape) {
			return nil, nil, fmt.Errorf("weight %q: channel axis %d out of range for shape %v", name, axis, shape)
		}
		channels = int(shape[axis])
		inner = 1
		for _, d := range shape[axis+1:] {
			inner *= int(d)
		}
	}
	if channels == 0 || len(vals) == 0 {
		return nil, nil, fmt.Errorf("weight %q is empty", name)
	}
	sym := t == tensor.Int8
	qmin, qmax, err := qrange(t, sym)
	if err != nil {
		return nil, nil, err
	}
	lo := make([]float32, channels)
	hi := make([]float32, channels)
	for c := range lo {
		lo[c], hi[c] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	// Rows are the runs of inner values that share a channel: row r is
	// channel r % channels. Both passes split the rows over the CPUs and
	// visit values in memory order.
	rows := len(vals) / inner
	parallelRows(rows, func(r0, r1 int) {
		l, h := make([]float32, channels), make([]float32, channels)
		copy(l, lo)
		copy(h, hi)
		for r := r0; r < r1; r++ {
			c := r % channels
			lc, hc := l[c], h[c]
			for _, v := range vals[r*inner : (r+1)*inner] {
				// Plain comparisons: the min/max builtins order NaN, which
				// costs several times more per value.
				if v < lc {
					lc = v
				}
				if v > hc {
					hc = v
				}
			}
			l[c], h[c] = lc, hc
		}
		rangeMu.Lock()
		for c := range channels {
			lo[c], hi[c] = min(lo[c], l[c]), max(hi[c], h[c])
		}
		rangeMu.Unlock()
	})
	ps := make([]Params, channels)
	for c := range ps {
		if ps[c], err = ComputeParams(float64(lo[c]), float64(hi[c]), t, sym); err != nil {
			return nil, nil, fmt.Errorf("weight %q channel %d: %w", name, c, err)
		}
	}
	qlo, qhi := float64(qmin), float64(qmax)
	fill := func(set func(i int, q int32)) {
		parallelRows(rows, func(r0, r1 int) {
			for r := r0; r < r1; r++ {
				c := r % channels
				inv, zp := 1/float64(ps[c].Scale), float64(ps[c].ZeroPoint)
				for i := r * inner; i < (r+1)*inner; i++ {
					// Adding and removing 1.5·2^52 rounds to nearest even
					// (exact for |x| < 2^51) much faster than
					// math.RoundToEven.
					x := (float64(vals[i])*inv + roundMagic) - roundMagic + zp
					if x < qlo {
						x = qlo
					} else if x > qhi {
						x = qhi
					} else if x != x { // NaN weight: store the zero point
						x = zp
					}
					set(i, int32(x))
				}
			}
		})
	}
	var qt *tensor.Tensor
	if t == tensor.Int8 {
		q := make([]int8, len(vals))
		fill(func(i int, v int32) { q[i] = int8(v) })
		qt, err = tensor.New(shape, q)
	} else {
		q := make([]uint8, len(vals))
		fill(func(i int, v int32) { q[i] = uint8(v) })
		qt, err = tensor.New(shape, q)
	}
	if err != nil {
		return nil, nil, err
	}
	qname := namer.Name(name + "_q")
	qp, err := tensor.ToProto(qt, qname)
	if err != nil {
		return nil, nil, err
	}
	scale := namer.Name(name + "_s")
	// The zero point stays explicit even when it is 0: ONNX Runtime's QGemm
	// fusion does not match a weight DequantizeLinear without one
	// (TestORTFusesQuantizedModels).
	zp := namer.Name(name + "_z")
	g.Initializer = append(g.Initializer, qp, paramsScale(scale, ps, axis), paramsZP(zp, ps, axis, t))
	n := &onnxpb.NodeProto{OpType: "DequantizeLinear", Input: []string{qname, scale, zp}, Output: []string{name}}
	if axis >= 0 {
		n.Attribute = []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: int64(axis)}}
	}
	return ps, n, nil
}

// quantizeBias stores a bias as int32 with scale input scale × weight scale
// (per channel when the weight is) and zero point 0, so ORT's integer
// kernels can add it to their int32 accumulators.
func quantizeBias(g *onnxpb.GraphProto, namer *graph.Namer, init *onnxpb.TensorProto, in Params, ws []Params, axis int) error {
	b, err := tensor.FromProto(init)
	if err != nil {
		return fmt.Errorf("bias %q: %w", init.GetName(), err)
	}
	vals := tensor.Values[float32](b)
	if len(ws) != 1 && len(ws) != len(vals) {
		return fmt.Errorf("bias %q has %d values for %d weight channels", init.GetName(), len(vals), len(ws))
	}
	scales := make([]Params, len(ws))
	q := make([]int32, len(vals))
	for i := range ws {
		scales[i] = Params{Scale: in.Scale * ws[i].Scale}
	}
	for i, v := range vals {
		s := scales[0].Scale
		if len(scales) > 1 {
			s = scales[i].Scale
		}
		r := math.RoundToEven(float64(v) / float64(s))
		q[i] = int32(math.Max(math.MinInt32, math.Min(math.MaxInt32, r)))
	}
	name := init.GetName()
	qt, err := tensor.New(b.Shape(), q)
	if err != nil {
		return err
	}
	qname := namer.Name(name + "_q")
	qp, err := tensor.ToProto(qt, qname)
	if err != nil {
		return err
	}
	if len(scales) == 1 {
		axis = -1
	}
	// Bias zero points are 0, DequantizeLinear's default.
	scale := namer.Name(name + "_s")
	g.Initializer = append(g.Initializer, qp, paramsScale(scale, scales, axis))
	removeInitializer(g, name)
	n := &onnxpb.NodeProto{OpType: "DequantizeLinear", Input: []string{qname, scale}, Output: []string{name}}
	if axis >= 0 {
		n.Attribute = []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: int64(axis)}}
	}
	g.Node = append([]*onnxpb.NodeProto{n}, g.Node...)
	return nil
}

func removeInitializer(g *onnxpb.GraphProto, name string) {
	out := g.Initializer[:0]
	for _, t := range g.Initializer {
		if t.GetName() != name {
			out = append(out, t)
		}
	}
	g.Initializer = out
	in := g.Input[:0]
	for _, v := range g.Input {
		if v.GetName() != name {
			in = append(in, v)
		}
	}
	g.Input = in
}

func paramsScale(name string, ps []Params, axis int) *onnxpb.TensorProto {
	if axis < 0 {
		return scalarFloat(name, ps[0].Scale)
	}
	v := make([]float32, len(ps))
	for i, p := range ps {
		v[i] = p.Scale
	}
	t, _ := tensor.ToProto(tensor.MustNew([]int64{int64(len(v))}, v), name)
	return t
}

func paramsZP(name string, ps []Params, axis int, t tensor.DType) *onnxpb.TensorProto {
	if axis < 0 {
		return scalarInt(name, t, ps[0].ZeroPoint)
	}
	return intVector(name, t, ps)
}

func intVector(name string, t tensor.DType, ps []Params) *onnxpb.TensorProto {
	var tt *tensor.Tensor
	n := []int64{int64(len(ps))}
	switch t {
	case tensor.Int8:
		v := make([]int8, len(ps))
		for i, p := range ps {
			v[i] = int8(p.ZeroPoint)
		}
		tt = tensor.MustNew(n, v)
	case tensor.Uint8:
		v := make([]uint8, len(ps))
		for i, p := range ps {
			v[i] = uint8(p.ZeroPoint)
		}
		tt = tensor.MustNew(n, v)
	default:
		v := make([]int32, len(ps))
		for i, p := range ps {
			v[i] = p.ZeroPoint
		}
		tt = tensor.MustNew(n, v)
	}
	out, _ := tensor.ToProto(tt, name)
	return out
}

func scalarFloat(name string, v float32) *onnxpb.TensorProto {
	t, _ := tensor.ToProto(tensor.MustNew([]int64{}, []float32{v}), name)
	return t
}

func scalarInt(name string, t tensor.DType, v int32) *onnxpb.TensorProto {
	var tt *tensor.Tensor
	switch t {
	case tensor.Int8:
		tt = tensor.MustNew([]int64{}, []int8{int8(v)})
	case tensor.Uint8:
		tt = tensor.MustNew([]int64{}, []uint8{uint8(v)})
	default:
		tt = tensor.MustNew([]int64{}, []int32{v})
	}
	out, _ := tensor.ToProto(tt, name)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func dropValueInfo(g *onnxpb.GraphProto, name string) {
	out := g.ValueInfo[:0]
	for _, v := range g.ValueInfo {
		if v.GetName() != name {
			out = append(out, v)
		}
	}
	g.ValueInfo = out
}

var rangeMu sync.Mutex

// parallelRows runs fn over [0, rows) split into one contiguous chunk per
// CPU (one chunk for small work).
func parallelRows(rows int, fn func(r0, r1 int)) {
	n := runtime.GOMAXPROCS(0)
	if rows < 2*n || rows < 1024 {
		n = 1
	}
	var wg sync.WaitGroup
	for k := 0; k < n; k++ {
		r0, r1 := k*rows/n, (k+1)*rows/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(r0, r1)
		}()
	}
	wg.Wait()
}

const roundMagic = 6755399441055744.0 // 1.5 · 2^52
