package dataset

import (
	"errors"
	"fmt"
	"math"
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
}

// SpecsFromGraph returns the graph inputs that are not initializers, in
// graph order. Inputs that are not tensors (sequences, maps) get DType
// Undefined, which Open rejects with an error naming them. A nil graph has
// no inputs.
func SpecsFromGraph(g *onnxpb.GraphProto) []InputSpec {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, s := range g.GetSparseInitializer() {
		inits[s.GetValues().GetName()] = true
	}
	var specs []InputSpec
	for _, vi := range g.GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		spec := InputSpec{Name: vi.GetName()}
		if tt := vi.GetType().GetTensorType(); tt != nil {
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
		}
		specs = append(specs, spec)
	}
	return specs
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
