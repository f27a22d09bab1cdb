package dataset

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// InputSpec describes one model input.
type InputSpec struct {
	Name  string
	DType tensor.DType // Undefined for inputs that are not tensors
	// Shape holds the dimensions, -1 for a dynamic one. A nil Shape means
	// the model does not give a rank; an empty non-nil Shape is a scalar.
	Shape []int64
	// DimParams holds each dimension's symbolic name, "" if none; it has
	// the length of Shape.
	DimParams []string
	// Default marks an input the model gives a default value: an
	// initializer of the same name (allowed since IR 4). Only
	// FeedSpecsFromGraph returns such inputs.
	Default bool
}

// SpecsFromGraph returns the graph inputs that are not initializers, in
// graph order: those that must be fed. Inputs that are not tensors
// (sequences, maps) get DType Undefined, which Open rejects with an error
// naming them. A nil graph has no inputs.
func SpecsFromGraph(g *onnxpb.GraphProto) []InputSpec {
	defaults := defaultedNames(g)
	var specs []InputSpec
	for _, vi := range g.GetInput() {
		if !defaults[vi.GetName()] {
			specs = append(specs, specOf(vi))
		}
	}
	return specs
}

// FeedSpecsFromGraph returns what data may feed: SpecsFromGraph's inputs,
// then, marked Default, the graph inputs that are also initializers (an
// initializer is an input's default value since IR 4), in graph order.
// Open feeds a Default input only from data that holds an array for it
// or from Options.Values, and leaves it to its default otherwise; an IR 3
// model, which lists every weight as an input, thus feeds only what the
// data names.
func FeedSpecsFromGraph(g *onnxpb.GraphProto) []InputSpec {
	specs := SpecsFromGraph(g)
	defaults := defaultedNames(g)
	for _, vi := range g.GetInput() {
		if defaults[vi.GetName()] {
			spec := specOf(vi)
			spec.Default = true
			specs = append(specs, spec)
		}
	}
	return specs
}

// FedDefaults returns the names of g's inputs with a default value that
// the data named by data would feed (see FeedSpecsFromGraph), in graph
// order: those it holds an array for, and those given a value.
func FedDefaults(data string, g *onnxpb.GraphProto, values map[string]float64) []string {
	var names []string
	for _, s := range heldSpecs(data, FeedSpecsFromGraph(g), values) {
		if s.Default {
			names = append(names, s.Name)
		}
	}
	return names
}

// defaultedNames returns the names of g's initializers, dense and sparse:
// a graph input of one of those names has a default value.
func defaultedNames(g *onnxpb.GraphProto) map[string]bool {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, s := range g.GetSparseInitializer() {
		inits[s.GetValues().GetName()] = true
	}
	return inits
}

// specOf describes one graph input.
func specOf(vi *onnxpb.ValueInfoProto) InputSpec {
	spec := InputSpec{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return spec
	}
	spec.DType = tensor.DType(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		spec.Shape = make([]int64, len(sh.GetDim()))
		spec.DimParams = make([]string, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			spec.Shape[i] = -1
			switch v := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				if v.DimValue >= 0 {
					spec.Shape[i] = v.DimValue
				}
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				spec.DimParams[i] = v.DimParam
			}
		}
	}
	return spec
}

// heldSpecs returns specs without the Default inputs that the data named
// by data does not feed. An .npz file, or a folder's first .npz file in
// name order (every file holds the same arrays), feeds those it has an
// array for; inputs given a value are fed whatever the data. Random data
// draws no Default input, and ONNX test-data folders (whose input_K files
// number the required inputs) hold none.
func heldSpecs(data string, specs []InputSpec, values map[string]float64) []InputSpec {
	var z *tensor.NPZ
	hasDefault := slices.ContainsFunc(specs, func(s InputSpec) bool { return s.Default })
	if file := firstNPZ(data); hasDefault && file != "" {
		if opened, err := tensor.OpenNPZ(file); err == nil {
			z = opened
			defer z.Close()
		}
	}
	out := specs[:0:0]
	for _, s := range specs {
		_, valued := values[s.Name]
		if !s.Default || valued || (z != nil && z.Has(s.Name)) {
			out = append(out, s)
		}
	}
	return out
}

