package ort

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// OptLevel is ONNX Runtime's graph optimization level.
type OptLevel string

// Graph optimization levels.
const (
	OptDisable  OptLevel = "disable"
	OptBasic    OptLevel = "basic"
	OptExtended OptLevel = "extended"
	OptAll      OptLevel = "all"
)

// ParseOptLevel accepts disable|basic|extended|all ("" means all).
func ParseOptLevel(s string) (OptLevel, error) {
	switch OptLevel(strings.ToLower(s)) {
	case "":
		return OptAll, nil
	case OptDisable, OptBasic, OptExtended, OptAll:
		return OptLevel(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("unknown graph optimization level %q (want disable, basic, extended or all)", s)
}

func (l OptLevel) ort() ortgo.GraphOptimizationLevel {
	switch l {
	case OptDisable:
		return ortgo.GraphOptimizationLevelDisableAll
	case OptBasic:
		return ortgo.GraphOptimizationLevelEnableBasic
	case OptExtended:
		return ortgo.GraphOptimizationLevelEnableExtended
	}
	return ortgo.GraphOptimizationLevelEnableAll
}

// Options configure a session.
type Options struct {
	// Providers is the ordered list to try; the first that starts runs the
	// model. Empty means CPU only. A provider that fails to start is never
	// skipped silently: with one provider its failure is the error, with
	// several the failures are recorded in Session.Skipped.
	Providers []Provider
	// IntraOpThreads and InterOpThreads: 0 leaves ONNX Runtime's default.
	IntraOpThreads, InterOpThreads int
	// OptLevel defaults to OptAll.
	OptLevel OptLevel
	// OptimizedModelPath, if set, makes ONNX Runtime save the model as it
	// will run (after its graph optimizations) to this path.
	OptimizedModelPath string
	// ProfilePrefix, if set, makes ONNX Runtime write a JSON trace of every
	// node's run time to a file starting with this prefix (written when the
	// session closes).
	ProfilePrefix string
	// ExtraOutputs names intermediate values to return from Run besides
	// the graph outputs (for calibration and layer-wise error analysis).
	ExtraOutputs []string
}

// ValueInfo describes a model input or output.
type ValueInfo struct {
	Name      string
	DType     tensor.DType
	Shape     []int64  // -1 for a dynamic dimension
	DimParams []string // symbolic name per dimension, "" if none
}

// ProviderFailure records a provider that was tried and did not start.
type ProviderFailure struct {
	Provider Provider
	Reason   string
}

// Session is an ONNX Runtime inference session. Run may be called from
// several goroutines at once.
type Session struct {
	sess     *ortgo.DynamicAdvancedSession
	inputs   []ValueInfo
	outputs  []ValueInfo
	outNames []string        // names of the ORT-side outputs, parallel to outputs
	adapters []outputAdapter // parallel to outputs
	// Provider is the provider the session runs on.
	Provider Provider
	// Skipped lists providers tried before Provider, with their reasons.
	Skipped []ProviderFailure
	// NonTensorOutputs are graph outputs Run does not return (sequences,
	// maps).
	NonTensorOutputs []string
	// dummyInput: the model has no inputs and was given an unused one,
	// because onnxruntime_go cannot run a session without inputs.
	dummyInput bool
	// load reads the model again, opts are the options it started with:
	// a variant that takes inputs with a default value is made from them.
	load loader
	opts Options
	// mu guards variants: sessions that also take the defaulted inputs
	// (initializers that are graph inputs) a Run fed, by their names.
	mu       sync.Mutex
	variants map[string]*Session
}

// loader returns the model a session is made from: parsed, and as the
// serialized bytes or the file ONNX Runtime reads (nil and "" when it
// must serialize the parsed model itself).
type loader func() (m *onnxpb.ModelProto, raw []byte, path string, err error)

// NewSession builds a session from serialized model bytes. Models whose
// weights live in external data files must be loaded with pkg/onnx first
// (which inlines them) or opened with NewSessionFromFile.
func NewSession(model []byte, opts Options) (*Session, error) {
	return open(func() (*onnxpb.ModelProto, []byte, string, error) {
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(model, &m); err != nil {
			return nil, nil, "", fmt.Errorf("parse model: %w", err)
		}
		return &m, model, "", nil
	}, opts, nil)
}

// NewSessionFromModel builds a session from a parsed model. A Run that
// feeds an input with a default value reads m again (see Run), so m must
// not change while the session is open.
func NewSessionFromModel(m *onnxpb.ModelProto, opts Options) (*Session, error) {
	return open(func() (*onnxpb.ModelProto, []byte, string, error) { return m, nil, "", nil }, opts, nil)
}

// NewSessionFromFile builds a session from a model file; ONNX Runtime reads
// the file itself, so external data next to it is found and models over
// 2 GiB work.
func NewSessionFromFile(path string, opts Options) (*Session, error) {
	return open(func() (*onnxpb.ModelProto, []byte, string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, "", err
		}
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(b, &m); err != nil {
			return nil, nil, "", fmt.Errorf("parse %s: %w", path, err)
		}
		return &m, nil, path, nil
	}, opts, nil)
}

// open builds a session from the model load returns that also takes the
// defaulted inputs named in fed (see Run).
func open(load loader, opts Options, fed []string) (*Session, error) {
	m, raw, path, err := load()
	if err != nil {
		return nil, err
	}
	s, err := newSession(m, raw, path, opts, fed)
	if err != nil {
		return nil, err
	}
	s.load, s.opts = load, opts
	return s, nil
}

func newSession(m *onnxpb.ModelProto, raw []byte, path string, opts Options, fed []string) (*Session, error) {
	if _, ok := Loaded(); !ok {
		if _, err := Init(""); err != nil {
			return nil, err
		}
	}
	g := m.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	inputs, err := graphInputs(g, fed)
	if err != nil {
		return nil, err
	}
	if len(fed) > 0 && m.GetIrVersion() < 4 {
		return nil, fmt.Errorf("%q is a weight of this IR %d model, not an input that can be fed (initializers are default values only from IR 4)", fed[0], m.GetIrVersion())
	}
	s := &Session{inputs: inputs}
	// Work on a copy only when the graph must change.
	needEdit := len(opts.ExtraOutputs) > 0 || len(s.inputs) == 0
	for _, in := range s.inputs {
		if in.Shape != nil && len(in.Shape) == 0 {
			needEdit = true
		}
	}
	var adapters map[string]outputAdapter
	for _, o := range g.Output {
		if needsAdapter(o) {
			needEdit = true
		}
	}
	if needEdit {
		m = proto.Clone(m).(*onnxpb.ModelProto)
		g = m.Graph
		if err := addExtraOutputs(g, opts.ExtraOutputs); err != nil {
			return nil, err
		}
		if err := typeHalfExtras(m); err != nil {
			return nil, err
		}
		adapters = adaptOutputs(m)
		s.dummyInput = adaptInputs(m, s.inputs)
		raw, path = nil, ""
	}
	for _, o := range g.Output {
		if o.GetType() != nil && o.GetType().GetTensorType() == nil {
			// Sequences and maps (e.g. scikit-learn's ZipMap) are not
			// requested; Run returns tensors only.
			s.NonTensorOutputs = append(s.NonTensorOutputs, o.GetName())
			continue
		}
		vi := valueInfo(o)
		name := o.GetName()
		a, ok := adapters[name]
		if ok {
			vi = a.public
		}
		s.outputs = append(s.outputs, vi)
		s.outNames = append(s.outNames, name)
		s.adapters = append(s.adapters, a)
	}
	if len(s.outNames) == 0 {
		// onnxruntime_go cannot run a session without outputs.
		return nil, fmt.Errorf("the model has no tensor output infer can read (non-tensor outputs: %s)", strings.Join(s.NonTensorOutputs, ", "))
	}
	if raw == nil && path == "" {
		var err error
		raw, err = proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("serialize model: %w", err)
		}
	}
	inNames := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		inNames[i] = in.Name
		if isScalar(in) {
			inNames[i] += scalarInputSuffix
		}
	}
	if s.dummyInput {
		inNames = append(inNames, dummyInputName)
	}
	providers := opts.Providers
	if len(providers) == 0 {
		providers = []Provider{{Name: CPU}}
	}
	info, _ := Loaded()
	for _, p := range providers {
		sess, err := s.create(p, opts, raw, path, inNames)
		if err == nil {
			s.sess = sess
			s.Provider = p
			return s, nil
		}
		s.Skipped = append(s.Skipped, ProviderFailure{Provider: p, Reason: oneLine(err.Error())})
	}
	if len(providers) == 1 {
		f := s.Skipped[0]
		return nil, fmt.Errorf("execution provider %s did not start with %s: %s", f.Provider.Name, info.Path, f.Reason)
	}
	var parts []string
	for _, f := range s.Skipped {
		parts = append(parts, f.Provider.Name+": "+f.Reason)
	}
	return nil, fmt.Errorf("no execution provider started with %s (%s)", info.Path, strings.Join(parts, "; "))
}

