package ort

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/atomicfile"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// This file holds the session: its options, how it starts on a provider,
// and Run. adapt.go edits graphs so that onnxruntime_go can run them;
// values.go describes inputs and outputs and converts tensors.

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
	// defaulted are the graph inputs with a default value a Run may feed
	// (none before IR 4, where initializers are weights only): checked
	// before a variant reloads the model.
	defaulted map[string]bool
	ir        int64
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
		return nil, weightFedError(fed[0], m.GetIrVersion())
	}
	s := &Session{inputs: inputs, defaulted: defaultedInputs(m), ir: m.GetIrVersion()}
	var adapters map[string]outputAdapter
	if s.needsEdit(g, opts.ExtraOutputs) {
		// Work on a copy only when the graph must change.
		if m, adapters, err = s.adapt(m, opts.ExtraOutputs); err != nil {
			return nil, err
		}
		raw, path = nil, ""
	}
	if err := s.setOutputs(m.GetGraph(), adapters); err != nil {
		return nil, err
	}
	if raw == nil && path == "" {
		if weightBytes(m) >= spillBytes {
			p, remove, err := spill(m)
			if err != nil {
				return nil, err
			}
			defer remove()
			path = p
		} else if raw, err = proto.Marshal(m); err != nil {
			return nil, fmt.Errorf("serialize model: %w", err)
		}
	}
	if err := s.start(opts, raw, path); err != nil {
		return nil, err
	}
	return s, nil
}

// spillBytes is the size of weights above which an in-memory model reaches
// ONNX Runtime through a temporary file with external data rather than
// marshalled bytes: the bytes would be one more copy of the weights, and
// ONNX Runtime would parse them into another before its own, so a 512 MiB
// model cost about 3× its size while its session started; from a file,
// ONNX Runtime reads the weights straight into its buffers.
var spillBytes int64 = 256 << 20

const spillName = "model.onnx"

// spill writes m with its weights as external data to a new scratch
// folder (under $TMPDIR, removed on SIGINT/SIGTERM too) and returns the
// model's path and the function that removes the folder once the session
// has started. m is not modified: the written model is a copy whose large
// initializers are shells pointing into the data file.
func spill(m *onnxpb.ModelProto) (string, func(), error) {
	dir, remove, err := atomicfile.TempDir("infer-session-*")
	if err != nil {
		return "", nil, fmt.Errorf("scratch folder for the model: %w", err)
	}
	path := filepath.Join(dir, spillName)
	if err := writeSpilled(m, path); err != nil {
		remove()
		return "", nil, fmt.Errorf("writing the model for ONNX Runtime to %s: %w", dir, err)
	}
	return path, remove, nil
}

// writeSpilled writes m to path with every initializer of 1 KiB or more
// in path+".data". Scratch files are not synced: they are read at once and
// deleted.
func writeSpilled(m *onnxpb.ModelProto, path string) error {
	f, err := os.Create(path + ".data")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	c := graph.ShallowCopy(m)
	g := graph.ShallowCopy(m.GetGraph())
	g.Initializer = slices.Clone(g.Initializer)
	c.Graph = g
	var offset int64
	for i, t := range g.Initializer {
		raw := t.GetRawData()
		if len(raw) < 1<<10 {
			continue
		}
		if _, err := w.Write(raw); err != nil {
			f.Close()
			return err
		}
		e := graph.ShallowCopy(t)
		e.RawData = nil
		e.DataLocation = onnxpb.TensorProto_EXTERNAL
		e.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: "location", Value: spillName + ".data"},
			{Key: "offset", Value: strconv.FormatInt(offset, 10)},
			{Key: "length", Value: strconv.Itoa(len(raw))},
		}
		g.Initializer[i] = e
		offset += int64(len(raw))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	b, err := proto.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// weightBytes is the size of the main graph's inline weights.
func weightBytes(m *onnxpb.ModelProto) int64 {
	var n int64
	for _, t := range m.GetGraph().GetInitializer() {
		n += int64(len(t.GetRawData()))
	}
	return n
}

// setOutputs records the outputs Run returns, as the model declares them
// (g's outputs after adapt, undone by adapters), and the non-tensor
// outputs it leaves out.
func (s *Session) setOutputs(g *onnxpb.GraphProto, adapters map[string]outputAdapter) error {
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
		return fmt.Errorf("the model has no tensor output infer can read (non-tensor outputs: %s)", strings.Join(s.NonTensorOutputs, ", "))
	}
	return nil
}

// ortInputNames returns the names ONNX Runtime knows the inputs by, after
// adaptInputs.
func (s *Session) ortInputNames() []string {
	names := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		names[i] = in.Name
		if isScalar(in) {
			names[i] += scalarInputSuffix
		}
	}
	if s.dummyInput {
		names = append(names, dummyInputName)
	}
	return names
}

// start creates the ONNX Runtime session of the model raw holds (or the
// file at path) on the first of opts.Providers that starts, CPU when
// there are none, and records in s.Skipped those that did not.
func (s *Session) start(opts Options, raw []byte, path string) error {
	inNames := s.ortInputNames()
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
			return nil
		}
		s.Skipped = append(s.Skipped, ProviderFailure{Provider: p, Reason: oneLine(err.Error())})
	}
	if len(providers) == 1 {
		f := s.Skipped[0]
		return fmt.Errorf("execution provider %s did not start with %s: %s", f.Provider.Name, info.Path, f.Reason)
	}
	var parts []string
	for _, f := range s.Skipped {
		parts = append(parts, f.Provider.Name+": "+f.Reason)
	}
	return fmt.Errorf("no execution provider started with %s (%s)", info.Path, strings.Join(parts, "; "))
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
			if !s.defaulted[name] {
				return nil, fmt.Errorf("%q is not an input of the model", name)
			}
			if s.ir < 4 {
				return nil, weightFedError(name, s.ir)
			}
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
