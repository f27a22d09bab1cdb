package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/infer-ml/infer/pkg/tensor"
)

// Batch is a group of consecutive samples from a Source.
type Batch struct {
	// Inputs maps each model input name to a tensor whose first axis has N
	// samples (a scalar input, fed one sample at a time, has no axis).
	Inputs map[string]*tensor.Tensor
	// Labels has N class labels, or is nil when the data has none.
	Labels []int64
	// Index is the position of the batch's first sample in this pass:
	// batches of one pass cover 0..Len()-1 in order.
	Index int
	// N is the number of samples.
	N int
}

// Source delivers batches. It is not safe for concurrent use.
type Source interface {
	// Next returns the next batch, or io.EOF after the last one. After any
	// other error the source stays failed until Reset.
	Next() (*Batch, error)
	// Len returns the number of samples one pass delivers, or -1 if
	// unknown.
	Len() int
	// Reset starts a new pass. With Options.Shuffle each pass has a new
	// order, the same for a given seed every time.
	Reset() error
	// Close releases open files; Next then returns an error.
	Close() error
}

// Options control how a Source batches and selects samples.
type Options struct {
	// BatchSize is the number of samples per batch; 0 means 1, or the
	// model's fixed batch dimension when it has one (another value is then
	// an error). The last batch may be smaller, unless the batch dimension
	// is fixed: a short last batch is then dropped.
	BatchSize int
	// Offset skips that many samples, in the data's natural order (files
	// in name order, rows in order), before anything else.
	Offset int
	// Limit keeps at most that many samples after Offset; 0 keeps all.
	// Offset and Limit select the same samples whether or not Shuffle is
	// set, so Split's ranges never overlap.
	Limit int
	// Shuffle visits files in a seeded random order and samples within
	// each file in a seeded random order (see the package comment for why
	// not one global permutation).
	Shuffle bool
	// Seed drives shuffling and "random" data.
	Seed int64
	// Shapes gives full input shapes (from --shape name=1x3x224x224) for
	// "random" data: they fill dynamic dimensions, the first (batch) axis
	// excepted, which follows BatchSize. Dimensions sharing a symbolic
	// name with a given one follow it; the rest default to 1. File data
	// has its own shapes; for it, Shapes are only checked to name inputs.
	Shapes map[string][]int64
	// RandomSamples is the number of samples "random" data has; 0 means 16.
	RandomSamples int
	// RandomNormal draws random floats from N(0, 1) instead of [0, 1).
	RandomNormal bool
	// RandomIntMax bounds random integers to [0, RandomIntMax); 0 means 10
	// (and at most the type's maximum + 1).
	RandomIntMax int64
	// AllowNonFinite lets NaN and ±Inf through (some models take -Inf
	// attention masks); by default they are an error.
	AllowNonFinite bool
}

const (
	defaultRandomSamples = 16
	defaultRandomIntMax  = 10
)

func (o Options) check() error {
	switch {
	case o.BatchSize < 0:
		return fmt.Errorf("batch size %d is negative", o.BatchSize)
	case o.Offset < 0:
		return fmt.Errorf("offset %d is negative", o.Offset)
	case o.Limit < 0:
		return fmt.Errorf("limit %d is negative", o.Limit)
	case o.RandomSamples < 0:
		return fmt.Errorf("random sample count %d is negative", o.RandomSamples)
	case o.RandomIntMax < 0:
		return fmt.Errorf("random integer bound %d is negative", o.RandomIntMax)
	}
	return nil
}

