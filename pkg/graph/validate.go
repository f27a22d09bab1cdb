package graph

import (
	"errors"
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// IR versions this package reads.
const (
	MinIRVersion = 3
	MaxIRVersion = 11
)

// MaxDimension is the largest tensor dimension Validate accepts in a
// declared shape or an initializer. Larger values are corrupt or hostile
// files, not models: no real tensor has 2^32 elements along one axis.
const MaxDimension = 1 << 32

// MaxSubgraphDepth is how deeply Validate lets graphs nest in node
// attributes (an If in a Loop body is at depth 2). Real models nest a few
// levels. ONNX Runtime parses models with protobuf's default limit of 100
// nested messages and each level takes three (attribute, graph, node), so
// it cannot load a model nested deeper than 31 levels (fewer when value
// types nest too); a deeper model is refused before any work starts.
const MaxSubgraphDepth = 31

// ErrUnsupported matches (errors.Is) a *ValidationError that has at least
// one Problem with Unsupported set: the model may be valid ONNX, but infer
// does not handle it.
var ErrUnsupported = errors.New("unsupported model")

// Problem is one defect Validate found.
type Problem struct {
	// Where locates it: "" for the model, else a path such as
	// `node "loop" (Loop) attribute "body": graph input "i"`.
	Where string
	Msg   string
	// Unsupported marks models that may be valid ONNX but that infer does
	// not support (an IR version out of range).
	Unsupported bool
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.Msg
	}
	return p.Where + ": " + p.Msg
}

// ValidationError lists every problem Validate found, in model order.
type ValidationError struct {
	Problems []Problem
}