func (s *Session) create(p Provider, opts Options, raw []byte, path string, inNames []string) (*ortgo.DynamicAdvancedSession, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			return nil, err
		}
	}
	if opts.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opts.InterOpThreads); err != nil {
			return nil, err
		}
		if err := so.SetExecutionMode(ortgo.ExecutionModeParallel); err != nil {
			return nil, err
		}
	}
	if err := so.SetGraphOptimizationLevel(opts.OptLevel.ort()); err != nil {
		return nil, err
	}
	if opts.OptimizedModelPath != "" {
		if err := so.SetOptimizedModelFilePath(opts.OptimizedModelPath); err != nil {
			return nil, err
		}
	}
	if opts.ProfilePrefix != "" {
		if err := so.EnableProfiling(opts.ProfilePrefix); err != nil {
			return nil, err
		}
	}
	if err := p.appendTo(so); err != nil {
		return nil, err
	}
	if path != "" {
		return ortgo.NewDynamicAdvancedSession(path, inNames, s.outNames, so)
	}
	return ortgo.NewDynamicAdvancedSessionWithONNXData(raw, inNames, s.outNames, so)
}

// Inputs describes the model inputs (graph inputs that are not initializers).
func (s *Session) Inputs() []ValueInfo { return s.inputs }

// Outputs describes the outputs Run returns: graph outputs, then extras.
func (s *Session) Outputs() []ValueInfo { return s.outputs }

