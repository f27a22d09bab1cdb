package dataset

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/infer-ml/infer/pkg/tensor"
)

// randomSource generates samples from the model signature. Sample i of
// input k depends only on the seed, k and i, so a sample is the same
// whatever the batch size, offset or order it is drawn in. An unbatched
// input (see Layout) is one value for every batch.
type randomSource struct {
	specs   []InputSpec
	shapes  map[string][]int64 // full shapes, batch axis 1
	whole   map[string]*tensor.Tensor
	opts    Options
	plan    plan
	intMax  int64
	lo, n   int
	epoch   int
	order   []int // sample indices of this pass
	emitted int
	closed  bool
}

func newRandom(specs []InputSpec, opts Options, p plan) (*randomSource, error) {
	fail := func(err error) (*randomSource, error) { return nil, fmt.Errorf("random data: %w", err) }
	for _, s := range specs {
		if _, ok := opts.Values[s.Name]; ok {
			continue
		}
		switch {
		case s.DType == tensor.Bool, s.DType.IsInteger():
		case s.DType == tensor.Float32, s.DType == tensor.Float64, s.DType == tensor.Float16, s.DType == tensor.BFloat16Type:
		default:
			return fail(fmt.Errorf("cannot generate %s values for model input %q; give it one with --input-value %s=V", s.DType, s.Name, s.Name))
		}
	}
	shapes, err := ResolveShapes(specs, opts.Shapes, 1, 0)
	if err != nil {
		return fail(err)
	}
	total := opts.RandomSamples
	if total == 0 {
		total = defaultRandomSamples
	}
	if p.fixed && total < p.batch {
		// A model fixed at batch 64 gets one full batch, not none.
		total = p.batch
	}
	lo, hi, err := selectRange(total, opts)
	if err != nil {
		return fail(err)
	}
	r := &randomSource{specs: specs, shapes: shapes, whole: map[string]*tensor.Tensor{}, opts: opts, plan: p, lo: lo, n: p.deliverable(hi - lo)}
	r.intMax = opts.RandomIntMax
	if r.intMax == 0 {
		r.intMax = defaultRandomIntMax
	}
	r.start()
	return r, nil
}

func (r *randomSource) start() {
	r.order = make([]int, r.n)
	for i := range r.order {
		r.order[i] = r.lo + i
	}
	if r.opts.Shuffle {
		rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), uint64(r.epoch)))
		rng.Shuffle(len(r.order), func(i, j int) { r.order[i], r.order[j] = r.order[j], r.order[i] })
	}
	r.emitted = 0
}

func (r *randomSource) Len() int { return r.n }

func (r *randomSource) Reset() error {
	if r.closed {
		return errClosed
	}
	r.epoch++
	r.start()
	return nil
}

func (r *randomSource) Close() error { r.closed = true; return nil }

func (r *randomSource) Next() (*Batch, error) {
	if r.closed {
		return nil, errClosed
	}
	if r.emitted >= r.n {
		return nil, io.EOF
	}
	k := min(r.plan.batch, r.n-r.emitted)
	samples := r.order[r.emitted : r.emitted+k]
	b := &Batch{Inputs: map[string]*tensor.Tensor{}, Index: r.emitted, N: k}
	for i, s := range r.specs {
		if r.emitted == 0 {
			// The first batch is the largest: check memory once, not on
			// every batch (each check reads /proc and the cgroup).
			if err := fitsMemory(s.DType, r.shapeOf(i, s, k)); err != nil {
				return nil, fmt.Errorf("random data: model input %q: %w", s.Name, err)
			}
		}
		t, err := r.generate(i, s, samples)
		if err != nil {
			return nil, fmt.Errorf("random data: model input %q: %w", s.Name, err)
		}
		b.Inputs[s.Name] = t
	}
	r.emitted += k
	return b, nil
}

// shapeOf is input's shape in a batch of k samples.
func (r *randomSource) shapeOf(input int, s InputSpec, k int) []int64 {
	shape := slices.Clone(r.shapes[s.Name])
	if axis := r.plan.layout.Axis[input]; axis >= 0 {
		shape[axis] = int64(k)
	}
	return shape
}

func (r *randomSource) generate(input int, s InputSpec, samples []int) (*tensor.Tensor, error) {
	axis := r.plan.layout.Axis[input]
	shape := r.shapeOf(input, s, len(samples))
	if v, ok := r.opts.Values[s.Name]; ok {
		return Constant(s.DType, shape, v)
	}
	if IsMask(s) {
		// A random mask is no input a model sees: an attention mask of
		// random integers adds −10000·(1 − m) for m up to 9, which drives
		// Softmax into overflow (and ONNX Runtime into a path 16× slower,
		// measured on the zoo encoder). Ones attend every position, as for
		// an unpadded sequence.
		return Constant(s.DType, shape, 1)
	}
	if axis < 0 {
		if t, ok := r.whole[s.Name]; ok {
			return t, nil
		}
		// One draw from a stream no sample uses, reshaped to the input.
		t, err := r.draw(input, s, shape, []int{-1})
		if err == nil {
			r.whole[s.Name] = t
		}
		return t, err
	}
	rows := append([]int64{int64(len(samples))}, shape[:axis]...)
	rows = append(rows, shape[axis+1:]...)
	t, err := r.draw(input, s, rows, samples)
	if err != nil || axis == 0 {
		return t, err
	}
	return tensor.MoveFirstAxis(t, axis)
}