// maxListed bounds how many problems Error spells out.
const maxListed = 5

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid model: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid model: %d problems: ", len(e.Problems))
	for i, p := range e.Problems {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Is reports whether target is ErrUnsupported and a problem is
// unsupported.
func (e *ValidationError) Is(target error) bool {
	if target != ErrUnsupported {
		return false
	}
	for _, p := range e.Problems {
		if p.Unsupported {
			return true
		}
	}
	return false
}

// Validate checks that m is a well-formed ONNX model infer can work on and
// returns nil or a *ValidationError listing every problem found:
//
//   - ir_version is in MinIRVersion..MaxIRVersion (others are reported as
//     unsupported) and opset_import names each domain once, with versions
//     of at least 1; every node's domain is imported ("" and "ai.onnx" are
//     one domain), or the node calls a function of m.Functions (matched
//     by domain and name); default-domain operators exist at the imported
//     opset when it is at most MaxOpset.
//   - Single static assignment: graph inputs, initializers and node
//     outputs each define a name once (a name may be both a graph input
//     and an initializer, which makes the initializer a default); no
//     node output in a subgraph reuses a name of an enclosing graph.
//   - Every node input is "" (absent), or defined in its graph or, in a
//     subgraph, in an enclosing one; every graph output is defined and
//     listed once; there are no cycles (node order is not checked:
//     SortNodes fixes it).
//   - The main graph's inputs and outputs have types, with element types
//     for tensors (and for the elements of sequences, maps and optionals).
//     Every declared dimension, and every initializer dimension, is at
//     least 0 and at most MaxDimension; element types are known ones.
//   - Initializers have names, are graph inputs too when ir_version < 4,
//     have known element types and, unless their
//     data is external, as much data as their shape says.
//   - Functions have names, are defined once, their nodes read only
//     function inputs and earlier outputs, and their default-domain
//     operators resolve to the same schema versions under the function's
//     opset import as under the model's.
//   - Subgraphs nest at most MaxSubgraphDepth levels deep; a deeper model
//     is reported as unsupported and not checked further.
//
// It does not check operator attributes or input counts.
func Validate(m *onnxpb.ModelProto) error {
	v := &validator{opsets: make(map[string]int64), functions: make(map[string]bool), free: newFreeReads()}
	v.model(m)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	ir        int64
	problems  []Problem
	opsets    map[string]int64
	functions map[string]bool
	// free is shared by the cycle checks of all levels of nested graphs,
	// which keeps validation linear in the model's size.
	free *freeReads
}

func (v *validator) add(where, format string, args ...any) {
	v.problems = append(v.problems, Problem{Where: where, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) model(m *onnxpb.ModelProto) {
	if m == nil {
		v.add("", "model is nil")
		return
	}
	v.ir = m.GetIrVersion()
	switch ir := m.GetIrVersion(); {
	case ir == 0:
		v.add("", "ir_version is missing")
	case ir < MinIRVersion:
		v.problems = append(v.problems, Problem{Msg: fmt.Sprintf("ir_version %d is older than %d, the oldest infer supports", ir, MinIRVersion), Unsupported: true})
	case ir > MaxIRVersion:
		v.problems = append(v.problems, Problem{Msg: fmt.Sprintf("ir_version %d is newer than %d, the newest infer supports", ir, MaxIRVersion), Unsupported: true})
	}
	if len(m.GetOpsetImport()) == 0 {
		v.add("", "opset_import is empty")
	}
	for _, o := range m.GetOpsetImport() {
		d := normDomain(o.GetDomain())
		if _, dup := v.opsets[d]; dup {
			v.add("", "opset_import lists domain %q twice", displayDomain(d))
			continue
		}
		if o.GetVersion() < 1 {
			v.add("", "opset_import gives domain %q version %d", displayDomain(d), o.GetVersion())
		}
		v.opsets[d] = o.GetVersion()
	}
	for _, f := range m.GetFunctions() {
		key := normDomain(f.GetDomain()) + "\x00" + f.GetName() + "\x00" + f.GetOverload()
		where := fmt.Sprintf("function %q", f.GetName())
		if f.GetName() == "" {
			v.add("function", "has no name")
		}
		if v.functions[key] {
			v.add(where, "is defined twice in domain %q", displayDomain(normDomain(f.GetDomain())))
		}
		v.functions[key] = true
		v.functions[normDomain(f.GetDomain())+"\x00"+f.GetName()] = true
	}
	for _, f := range m.GetFunctions() {
		v.function(f)
	}
	g := m.GetGraph()
	if g == nil {
		v.add("", "model has no graph")
		return
	}
	if d := nestingDepth(g); d > MaxSubgraphDepth {
		v.problems = append(v.problems, Problem{Msg: fmt.Sprintf("subgraph nesting depth %d exceeds the limit of %d", d, MaxSubgraphDepth), Unsupported: true})
		return
	}
	v.graph(g, "", nil, true)
}

// nestingDepth returns how deeply graphs nest in g's node attributes: 0
// without subgraphs, 1 when the deepest is a branch of one of g's nodes.
// It walks without recursion, each graph once, whatever the depth.
func nestingDepth(g *onnxpb.GraphProto) int {
	type level struct {
		g     *onnxpb.GraphProto
		depth int
	}
	deepest := 0
	stack := []level{{g, 0}}
	for len(stack) > 0 {
		l := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		deepest = max(deepest, l.depth)
		for _, n := range l.g.GetNode() {
			for _, sg := range subgraphs(n) {
				stack = append(stack, level{sg, l.depth + 1})
			}
		}
	}
	return deepest
}

func displayDomain(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// scope is a chain of the names graphs define, innermost first.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

func (v *validator) graph(g *onnxpb.GraphProto, where string, outer *scope, main bool) {
	at := func(s string) string {
		if where == "" {
			return s
		}
		if s == "" {
			return where
		}
		return where + ": " + s
	}
	defined := make(map[string]bool)
	inputs := make(map[string]bool)
	for _, in := range g.GetInput() {
		name := in.GetName()
		w := at(fmt.Sprintf("graph input %q", name))
		if name == "" {
			v.add(at("graph input"), "has no name")
			continue
		}
		if inputs[name] {
			v.add(w, "is listed twice")
		}
		inputs[name] = true
		defined[name] = true
		v.valueType(in.GetType(), w, main)
	}
	inits := make(map[string]bool)
	for _, t := range g.GetInitializer() {
		name := t.GetName()
		if name == "" {
			v.add(at("initializer"), "has no name")
			continue
		}
		if inits[name] {
			v.add(at(fmt.Sprintf("initializer %q", name)), "is defined twice")
		}
		inits[name] = true
		defined[name] = true
		v.tensor(t, at(fmt.Sprintf("initializer %q", name)))
		if v.ir > 0 && v.ir < 4 && !inputs[name] {
			v.add(at(fmt.Sprintf("initializer %q", name)), "is not a graph input, which ir_version %d requires (IR 4 lifted that rule)", v.ir)
		}
	}
	for _, st := range g.GetSparseInitializer() {
		name := st.GetValues().GetName()
		if name == "" {
			v.add(at("sparse initializer"), "has no name")
			continue
		}
		if inits[name] {
			v.add(at(fmt.Sprintf("sparse initializer %q", name)), "is defined twice")
		}
		inits[name] = true
		defined[name] = true
		v.dims(st.GetDims(), at(fmt.Sprintf("sparse initializer %q", name)))
	}
	producedBy := make(map[string]string)
	for i, n := range g.GetNode() {
		if n == nil {
			v.add(at(fmt.Sprintf("node #%d", i)), "is nil")
			continue
		}
		desc := describeNode(n, i)
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			switch {
			case producedBy[o] != "":
				v.add(at(desc), "output %q is also produced by %s", o, producedBy[o])
			case inits[o]:
				v.add(at(desc), "output %q is also an initializer", o)
			case inputs[o]:
				v.add(at(desc), "output %q is also a graph input", o)
			case outer.has(o):
				v.add(at(desc), "output %q reuses a name of an enclosing graph", o)
			}
			if producedBy[o] == "" {
				producedBy[o] = desc
			}
			defined[o] = true
		}
	}
	here := &scope{names: defined, parent: outer}
	for i, n := range g.GetNode() {
		if n == nil {
			continue
		}
		v.node(n, at(describeNode(n, i)), here)
	}
	outputs := make(map[string]bool)
	for _, o := range g.GetOutput() {
		name := o.GetName()
		w := at(fmt.Sprintf("graph output %q", name))
		if name == "" {
			v.add(at("graph output"), "has no name")
			continue
		}
		if outputs[name] {
			v.add(w, "is listed twice")
		}
		outputs[name] = true
		if !here.has(name) {
			v.add(w, "is not defined by any node, input or initializer")
		}
		v.valueType(o.GetType(), w, main)
	}
	for _, vi := range g.GetValueInfo() {
		v.valueType(vi.GetType(), at(fmt.Sprintf("value_info %q", vi.GetName())), false)
	}
	if _, err := topo(g, v.free); err != nil {
		var ce *CycleError
		if errors.As(err, &ce) {
			v.add(where, "%v", err)
		}
	}
}

func (v *validator) node(n *onnxpb.NodeProto, where string, sc *scope) {
	if n.GetOpType() == "" {
		v.add(where, "has no op_type")
	}
	domain := normDomain(n.GetDomain())
	isFunc := v.functions[domain+"\x00"+n.GetOpType()]
	opset, imported := v.opsets[domain]
	switch {
	case !imported && !isFunc:
		v.add(where, "domain %q is not in the model's opset_import", displayDomain(domain))
	case imported && domain == "" && !isFunc && opset <= MaxOpset && n.GetOpType() != "" && !OpDefined(n.GetOpType(), int(opset)):
		v.add(where, "operator %s is not defined in opset %d of ai.onnx", n.GetOpType(), opset)
	}
	for _, in := range n.GetInput() {
		if in != "" && !sc.has(in) {
			v.add(where, "input %q is not defined by any node, graph input or initializer", in)
		}
	}
	for _, a := range n.GetAttribute() {
		if g := a.GetG(); g != nil {
			v.graph(g, fmt.Sprintf("%s attribute %q", where, a.GetName()), sc, false)
		}
		for k, g := range a.GetGraphs() {
			if g != nil {
				v.graph(g, fmt.Sprintf("%s attribute %q[%d]", where, a.GetName(), k), sc, false)
			}
		}
		if t := a.GetT(); t != nil {
			v.tensor(t, fmt.Sprintf("%s attribute %q", where, a.GetName()))
		}
	}
}

func (v *validator) function(f *onnxpb.FunctionProto) {
	where := fmt.Sprintf("function %q", f.GetName())
	opsets := make(map[string]bool)
	fDefault := int64(-1)
	for _, o := range f.GetOpsetImport() {
		opsets[normDomain(o.GetDomain())] = true
		if IsDefaultDomain(o.GetDomain()) {
			fDefault = o.GetVersion()
		}
	}
	mDefault, mHas := v.opsets[""]
	defined := make(map[string]bool)
	for _, in := range f.GetInput() {
		defined[in] = true
	}
	for i, n := range f.GetNode() {
		if n == nil {
			v.add(where, "node #%d is nil", i)
			continue
		}
		desc := where + ": " + describeNode(n, i)
		d := normDomain(n.GetDomain())
		if !opsets[d] && !v.functions[d+"\x00"+n.GetOpType()] {
			if _, ok := v.opsets[d]; !ok {
				v.add(desc, "domain %q is imported neither by the function nor by the model", displayDomain(d))
			}
		}
		if d == "" && mHas && fDefault > 0 && fDefault != mDefault && fDefault <= MaxOpset && mDefault <= MaxOpset {
			if h, ok := history[n.GetOpType()]; ok {
				fi, mi := schemaAt(h, int(fDefault)), schemaAt(h, int(mDefault))
				if fi != mi {
					v.add(desc, "resolves to %s-%d under the function's default opset %d but to %s-%d under the model's %d; they must agree", n.GetOpType(), versionOf(h, fi), fDefault, n.GetOpType(), versionOf(h, mi), mDefault)
				}
			}
		}
		for _, in := range n.GetInput() {
			if in != "" && !defined[in] {
				v.add(desc, "input %q is not a function input or an earlier node's output", in)
			}
		}
		for _, o := range n.GetOutput() {
			if o != "" {
				defined[o] = true
			}
		}
	}
	for _, o := range f.GetOutput() {
		if !defined[o] {
			v.add(where, "output %q is not defined", o)
		}
	}
}

// valueType checks a declared type; required demands one, with element
// types, as the main graph's inputs and outputs need.
func (v *validator) valueType(tp *onnxpb.TypeProto, where string, required bool) {
	if tp == nil || tp.GetValue() == nil {
		if required {
			v.add(where, "has no type")
		}
		return
	}
	switch {
	case tp.GetTensorType() != nil:
		t := tp.GetTensorType()
		v.elemType(t.GetElemType(), where, required)
		if t.GetShape() != nil {
			v.shape(t.GetShape(), where)
		}
	case tp.GetSparseTensorType() != nil:
		t := tp.GetSparseTensorType()
		v.elemType(t.GetElemType(), where, required)
		if t.GetShape() != nil {
			v.shape(t.GetShape(), where)
		}
	case tp.GetSequenceType() != nil:
		v.valueType(tp.GetSequenceType().GetElemType(), where+" (sequence element)", required)
	case tp.GetOptionalType() != nil:
		v.valueType(tp.GetOptionalType().GetElemType(), where+" (optional element)", required)
	case tp.GetMapType() != nil:
		mt := tp.GetMapType()
		v.elemType(mt.GetKeyType(), where+" (map key)", required)
		v.valueType(mt.GetValueType(), where+" (map value)", required)
	}
}

func (v *validator) elemType(d int32, where string, required bool) {
	if d == 0 {
		if required {
			v.add(where, "tensor type has no elem_type")
		}
		return
	}
	if _, ok := onnxpb.TensorProto_DataType_name[d]; !ok {
		v.add(where, "unknown elem_type %d", d)
	}
}

func (v *validator) shape(s *onnxpb.TensorShapeProto, where string) {
	for i, d := range s.GetDim() {
		if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); !ok {
			continue
		}
		if x := d.GetDimValue(); x < 0 || x > MaxDimension {
			v.add(where, "dimension %d is %d, outside 0..%d", i, x, int64(MaxDimension))
		}
	}
}

func (v *validator) dims(dims []int64, where string) bool {
	ok := true
	for i, d := range dims {
		if d < 0 || d > MaxDimension {
			v.add(where, "dimension %d is %d, outside 0..%d", i, d, int64(MaxDimension))
			ok = false
		}
	}
	if ok {
		if _, err := numElements(dims); err != nil {
			v.add(where, "%v", err)
			ok = false
		}
	}
	return ok
}

// tensor checks an initializer or tensor attribute.
func (v *validator) tensor(t *onnxpb.TensorProto, where string) {
	d := t.GetDataType()
	if d == 0 {
		v.add(where, "has no data_type")
		return
	}
	if _, ok := onnxpb.TensorProto_DataType_name[d]; !ok {
		v.add(where, "unknown data_type %d", d)
		return
	}
	if !v.dims(t.GetDims(), where) || t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return
	}
	n, _ := numElements(t.GetDims())
	switch {
	case d == int32(onnxpb.TensorProto_STRING):
		if int64(len(t.GetStringData())) != n {
			v.add(where, "has %d strings for shape %v (%d elements)", len(t.GetStringData()), t.GetDims(), n)
		}
	case elemSize(d) > 0:
		if _, err := rawBytes(t); err != nil {
			v.add(where, "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("tensor %q: ", t.GetName())))
		}
	default: // 4-bit and 2-bit types, packed
		bits := int64(4)
		if d == int32(onnxpb.TensorProto_UINT2) || d == int32(onnxpb.TensorProto_INT2) {
			bits = 2
		}
		if raw := t.GetRawData(); len(raw) > 0 {
			if want := (n*bits + 7) / 8; int64(len(raw)) != want {
				v.add(where, "raw_data has %d bytes, want %d for %d %s elements", len(raw), want, n, dtypeName(d))
			}
		}
	}
}

// versionOf is the since-version of h[i], or 0 when the operator does not
// exist (i < 0).
func versionOf(h []opVersion, i int) int {
	if i < 0 {
		return 0
	}
	return h[i].since
}