// Close releases the session and its variants.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for _, v := range s.variants {
		if verr := v.Close(); err == nil {
			err = verr
		}
	}
	s.variants = nil
	if s.sess == nil {
		return err
	}
	if derr := s.sess.Destroy(); err == nil {
		err = derr
	}
	s.sess = nil
	return err
}

// sessionFor returns the session that takes inputs: s, or when inputs
// name values s does not take (graph inputs with a default value, i.e.
// initializers of the same name, that ONNX Runtime lets a caller
// override), a variant made once for those names and kept until Close.
// Names that are no input at all are an error, as in inputValues.
func (s *Session) sessionFor(inputs map[string]*tensor.Tensor) (*Session, error) {
	if len(inputs) <= len(s.inputs) || s.load == nil {
		return s, nil
	}
	var extra []string
	for name := range inputs {
		if !s.hasInput(name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	key := strings.Join(extra, "\x00")
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.variants[key]; ok {
		return v, nil
	}
	opts := s.opts
	opts.Providers = []Provider{s.Provider} // the one that started
	opts.OptimizedModelPath = ""            // s saved it already
	v, err := open(s.load, opts, extra)
	if err != nil {
		return nil, err
	}
	if s.variants == nil {
		s.variants = map[string]*Session{}
	}
	s.variants[key] = v
	return v, nil
}

// inputValues checks inputs against the model and converts them; the
// caller destroys the values (also on error).
func (s *Session) inputValues(inputs map[string]*tensor.Tensor) ([]ortgo.Value, error) {
	vals := make([]ortgo.Value, len(s.inputs), len(s.inputs)+1)
	for i, in := range s.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return vals, fmt.Errorf("missing model input %q", in.Name)
		}
		if isHalf(in.DType) && t.DType() == tensor.Float32 {
			// Data is float32; a half-precision model (fp16 without kept IO
			// types) takes it rounded to nearest, as a caller would.
			ht, err := tensor.Cast(t, in.DType)
			if err != nil {
				return vals, fmt.Errorf("input %q: %w", in.Name, err)
			}
			t = ht
		}
		if in.DType != tensor.Undefined && t.DType() != in.DType {
			return vals, fmt.Errorf("input %q is %s, the model expects %s", in.Name, t.DType(), in.DType)
		}
		if in.Shape != nil && len(t.Shape()) != len(in.Shape) {
			return vals, fmt.Errorf("input %q has shape %v, the model expects rank %d (%s)", in.Name, t.Shape(), len(in.Shape), shapeString(in))
		}
		for d, want := range in.Shape {
			if want >= 0 && t.Shape()[d] != want {
				return vals, fmt.Errorf("input %q has shape %v, the model expects %s", in.Name, t.Shape(), shapeString(in))
			}
		}
		if isScalar(in) {
			t, _ = t.Reshape([]int64{1})
		}
		v, err := toValue(t)
		if err != nil {
			return vals, fmt.Errorf("input %q: %w", in.Name, err)
		}
		vals[i] = v
	}
	if s.dummyInput {
		v, err := ortgo.NewTensor(ortgo.Shape{1}, []float32{0})
		if err != nil {
			return vals, err
		}
		vals = append(vals, v)
	}
	if len(inputs) != len(s.inputs) {
		for name := range inputs {
			if !s.hasInput(name) {
				return vals, fmt.Errorf("%q is not an input of the model", name)
			}
		}
	}
	return vals, nil
}