// firstNPZ returns data when it names an .npz file, the first .npz file
// in name order when it is a folder, else "". Open reports what is wrong
// with the data later; tensor.OpenNPZ opens no FIFO.
func firstNPZ(data string) string {
	st, err := os.Stat(data)
	switch {
	case data == "random" || err != nil:
		return ""
	case !st.IsDir():
		if strings.EqualFold(filepath.Ext(data), ".npz") {
			return data
		}
		return ""
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		return ""
	}
	for _, e := range entries { // ReadDir sorts by name, as partsOfDir does
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".npz") {
			return filepath.Join(data, e.Name())
		}
	}
	return ""
}

// String formats the shape as "[N 3 224 224]", naming dynamic dimensions
// by their symbol or "?".
func (s InputSpec) String() string {
	if s.Shape == nil {
		return fmt.Sprintf("%s %s[unknown rank]", s.Name, s.DType)
	}
	return fmt.Sprintf("%s %s%s", s.Name, s.DType, s.shapeString())
}

func (s InputSpec) shapeString() string {
	parts := make([]string, len(s.Shape))
	for i, d := range s.Shape {
		switch {
		case d >= 0:
			parts[i] = strconv.FormatInt(d, 10)
		case i < len(s.DimParams) && s.DimParams[i] != "":
			parts[i] = s.DimParams[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ParseShape parses a --shape value "name=1x3x224x224". The name is what
// precedes the last '='; every dimension must be a positive integer. It
// returns an error naming the value otherwise.
func ParseShape(s string) (name string, shape []int64, err error) {
	i := strings.LastIndex(s, "=")
	if i <= 0 || i == len(s)-1 {
		return "", nil, fmt.Errorf("shape %q: want NAME=DxDx..., e.g. input=1x3x224x224", s)
	}
	name = s[:i]
	for _, f := range strings.Split(s[i+1:], "x") {
		d, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || d < 1 || d > math.MaxInt32 {
			return "", nil, fmt.Errorf("shape %q: dimension %q is not a positive integer", s, f)
		}
		shape = append(shape, d)
	}
	return name, shape, nil
}

// ParseShapes parses repeated --shape values into the map Options.Shapes
// takes. It returns an error for a malformed value or a name given twice.
func ParseShapes(values []string) (map[string][]int64, error) {
	out := map[string][]int64{}
	for _, v := range values {
		name, shape, err := ParseShape(v)
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("shape for %q given twice", name)
		}
		out[name] = shape
	}
	return out, nil
}

// Range selects consecutive samples: Offset and Limit as in Options.
type Range struct {
	Offset int
	Limit  int
}

// Apply returns opts selecting r. Offset and Limit in opts are replaced,
// so r must come from a Split of the dataset's full length.
func (r Range) Apply(opts Options) Options {
	opts.Offset, opts.Limit = r.Offset, r.Limit
	return opts
}

// Split divides total samples into a calibration (or training) part
// followed by an evaluation part of round(total*evalFraction) samples,
// without overlap; open the dataset twice with each Range applied. Each
// part gets at least one sample when evalFraction > 0. It returns an
// error for an unknown total (-1), evalFraction outside [0, 1), or fewer
// than 2 samples to split.
func Split(total int, evalFraction float64) (calib, eval Range, err error) {
	if total < 0 {
		return calib, eval, errors.New("split data: the number of samples is unknown")
	}
	if !(evalFraction >= 0 && evalFraction < 1) {
		return calib, eval, fmt.Errorf("split data: evaluation fraction %v is not in [0, 1)", evalFraction)
	}
	if evalFraction == 0 {
		return Range{0, total}, Range{total, 0}, nil
	}
	if total < 2 {
		return calib, eval, fmt.Errorf("split data: %d sample(s) cannot be split into two parts", total)
	}
	n := int(math.Round(float64(total) * evalFraction))
	n = min(max(n, 1), total-1)
	return Range{0, total - n}, Range{total - n, n}, nil
}

// ParseValues parses repeated --input-value values "name=16000" into the
// map Options.Values takes. The name is what precedes the last '='; the
// value must be a finite number. It returns an error naming the value
// otherwise, or for a name given twice.
func ParseValues(values []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, s := range values {
		i := strings.LastIndex(s, "=")
		if i <= 0 || i == len(s)-1 {
			return nil, fmt.Errorf("input value %q: want NAME=NUMBER, e.g. sr=16000", s)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s[i+1:]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("input value %q: %q is not a finite number", s, s[i+1:])
		}
		if _, dup := out[s[:i]]; dup {
			return nil, fmt.Errorf("value for %q given twice", s[:i])
		}
		out[s[:i]] = v
	}
	return out, nil
}