// Open returns a Source for spec: an .npz file, a folder of .npz files, an
// ONNX test-data folder, or "random" (see the package comment). specs are
// the model inputs, as SpecsFromGraph returns them. Open reads headers (and
// test-data sets) to validate the data against specs and count samples.
// It returns an error, naming the file, array and model input concerned,
// when the data cannot be read or does not fit the model: a missing input
// array, an element type that cannot be converted, a wrong shape,
// different sample counts, a non-integer label array; also for invalid
// options, inputs that are not tensors, and an Offset past the end.
func Open(spec string, specs []InputSpec, opts Options) (Source, error) {
	general := func(err error) error { return fmt.Errorf("data %s: %w", spec, err) }
	if err := opts.check(); err != nil {
		return nil, general(err)
	}
	if err := checkSpecs(specs, opts.Shapes); err != nil {
		return nil, general(err)
	}
	p, err := planBatches(specs, opts)
	if err != nil {
		return nil, general(err)
	}
	if spec == "random" {
		return newRandom(specs, opts, p)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, general(fmt.Errorf("cannot read it: %w", errors.Unwrap(err)))
	}
	var parts []part
	switch {
	case st.IsDir():
		parts, err = partsOfDir(spec, specs)
	case strings.EqualFold(filepath.Ext(spec), ".npz"):
		var np *npzPart
		np, err = inspectNPZ(spec, specs)
		parts = []part{np}
	default:
		err = general(errors.New(`not an .npz file, a folder, or "random"`))
	}
	if err != nil {
		return nil, err
	}
	return newFileSource(parts, specs, opts, p)
}

func checkSpecs(specs []InputSpec, shapes map[string][]int64) error {
	if len(specs) == 0 {
		return errors.New("the model has no inputs to feed")
	}
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			return fmt.Errorf("model input %q is listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.DType == tensor.Undefined {
			return fmt.Errorf("model input %q is not a tensor; only tensor inputs can be fed", s.Name)
		}
		if !s.DType.Known() {
			return fmt.Errorf("model input %q has unknown element type %s", s.Name, s.DType)
		}
		if len(s.DimParams) != 0 && len(s.DimParams) != len(s.Shape) {
			return fmt.Errorf("model input %q has %d symbolic dimension names for %d dimensions", s.Name, len(s.DimParams), len(s.Shape))
		}
	}
	for name := range shapes {
		if !seen[name] {
			return fmt.Errorf("a shape is given for %q, which is not a model input (inputs: %s)", name, specNames(specs))
		}
	}
	return nil
}

func specNames(specs []InputSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func (s InputSpec) dimParam(i int) string {
	if i < len(s.DimParams) {
		return s.DimParams[i]
	}
	return ""
}

func (s InputSpec) scalar() bool { return s.Shape != nil && len(s.Shape) == 0 }

// plan is how samples are grouped into batches.
type plan struct {
	batch int
	// fixed: the model's batch dimension is fixed, so every batch must be
	// full and all batches must have the same shape.
	fixed bool
}

func planBatches(specs []InputSpec, opts Options) (plan, error) {
	fixed, by := 0, ""
	for _, s := range specs {
		n := 0
		switch {
		case s.scalar():
			n = 1
		case len(s.Shape) > 0 && s.Shape[0] > 0:
			n = int(s.Shape[0])
		}
		if n == 0 {
			continue
		}
		if fixed != 0 && n != fixed {
			return plan{}, fmt.Errorf("model inputs %q and %q have different fixed batch sizes (%d and %d)", by, s.Name, fixed, n)
		}
		fixed, by = n, s.Name
	}
	p := plan{batch: opts.BatchSize, fixed: fixed > 0}
	switch {
	case fixed > 0 && p.batch == 0:
		p.batch = fixed
	case fixed > 0 && p.batch != fixed:
		what := fmt.Sprintf("a fixed batch dimension of %d", fixed)
		if fixed == 1 && specByName(specs, by).scalar() {
			what = "is a scalar, fed one sample at a time"
		}
		return plan{}, fmt.Errorf("batch size %d does not fit: model input %q has %s", p.batch, by, what)
	case p.batch == 0:
		p.batch = 1
	}
	return p, nil
}

func specByName(specs []InputSpec, name string) InputSpec {
	for _, s := range specs {
		if s.Name == name {
			return s
		}
	}
	return InputSpec{}
}

// selectRange returns the natural sample range [lo, hi) that opts select
// from total samples.
func selectRange(total int, opts Options) (lo, hi int, err error) {
	if opts.Offset > total {
		return 0, 0, fmt.Errorf("offset %d is past the end of the data (%d samples)", opts.Offset, total)
	}
	lo, hi = opts.Offset, total
	if opts.Limit > 0 {
		hi = min(hi, lo+opts.Limit)
	}
	return lo, hi, nil
}

// deliverable is how many of n selected samples one pass delivers.
func (p plan) deliverable(n int) int {
	if p.fixed {
		return n - n%p.batch
	}
	return n
}