// Run feeds inputs (by model input name) and returns every output by name.
// It returns an error naming the input when one is missing, unexpected, or
// of the wrong element type or rank. Inputs may also override graph
// inputs with a default value (initializers of the same name, IR 4 and
// later): the first Run that feeds a set of them builds, once, a variant
// of the session that takes them, on the same provider. A Run that feeds
// only Inputs uses the session as built. Input data is passed to ONNX Runtime
// without a copy: the rare operator that writes into its inputs (training-
// mode BatchNormalization's running statistics) changes the caller's
// tensors.
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s, err := s.sessionFor(inputs)
	if err != nil {
		return nil, err
	}
	vals, err := s.inputValues(inputs)
	defer destroyAll(vals)
	if err != nil {
		return nil, err
	}
	outs := make([]ortgo.Value, len(s.outNames))
	if err := s.sess.Run(vals, outs); err != nil {
		return nil, fmt.Errorf("onnxruntime: %s", oneLine(err.Error()))
	}
	res := make(map[string]*tensor.Tensor, len(outs))
	var firstErr error
	for i, v := range outs {
		if v == nil {
			continue
		}
		t, err := fromValue(v)
		v.Destroy()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("output %q: %w", s.outputs[i].Name, err)
			continue
		}
		if t, err = s.adapters[i].undo(t); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("output %q: %w", s.outputs[i].Name, err)
			}
			continue
		}
		res[s.outputs[i].Name] = t
	}
	return res, firstErr
}

func destroyAll(vals []ortgo.Value) {
	for _, v := range vals {
		if v != nil {
			v.Destroy()
		}
	}
}