// draw fills shape, whose elements split evenly among samples, with each
// sample's own random values.
func (r *randomSource) draw(input int, s InputSpec, shape []int64, samples []int) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, err
	}
	per := n / max(len(samples), 1)
	if s.DType.IsFloat() {
		vals := make([]float64, n)
		for j, idx := range samples {
			rng := sampleRNG(r.opts.Seed, input, idx)
			for e := range per {
				if r.opts.RandomNormal {
					vals[j*per+e] = rng.NormFloat64()
				} else {
					vals[j*per+e] = rng.Float64()
				}
			}
		}
		t, err := tensor.New(shape, vals)
		if err != nil {
			return nil, err
		}
		return tensor.Cast(t, s.DType)
	}
	hi := r.intMax
	if s.DType == tensor.Bool {
		hi = 2
	} else if top := intTop(s.DType); top < hi {
		hi = top
	}
	vals := make([]int64, n)
	for j, idx := range samples {
		rng := sampleRNG(r.opts.Seed, input, idx)
		for e := range per {
			vals[j*per+e] = rng.Int64N(max(hi, 1))
		}
	}
	t, err := tensor.New(shape, vals)
	if err != nil {
		return nil, err
	}
	return tensor.Cast(t, s.DType)
}

// Constant returns a tensor of the given type and shape with every element
// v, converted as tensor.CastStrict converts (an error when v does not fit
// the type).
func Constant(d tensor.DType, shape []int64, v float64) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, err
	}
	var t *tensor.Tensor
	if d.IsInteger() || d == tensor.Bool {
		if v != math.Trunc(v) || math.Abs(v) > 1<<62 {
			return nil, fmt.Errorf("value %v is not an integer, as a %s input needs", v, d)
		}
		t, err = tensor.New(shape, slices.Repeat([]int64{int64(v)}, n))
	} else {
		t, err = tensor.New(shape, slices.Repeat([]float64{v}, n))
	}
	if err != nil {
		return nil, err
	}
	return tensor.CastStrict(t, d)
}

// fallbackAvailable is the memory taken to be available where
// /proc/meminfo does not say: 8 GiB.
const fallbackAvailable = 8 << 30

// fitsMemory returns an error, naming the shape, the bytes needed and the
// bytes available, when generating a d tensor of shape needs more memory
// than the machine has available (see availableMemory). Generation holds
// 8 bytes per element (float64 or int64) besides the tensor itself. A
// shape such as 1x3x100000x100000 crashed the process out of memory.
func fitsMemory(d tensor.DType, shape []int64) error {
	need, ok := generationBytes(d, shape)
	avail := availableMemory()
	if ok && need <= avail {
		return nil
	}
	needs := "more than 2^64"
	if ok {
		needs = strconv.FormatUint(need, 10)
	}
	return fmt.Errorf("shape %v needs %s bytes to generate as %s, more than the %d bytes of memory available", shape, needs, d, avail)
}

// generationBytes is the memory generating a d tensor of shape takes;
// ok is false when it does not fit in a uint64.
func generationBytes(d tensor.DType, shape []int64) (need uint64, ok bool) {
	n := uint64(8 + max(d.Bits()/8, 1))
	for _, dim := range shape {
		hi, lo := bits.Mul64(n, uint64(max(dim, 0)))
		if hi != 0 {
			return 0, false
		}
		n = lo
	}
	return n, true
}

// availableMemory is MemAvailable from /proc/meminfo in bytes, else
// fallbackAvailable.
func availableMemory() uint64 {
	avail := uint64(fallbackAvailable)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "MemAvailable:" && f[2] == "kB" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					avail = kb << 10
				}
			}
		}
	}
	// In a container the cgroup's limit binds before the machine's memory.
	if limit, ok := cgroupValue("memory.max"); ok {
		used, _ := cgroupValue("memory.current")
		if used < limit && limit-used < avail {
			avail = limit - used
		}
	}
	return avail
}

// cgroupValue reads a number from the process's cgroup v2 folder ("max"
// and absent files are not numbers).
func cgroupValue(name string) (uint64, bool) {
	b, err := os.ReadFile("/sys/fs/cgroup/" + name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// intTop returns an integer type's largest value plus one, capped at the
// int64 range.
func intTop(d tensor.DType) int64 {
	switch d {
	case tensor.Int4:
		return 8
	case tensor.Uint4:
		return 16
	case tensor.Int8:
		return 128
	case tensor.Uint8:
		return 256
	case tensor.Int16:
		return 1 << 15
	case tensor.Uint16:
		return 1 << 16
	case tensor.Int32:
		return 1 << 31
	}
	return 1<<63 - 1
}

// sampleRNG is the generator for one sample of one input.
func sampleRNG(seed int64, input, sample int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^uint64(input+1)*0x9E3779B97F4A7C15, uint64(sample)))
}

// IsMask reports whether random data fills input s with ones: an integer
// or boolean input named like an attention mask ("attention_mask",
// "input_mask", "mask").
func IsMask(s InputSpec) bool {
	if s.DType.IsFloat() {
		return false
	}
	return strings.Contains(strings.ToLower(s.Name), "mask")
}
