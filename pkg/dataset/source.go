package dataset

import (
	"errors"
	"fmt"
	"math"
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
	// labelRef says where sample i's label was read (see LabelSource).
	labelRef func(i int) string
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
	// not one global permutation). A file of more than 64 MiB is shuffled
	// within consecutive 64 MiB windows, taken in file order, so memory
	// stays bounded: a file sorted by class should be split or shuffled
	// beforehand.
	Shuffle bool
	// Seed drives shuffling and "random" data.
	Seed int64
	// Shapes gives full input shapes (from --shape name=1x3x224x224) for
	// "random" data: they fill dynamic dimensions, the batch axis (see
	// Layout) excepted, which follows BatchSize. Dimensions sharing a
	// symbolic name with a given one follow it; the rest get a realistic
	// size for their kind (see ResolveShapes), never 1. File data has its
	// own shapes; for it, Shapes are only checked to name inputs.
	Shapes map[string][]int64
	// Values gives inputs a constant value (from --input-value sr=16000)
	// instead of random or stored data: every element of the input is the
	// value, and files need no array for it. It is how a scalar sample
	// rate or an attention mask of ones is fed.
	Values map[string]float64
	// RandomSamples is the number of samples "random" data has; 0 means
	// 16. A model with a fixed batch size gets at least one full batch.
	RandomSamples int
	// RandomNormal draws random floats from N(0, 1) instead of [0, 1).
	RandomNormal bool
	// RandomIntMax bounds random integers to [0, RandomIntMax); 0 means 10
	// (and at most the type's maximum + 1). Integer inputs named like an
	// attention mask get ones instead (IsMask).
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
// the model inputs, as SpecsFromGraph or FeedSpecsFromGraph return them:
// an input marked Default is fed only when the data holds an array for it
// or Options.Values gives it a value, and keeps its default otherwise. A
// model whose every input keeps its default runs on them: each sample is
// one run (batches of one), and random data has RandomSamples of them.
// Open reads headers (and
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
	if len(specs) == 0 {
		return nil, general(errors.New("the model has no inputs to feed"))
	}
	all := specs
	if specs = heldSpecs(spec, specs, opts.Values); len(specs) == 0 && spec != "random" {
		return nil, general(fmt.Errorf("it holds no array for any model input (%s, each with a default value); --data random runs the model on its defaults", specNames(all)))
	}
	if err := checkSpecs(specs, opts); err != nil {
		return nil, general(err)
	}
	p, err := planBatches(specs, opts, spec == "random")
	if err != nil {
		return nil, general(err)
	}
	if spec == "random" {
		return newRandom(specs, opts, p)
	}
	// Inputs given a value need no array: the files feed the others.
	f := p.feed(specs, opts.Values)
	if len(f.specs) == 0 {
		return nil, general(errors.New("every model input has a value (--input-value); there is nothing to read"))
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, general(fmt.Errorf("cannot read it: %w", errors.Unwrap(err)))
	}
	var parts []part
	switch {
	case st.IsDir():
		parts, err = partsOfDir(spec, f)
	case strings.EqualFold(filepath.Ext(spec), ".npz"):
		var np *npzPart
		np, err = inspectNPZ(spec, f)
		parts = []part{np}
	default:
		err = general(errors.New(`not an .npz file, a folder, or "random"`))
	}
	if err != nil {
		return nil, err
	}
	return newFileSource(parts, f, opts, p)
}

func checkSpecs(specs []InputSpec, opts Options) error {
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
	for name := range opts.Shapes {
		if !seen[name] {
			return fmt.Errorf("a shape is given for %q, which is not a model input (inputs: %s)", name, specNames(specs))
		}
	}
	for name, v := range opts.Values {
		if !seen[name] {
			return fmt.Errorf("a value is given for %q, which is not a model input (inputs: %s)", name, specNames(specs))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("the value %v given for model input %q is not a finite number", v, name)
		}
		if s := specByName(specs, name); s.Shape == nil {
			return fmt.Errorf("model input %q has no shape in the model, so a value cannot fill it; feed it from data", name)
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
	fixed  bool
	layout Layout
}

// planBatches decides the batch size. Random data gives an unbatched
// input one value for all samples; files hold one value per sample, so
// there an unbatched input without a given value makes batches of one.
func planBatches(specs []InputSpec, opts Options, random bool) (plan, error) {
	l := LayoutOf(specs)
	if len(specs) == 0 {
		// Every input keeps its default value: one run is one sample.
		if opts.BatchSize > 1 {
			return plan{}, fmt.Errorf("batch size %d does not fit: every model input keeps its default value, so each sample is one run", opts.BatchSize)
		}
		return plan{batch: 1, fixed: true, layout: l}, nil
	}
	fixed, by, what := l.Fixed, l.FixedBy, ""
	if fixed > 0 {
		what = fmt.Sprintf("has a fixed batch dimension of %d", fixed)
	}
	if !random {
		for i, s := range specs {
			if _, valued := opts.Values[s.Name]; l.Axis[i] >= 0 || valued {
				continue
			}
			if fixed > 1 {
				return plan{}, fmt.Errorf("model input %q is not batched (%s) and the batch size is fixed at %d by %q: give it one value with --input-value %s=V",
					s.Name, s.shapeString(), fixed, by, s.Name)
			}
			fixed, by = 1, s.Name
			what = "is fed one sample at a time (it is not batched: " + s.shapeString() + "); give it one value with --input-value to batch the others"
			if s.scalar() {
				what = "is a scalar, fed one sample at a time; give it one value with --input-value to batch the others"
			}
			break
		}
	}
	p := plan{batch: opts.BatchSize, fixed: fixed > 0, layout: l}
	switch {
	case fixed > 0 && p.batch == 0:
		p.batch = fixed
	case fixed > 0 && p.batch != fixed:
		return plan{}, fmt.Errorf("batch size %d does not fit: model input %q %s", p.batch, by, what)
	case p.batch == 0:
		p.batch = 1
	}
	return p, nil
}

// feed is what files must hold: every input without a given value, with
// its batch axis.
type feed struct {
	all    []InputSpec // every model input (test data numbers files by it)
	specs  []InputSpec
	layout Layout // of specs
}

func (p plan) feed(specs []InputSpec, values map[string]float64) feed {
	f := feed{all: specs, layout: p.layout}
	f.layout.Axis = nil
	for i, s := range specs {
		if _, ok := values[s.Name]; ok {
			continue
		}
		f.specs = append(f.specs, s)
		f.layout.Axis = append(f.layout.Axis, p.layout.Axis[i])
	}
	return f
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