func (s *Session) hasInput(name string) bool {
	for _, in := range s.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

func shapeString(vi ValueInfo) string {
	parts := make([]string, len(vi.Shape))
	for i, d := range vi.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i < len(vi.DimParams) && vi.DimParams[i] != "":
			parts[i] = vi.DimParams[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// graphInputs returns the graph inputs that are not initializers and, in
// graph order among them, those with a default value (an initializer of
// the same name) that fed names. A name in fed that is neither is an
// error.
func graphInputs(g *onnxpb.GraphProto, fed []string) ([]ValueInfo, error) {
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		inits[t.GetName()] = true
	}
	for _, t := range g.SparseInitializer {
		inits[t.GetValues().GetName()] = true
	}
	for _, name := range fed {
		if !inits[name] || !slices.ContainsFunc(g.Input, func(in *onnxpb.ValueInfoProto) bool { return in.GetName() == name }) {
			return nil, fmt.Errorf("%q is not an input of the model", name)
		}
	}
	var out []ValueInfo
	for _, in := range g.Input {
		if !inits[in.GetName()] || slices.Contains(fed, in.GetName()) {
			out = append(out, valueInfo(in))
		}
	}
	return out, nil
}

func elemType(v *onnxpb.ValueInfoProto) tensor.DType {
	return tensor.DType(v.GetType().GetTensorType().GetElemType())
}

func isHalf(d tensor.DType) bool { return d == tensor.Float16 || d == tensor.BFloat16Type }

func valueInfo(v *onnxpb.ValueInfoProto) ValueInfo {
	vi := ValueInfo{Name: v.GetName(), DType: elemType(v)}
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.Shape == nil {
		return vi
	}
	vi.Shape, vi.DimParams = []int64{}, []string{}
	for _, d := range tt.Shape.Dim {
		if dv, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			vi.Shape = append(vi.Shape, dv.DimValue)
			vi.DimParams = append(vi.DimParams, "")
		} else {
			vi.Shape = append(vi.Shape, -1)
			vi.DimParams = append(vi.DimParams, d.GetDimParam())
		}
	}
	return vi
}

// addExtraOutputs exposes intermediate values as graph outputs; ONNX
// Runtime infers their types.
func addExtraOutputs(g *onnxpb.GraphProto, names []string) error {
	produced := map[string]bool{}
	for _, n := range g.Node {
		for _, o := range n.Output {
			produced[o] = true
		}
	}
	for _, in := range g.Input {
		produced[in.GetName()] = true
	}
	for _, t := range g.Initializer {
		produced[t.GetName()] = true
	}
	isOut := map[string]bool{}
	for _, o := range g.Output {
		isOut[o.GetName()] = true
	}
	types := map[string]*onnxpb.ValueInfoProto{}
	for _, vi := range g.ValueInfo {
		types[vi.GetName()] = vi
	}
	for _, name := range names {
		if !produced[name] {
			return fmt.Errorf("extra output %q is not a value of the main graph", name)
		}
		if isOut[name] {
			continue
		}
		isOut[name] = true
		if vi, ok := types[name]; ok {
			g.Output = append(g.Output, proto.Clone(vi).(*onnxpb.ValueInfoProto))
		} else {
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: name})
		}
	}
	return nil
}

// typeHalfExtras gives untyped graph outputs (extra outputs without
// value_info) their element type when the model may hold float16 or
// bfloat16 values, so adaptOutputs can read them as float32. It asks ONNX
// Runtime, which costs one more session creation, so only then.
func typeHalfExtras(m *onnxpb.ModelProto) error {
	untyped := map[string]*onnxpb.ValueInfoProto{}
	for _, o := range m.Graph.Output {
		if o.GetType().GetTensorType().GetElemType() == 0 {
			untyped[o.GetName()] = o
		}
	}
	if len(untyped) == 0 || !mentionsHalf(m.Graph) {
		return nil
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("serialize model: %w", err)
	}
	_, outs, err := ortgo.GetInputOutputInfoWithONNXData(raw)
	if err != nil {
		return fmt.Errorf("onnxruntime: %s", oneLine(err.Error()))
	}
	for _, info := range outs {
		o, ok := untyped[info.Name]
		if !ok || info.OrtValueType != ortgo.ONNXTypeTensor {
			continue
		}
		o.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(info.DataType)}}}
	}
	return nil
}

