package testmodels

import (
	"math"
	"math/rand/v2"
)

// Rand draws seeded float32 values for weights and test inputs. The same
// seed gives the same sequence (math/rand/v2's PCG), so models built from
// a seed are the same bytes each time; the golden test on testdata/ notices
// if a Go release ever changes that.
type Rand struct {
	r *rand.Rand
}

// NewRand returns a Rand seeded with seed.
func NewRand(seed uint64) *Rand {
	return &Rand{r: rand.New(rand.NewPCG(seed, 0x5eed_1e57_0f_1a7e))}
}

// Normal returns Numel(shape) values drawn from N(0, std²).
func (r *Rand) Normal(shape []int64, std float64) []float32 {
	out := make([]float32, Numel(shape))
	for i := range out {
		out[i] = float32(r.r.NormFloat64() * std)
	}
	return out
}

// Uniform returns Numel(shape) values drawn from U[lo, hi).
func (r *Rand) Uniform(shape []int64, lo, hi float64) []float32 {
	out := make([]float32, Numel(shape))
	for i := range out {
		out[i] = float32(lo + (hi-lo)*r.r.Float64())
	}
	return out
}

// He returns weights drawn from N(0, 2/fanIn), the scale that keeps
// activations' variance through ReLU layers.
func (r *Rand) He(shape []int64, fanIn int64) []float32 {
	return r.Normal(shape, math.Sqrt(2/float64(fanIn)))
}

// Xavier returns weights drawn from U(±√(6/(fanIn+fanOut))), the scale for
// layers without ReLU (attention projections, logits).
func (r *Rand) Xavier(shape []int64, fanIn, fanOut int64) []float32 {
	a := math.Sqrt(6 / float64(fanIn+fanOut))
	return r.Uniform(shape, -a, a)
}
