package dataset

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/x448/float16"
)

// arrayInfo is what validation needs to know about one stored array.
type arrayInfo struct {
	name  string // as the file names it, for messages
	dtype tensor.DType
	shape []int64
}

// convertible reports whether data of type from may feed an input of type
// to: floats to any float width Cast produces, integers to any integer
// type (values are range-checked later), anything to itself.
func convertible(from, to tensor.DType) bool {
	switch {
	case from == to:
		return true
	case from.IsFloat():
		return to == tensor.Float32 || to == tensor.Float64 || to == tensor.Float16 || to == tensor.BFloat16Type
	case from.IsInteger():
		return to.IsInteger()
	}
	return false
}

// checkArrays validates the arrays of one file (aligned with f.specs) and
// the optional label array, and returns the sample count.
func checkArrays(where string, f feed, arrays []arrayInfo, label *arrayInfo) (int, error) {
	type owner struct {
		input string
		size  int64
	}
	params := map[string]owner{}
	n, nFrom := int64(-1), ""
	for i, s := range f.specs {
		a := arrays[i]
		if !convertible(a.dtype, s.DType) {
			hint := ""
			switch {
			case a.dtype.IsInteger() && s.DType.IsFloat():
				hint = " (integers are not converted to floats: scale the data and store it as floats)"
			case a.dtype.IsFloat() && s.DType.IsInteger():
				hint = " (floats are not converted to integers)"
			}
			return 0, fmt.Errorf("%s: array %q is %s, but model input %q is %s%s", where, a.name, a.dtype, s.Name, s.DType, hint)
		}
		if err := checkShape(s, f.layout, i, a); err != nil {
			return 0, fmt.Errorf("%s: %w", where, err)
		}
		for d := range s.Shape {
			p, at := s.dimParam(d), f.layout.rowDim(i, d)
			if p == "" || s.Shape[d] >= 0 || at < 0 {
				continue
			}
			if o, ok := params[p]; ok && o.size != a.shape[at] {
				return 0, fmt.Errorf("%s: model inputs %q and %q share dimension %q, but their arrays have %d and %d there",
					where, o.input, s.Name, p, o.size, a.shape[at])
			}
			params[p] = owner{s.Name, a.shape[at]}
		}
		if n >= 0 && a.shape[0] != n {
			return 0, fmt.Errorf("%s: arrays have different sample counts: %q has %d, %q has %d", where, nFrom, n, a.name, a.shape[0])
		}
		n, nFrom = a.shape[0], a.name
	}
	if label != nil {
		if !label.dtype.IsInteger() {
			return 0, fmt.Errorf("%s: label array %q is %s; labels must be integers", where, label.name, label.dtype)
		}
		if len(label.shape) == 0 || len(label.shape) > 2 || (len(label.shape) == 2 && label.shape[1] != 1) {
			return 0, fmt.Errorf("%s: label array %q has shape %v; want [samples] or [samples 1]", where, label.name, label.shape)
		}
		if label.shape[0] != n {
			return 0, fmt.Errorf("%s: label array %q has %d samples, %q has %d", where, label.name, label.shape[0], nFrom, n)
		}
	}
	return int(n), nil
}

// checkShape checks an array shape [samples, row...] against model input
// i: the row is the input without its batch axis (see Layout), or all of
// it for an unbatched input.
func checkShape(s InputSpec, l Layout, i int, a arrayInfo) error {
	mismatch := func(why string) error {
		return fmt.Errorf("array %q has shape %v, but model input %q takes %s: %s", a.name, a.shape, s.Name, s.shapeString(), why)
	}
	if len(a.shape) == 0 {
		return fmt.Errorf("array %q is a scalar; it needs a first axis counting samples (or give the input one value with --input-value)", a.name)
	}
	if s.Shape == nil {
		return nil
	}
	row := l.rowShape(s, i)
	if len(a.shape) != len(row)+1 {
		why := fmt.Sprintf("rank %d, want %d (the first axis counts samples)", len(a.shape), len(row)+1)
		switch {
		case s.scalar():
			why = "a scalar input needs a 1-D array, one value per sample"
		case l.Axis[i] > 0:
			why = fmt.Sprintf("rank %d, want %d: samples first, then the input without its batch axis %d", len(a.shape), len(row)+1, l.Axis[i])
		}
		return mismatch(why)
	}
	for d := range s.Shape {
		at := l.rowDim(i, d)
		if at >= 0 && s.Shape[d] >= 0 && a.shape[at] != s.Shape[d] {
			return mismatch(fmt.Sprintf("dimension %d is %d, want %d", at, a.shape[at], s.Shape[d]))
		}
	}
	return nil
}