// mentionsHalf reports whether a graph (or its subgraphs) declares,
// stores or casts to float16/bfloat16, or uses a contrib-domain operator.
func mentionsHalf(g *onnxpb.GraphProto) bool {
	half := func(t int32) bool { return isHalf(tensor.DType(t)) }
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, v := range vs {
			if half(v.GetType().GetTensorType().GetElemType()) {
				return true
			}
		}
	}
	for _, t := range g.Initializer {
		if half(t.GetDataType()) {
			return true
		}
	}
	for _, n := range g.Node {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			return true
		}
		for _, a := range n.Attribute {
			if (n.GetOpType() == "Cast" && a.GetName() == "to" && half(int32(a.GetI()))) || (a.GetT() != nil && half(a.GetT().GetDataType())) {
				return true
			}
			for _, sg := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sg != nil && mentionsHalf(sg) {
					return true
				}
			}
		}
	}
	return false
}

const (
	scalarInputSuffix = "__infer_1d"
	dummyInputName    = "__infer_unused_input"
)

func isScalar(in ValueInfo) bool { return in.Shape != nil && len(in.Shape) == 0 }

// adaptInputs works around two onnxruntime_go limits: it cannot create
// rank-0 tensors, so each scalar input is fed as shape [1] and reshaped to a
// scalar in the graph; and it cannot run a session without inputs, so a
// model without any gets an unused one. It reports whether it added that.
func adaptInputs(m *onnxpb.ModelProto, inputs []ValueInfo) bool {
	g := m.Graph
	var pre []*onnxpb.NodeProto
	for _, in := range inputs {
		if !isScalar(in) {
			continue
		}
		for _, gi := range g.Input {
			if gi.GetName() != in.Name {
				continue
			}
			gi.Name = in.Name + scalarInputSuffix
			for _, t := range g.Initializer { // its default value, fed as [1] too
				if t.GetName() == in.Name {
					t.Name, t.Dims = gi.Name, []int64{1}
				}
			}
			gi.Type.GetTensorType().Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}
			shape := in.Name + "__infer_scalar_shape"
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: shape, DataType: int32(tensor.Int64), Dims: []int64{0}})
			pre = append(pre, &onnxpb.NodeProto{OpType: "Reshape", Name: in.Name + "__infer_scalar", Input: []string{gi.Name, shape}, Output: []string{in.Name}})
		}
	}
	g.Node = append(pre, g.Node...)
	if len(inputs) > 0 {
		return false
	}
	g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: dummyInputName, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: int32(tensor.Float32), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}}}}})
	return true
}

// outputAdapter undoes what adaptOutputs added after an output.
type outputAdapter struct {
	public  ValueInfo // the output as the model declares it
	cast    bool      // read as float32, narrow back to public.DType
	squeeze bool      // read with a leading axis of 1, drop it
}

func (a outputAdapter) undo(t *tensor.Tensor) (*tensor.Tensor, error) {
	var err error
	if a.squeeze {
		if t, err = t.Reshape(t.Shape()[1:]); err != nil {
			return nil, err
		}
	}
	if a.cast {
		return tensor.Cast(t, a.public.DType)
	}
	return t, nil
}

// needsAdapter reports whether onnxruntime_go cannot return the output as
// it is: float16/bfloat16 outputs it auto-allocates are copied with the
// wrong byte count, and scalars (or outputs of unknown rank, which may be
// scalars) are refused ("the shape has no dimensions").
func needsAdapter(o *onnxpb.ValueInfoProto) bool {
	tt := o.GetType().GetTensorType()
	return isHalf(elemType(o)) || tt == nil || tt.GetShape() == nil || len(tt.GetShape().GetDim()) == 0
}

