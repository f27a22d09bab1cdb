package dataset

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/infer-ml/infer/pkg/tensor"
)

// randomSource generates samples from the model signature. Sample i of
// input k depends only on the seed, k and i, so a sample is the same
// whatever the batch size, offset or order it is drawn in.
type randomSource struct {
	specs   []InputSpec
	dims    [][]int64 // per input: dimensions after the batch axis
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
		switch {
		case s.DType == tensor.Bool, s.DType.IsInteger():
		case s.DType == tensor.Float32, s.DType == tensor.Float64, s.DType == tensor.Float16, s.DType == tensor.BFloat16Type:
		default:
			return fail(fmt.Errorf("cannot generate %s values for model input %q", s.DType, s.Name))
		}
	}
	dims, err := randomDims(specs, opts.Shapes)
	if err != nil {
		return fail(err)
	}
	total := opts.RandomSamples
	if total == 0 {
		total = defaultRandomSamples
	}
	lo, hi, err := selectRange(total, opts)
	if err != nil {
		return fail(err)
	}
	r := &randomSource{specs: specs, dims: dims, opts: opts, plan: p, lo: lo, n: p.deliverable(hi - lo)}
	r.intMax = opts.RandomIntMax
	if r.intMax == 0 {
		r.intMax = defaultRandomIntMax
	}
	r.start()
	return r, nil
}

// randomDims resolves each input's dimensions after the batch axis: fixed
// model dimensions, then the given shapes, then dimensions sharing a
// symbolic name with a given one, then 1.
func randomDims(specs []InputSpec, shapes map[string][]int64) ([][]int64, error) {
	params := map[string]int64{}
	from := map[string]string{}
	for _, s := range specs {
		sh, ok := shapes[s.Name]
		if !ok {
			continue
		}
		if s.Shape != nil && len(sh) != len(s.Shape) {
			return nil, fmt.Errorf("shape %v for model input %q has %d dimensions, the model's %s has %d",
				sh, s.Name, len(sh), s.shapeString(), len(s.Shape))
		}
		for d := 1; d < len(s.Shape); d++ {
			if s.Shape[d] >= 0 && sh[d] != s.Shape[d] {
				return nil, fmt.Errorf("shape %v for model input %q: dimension %d is %d, the model fixes it to %d", sh, s.Name, d, sh[d], s.Shape[d])
			}
			p := s.dimParam(d)
			if p == "" {
				continue
			}
			if v, ok := params[p]; ok && v != sh[d] {
				return nil, fmt.Errorf("shapes for model inputs %q and %q disagree on dimension %q (%d and %d)", from[p], s.Name, p, v, sh[d])
			}
			params[p], from[p] = sh[d], s.Name
		}
	}
	out := make([][]int64, len(specs))
	for i, s := range specs {
		if sh, ok := shapes[s.Name]; ok {
			out[i] = append([]int64{}, sh[1:]...)
			continue
		}
		if s.Shape == nil {
			return nil, fmt.Errorf("model input %q has no shape in the model; give one (--shape %s=1x...)", s.Name, s.Name)
		}
		if s.scalar() {
			continue
		}
		dims := make([]int64, len(s.Shape)-1)
		for d := 1; d < len(s.Shape); d++ {
			switch v, ok := params[s.dimParam(d)]; {
			case s.Shape[d] >= 0:
				dims[d-1] = s.Shape[d]
			case ok && s.dimParam(d) != "":
				dims[d-1] = v
			default:
				dims[d-1] = 1
			}
		}
		out[i] = dims
	}
	return out, nil
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
		t, err := r.generate(i, s, samples)
		if err != nil {
			return nil, fmt.Errorf("random data: model input %q: %w", s.Name, err)
		}
		b.Inputs[s.Name] = t
	}
	r.emitted += k
	return b, nil
}

func (r *randomSource) generate(input int, s InputSpec, samples []int) (*tensor.Tensor, error) {
	shape := append([]int64{int64(len(samples))}, r.dims[input]...)
	if s.scalar() {
		shape = []int64{}
	}
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