// prepare validates and converts one chunk of raw rows from a file:
// non-finite floats, type conversion, label decoding. rows[i] is the
// file's row number of the chunk's i-th sample, for messages.
func prepare(where string, specs []InputSpec, names map[string]string, labelName string, ch *chunk, allowNonFinite bool) error {
	for _, s := range specs {
		a := ch.inputs[s.Name]
		name := names[s.Name]
		if !allowNonFinite {
			if i, v, bad := firstNonFinite(a); bad {
				return fmt.Errorf("%s: array %q, sample %d: %v in model input %q", where, name, ch.rows[rowOf(a, i)], v, s.Name)
			}
		}
		if a.DType() != s.DType {
			c, err := tensor.CastStrict(a, s.DType)
			if err != nil {
				var re *tensor.RangeError
				if errors.As(err, &re) {
					return fmt.Errorf("%s: array %q, sample %d: value %v does not fit model input %q (%s)",
						where, name, ch.rows[rowOf(a, re.Index)], re.Value, s.Name, s.DType)
				}
				return fmt.Errorf("%s: array %q: %w", where, name, err)
			}
			ch.inputs[s.Name] = c
		}
	}
	if ch.rawLabels != nil {
		l, err := tensor.CastStrict(ch.rawLabels, tensor.Int64)
		if err != nil {
			var re *tensor.RangeError
			if errors.As(err, &re) {
				return fmt.Errorf("%s: label array %q, sample %d: %v does not fit int64", where, labelName, ch.rows[rowOf(ch.rawLabels, re.Index)], re.Value)
			}
			return fmt.Errorf("%s: label array %q: %w", where, labelName, err)
		}
		ch.labels = tensor.Values[int64](l)
		if i := slices.IndexFunc(ch.labels, func(v int64) bool { return v < 0 }); i >= 0 {
			return fmt.Errorf("%s: label array %q, sample %d: label %d is negative; labels are class indices 0, 1, 2, …", where, labelName, ch.rows[i], ch.labels[i])
		}
	}
	return nil
}

func rowOf(t *tensor.Tensor, flat int) int {
	if rl := t.RowLen(); rl > 0 {
		return flat / rl
	}
	return 0
}

// firstNonFinite finds the first NaN or ±Inf in a float tensor.
func firstNonFinite(t *tensor.Tensor) (int, float64, bool) {
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	switch s := t.Data().(type) {
	case []float32:
		for i, v := range s {
			if bad(float64(v)) {
				return i, float64(v), true
			}
		}
	case []float64:
		for i, v := range s {
			if bad(v) {
				return i, v, true
			}
		}
	case []float16.Float16:
		for i, v := range s {
			if v.IsNaN() || v.IsInf(0) {
				return i, float64(v.Float32()), true
			}
		}
	case []tensor.BFloat16:
		for i, v := range s {
			if f := float64(v.Float32()); bad(f) {
				return i, f, true
			}
		}
	default:
		if t.DType().IsFloat() {
			vals, err := tensor.AsFloat64(t)
			if err != nil {
				return 0, 0, false
			}
			if i := slices.IndexFunc(vals, bad); i >= 0 {
				return i, vals[i], true
			}
		}
	}
	return 0, 0, false
}