// adaptOutputs appends, after each output that needs it, a Cast to float32
// (exact for half types) and an Unsqueeze adding a leading axis, and
// renames the graph output to the adapted value. Run undoes both.
func adaptOutputs(m *onnxpb.ModelProto) map[string]outputAdapter {
	g := m.Graph
	opset := int64(0)
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	adapters := map[string]outputAdapter{}
	for i, o := range g.Output {
		if !needsAdapter(o) || (o.GetType() != nil && o.GetType().GetTensorType() == nil) {
			continue
		}
		a := outputAdapter{public: valueInfo(o)}
		name := o.GetName()
		cur := name
		if isHalf(elemType(o)) {
			a.cast = true
			next := name + "__infer_as_float32"
			g.Node = append(g.Node, &onnxpb.NodeProto{
				OpType: "Cast", Name: next, Input: []string{cur}, Output: []string{next},
				Attribute: []*onnxpb.AttributeProto{{Name: "to", Type: onnxpb.AttributeProto_INT, I: int64(tensor.Float32)}},
			})
			cur = next
		}
		tt := o.GetType().GetTensorType()
		if tt == nil || tt.GetShape() == nil || len(tt.GetShape().GetDim()) == 0 {
			a.squeeze = true
			next := name + "__infer_unsqueezed"
			n := &onnxpb.NodeProto{OpType: "Unsqueeze", Name: next, Input: []string{cur}, Output: []string{next}}
			if opset >= 13 {
				axes := next + "_axes"
				g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: axes, DataType: int32(tensor.Int64), Dims: []int64{1}, Int64Data: []int64{0}})
				n.Input = append(n.Input, axes)
			} else {
				n.Attribute = []*onnxpb.AttributeProto{{Name: "axes", Type: onnxpb.AttributeProto_INTS, Ints: []int64{0}}}
			}
			g.Node = append(g.Node, n)
			cur = next
		}
		out := &onnxpb.ValueInfoProto{Name: cur}
		if a.cast {
			out.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32)}}}
		}
		g.Output[i] = out
		adapters[cur] = a
	}
	return adapters
}

func toValue(t *tensor.Tensor) (ortgo.Value, error) {
	shape := ortgo.Shape(append([]int64{}, t.Shape()...))
	switch d := t.Data().(type) {
	case []float32:
		return ortgo.NewTensor(shape, d)
	case []float64:
		return ortgo.NewTensor(shape, d)
	case []int8:
		if t.DType() == tensor.Int8 {
			return ortgo.NewTensor(shape, d)
		}
	case []uint8:
		if t.DType() == tensor.Uint8 {
			return ortgo.NewTensor(shape, d)
		}
	case []int16:
		return ortgo.NewTensor(shape, d)
	case []uint16:
		return ortgo.NewTensor(shape, d)
	case []int32:
		return ortgo.NewTensor(shape, d)
	case []uint32:
		return ortgo.NewTensor(shape, d)
	case []int64:
		return ortgo.NewTensor(shape, d)
	case []uint64:
		return ortgo.NewTensor(shape, d)
	case []bool:
		return ortgo.NewTensor(shape, d)
	case []string:
		st, err := ortgo.NewStringTensor(shape)
		if err != nil {
			return nil, err
		}
		if err := st.SetContents(d); err != nil {
			st.Destroy()
			return nil, err
		}
		return st, nil
	}
	if isHalf(t.DType()) {
		var b []byte
		switch d := t.Data().(type) {
		case []tensor.BFloat16:
			if len(d) > 0 {
				b = unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 2*len(d))
			}
		default:
			raw, err := tensor.Bytes(t)
			if err != nil {
				return nil, err
			}
			b = raw
		}
		return ortgo.NewCustomDataTensor(shape, b, ortgo.TensorElementDataType(t.DType()))
	}
	b, err := tensor.Bytes(t)
	if err != nil {
		return nil, err
	}
	return ortgo.NewCustomDataTensor(shape, b, ortgo.TensorElementDataType(t.DType()))
}

func fromValue(v ortgo.Value) (*tensor.Tensor, error) {
	shape := []int64(v.GetShape())
	switch x := v.(type) {
	case *ortgo.Tensor[float32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[float64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int8]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint8]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int16]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint16]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint32]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[int64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[uint64]:
		return tensor.New(shape, x.GetData())
	case *ortgo.Tensor[bool]:
		return tensor.New(shape, x.GetData())
	case *ortgo.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			return nil, err
		}
		return tensor.New(shape, s)
	case *ortgo.CustomDataTensor:
		return tensor.FromBytes(tensor.DType(x.DataType()), shape, x.GetData())
	}
	return nil, fmt.Errorf("ONNX Runtime returned a %T, which infer cannot read (sequence or map outputs are not supported)", v)
}
