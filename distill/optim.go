package distill

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Optimizers run in Go on the float32 weight buffers that ONNX Runtime
// reads in place, so every update writes into the slices it was given.
//
// Determinism: the same parameters, gradients and state give bit-identical
// results. Every product that feeds a sum is converted to float32 on its
// own, which forbids the compiler from fusing it into an FMA (the Go spec
// allows fusion otherwise), so the result does not depend on GOARCH.
// Large parameters are split into chunks of a fixed size, independent of
// the number of goroutines; the gradient norm adds the chunks' float64
// partial sums in chunk order, so running on one goroutine or many gives
// the same bits.

// OptimizerConfig chooses an optimizer and its learning-rate schedule.
// Zero values of Beta1, Beta2 and Eps mean their defaults; an empty
// Schedule means "constant".
type OptimizerConfig struct {
	// Name is "sgd", "adam" or "adamw".
	Name string `json:"name"`
	// LR is the peak learning rate.
	LR float64 `json:"lr"`
	// Momentum is SGD's heavy-ball momentum (0: plain SGD).
	Momentum float64 `json:"momentum,omitempty"`
	// WeightDecay is an L2 term added to the gradient for sgd and adam,
	// and decoupled decay (w -= lr·wd·w before the Adam step) for adamw.
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Beta1, Beta2 and Eps are Adam's (defaults 0.9, 0.999, 1e-8); sgd
	// ignores them.
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	Eps   float64 `json:"eps,omitempty"`
	// Schedule is "constant" or "cosine".
	Schedule string `json:"schedule,omitempty"`
	// WarmupSteps ramps the rate linearly up to LR over that many steps
	// before the schedule starts.
	WarmupSteps int `json:"warmup_steps,omitempty"`
	// TotalSteps is when the cosine schedule reaches MinLR.
	TotalSteps int     `json:"total_steps,omitempty"`
	MinLR      float64 `json:"min_lr,omitempty"`
	// ClipNorm scales all gradients together so that their global L2 norm
	// is at most ClipNorm (0: no clipping).
	ClipNorm float64 `json:"clip_norm,omitempty"`
}

// Optimizer names and schedules.
const (
	OptSGD   = "sgd"
	OptAdam  = "adam"
	OptAdamW = "adamw"

	ScheduleConstant = "constant"
	ScheduleCosine   = "cosine"
)

// Adam's defaults, used where the configuration leaves them zero.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// Validate returns a one-line error naming the first field that is out of
// range: an unknown optimizer or schedule, LR not a positive number,
// negative or non-finite momentum, weight decay, warm-up, total steps,
// MinLR or ClipNorm, momentum of 1 or more, momentum with adam or adamw,
// betas outside [0, 1), a negative Eps, MinLR above LR, and cosine without
// TotalSteps beyond WarmupSteps.
func (c OptimizerConfig) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("optimizer: "+format, a...)
	}
	switch c.Name {
	case OptSGD, OptAdam, OptAdamW:
	case "":
		return bad("no optimizer named; want sgd, adam or adamw")
	default:
		return bad("unknown optimizer %q; want sgd, adam or adamw", c.Name)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if !finite(c.LR) || c.LR <= 0 {
		return bad("learning rate (lr) must be a positive number, got %v", c.LR)
	}
	if !finite(c.Momentum) || c.Momentum < 0 || c.Momentum >= 1 {
		return bad("momentum must be in [0, 1), got %v", c.Momentum)
	}
	if c.Momentum != 0 && c.Name != OptSGD {
		return bad("momentum applies to sgd only; %s uses beta1", c.Name)
	}
	if !finite(c.WeightDecay) || c.WeightDecay < 0 {
		return bad("weight decay must be >= 0, got %v", c.WeightDecay)
	}
	if !finite(c.Beta1) || c.Beta1 < 0 || c.Beta1 >= 1 {
		return bad("beta1 must be in [0, 1), got %v", c.Beta1)
	}
	if !finite(c.Beta2) || c.Beta2 < 0 || c.Beta2 >= 1 {
		return bad("beta2 must be in [0, 1), got %v", c.Beta2)
	}
	if !finite(c.Eps) || c.Eps < 0 {
		return bad("eps must be >= 0, got %v", c.Eps)
	}
	if c.WarmupSteps < 0 {
		return bad("warm-up steps must be >= 0, got %d", c.WarmupSteps)
	}
	if c.TotalSteps < 0 {
		return bad("total steps must be >= 0, got %d", c.TotalSteps)
	}
	if !finite(c.MinLR) || c.MinLR < 0 || c.MinLR > c.LR {
		return bad("min lr must be in [0, lr=%v], got %v", c.LR, c.MinLR)
	}
	if !finite(c.ClipNorm) || c.ClipNorm < 0 {
		return bad("clip norm must be >= 0 (0: off), got %v", c.ClipNorm)
	}
	switch c.Schedule {
	case "", ScheduleConstant:
	case ScheduleCosine:
		if c.TotalSteps <= c.WarmupSteps {
			return bad("the cosine schedule needs total steps (%d) greater than warm-up steps (%d)", c.TotalSteps, c.WarmupSteps)
		}
	default:
		return bad("unknown schedule %q; want constant or cosine", c.Schedule)
	}
	return nil
}

// withDefaults fills Beta1, Beta2, Eps and Schedule where zero.
func (c OptimizerConfig) withDefaults() OptimizerConfig {
	if c.Beta1 == 0 {
		c.Beta1 = DefaultBeta1
	}
	if c.Beta2 == 0 {
		c.Beta2 = DefaultBeta2
	}
	if c.Eps == 0 {
		c.Eps = DefaultEps
	}
	if c.Schedule == "" {
		c.Schedule = ScheduleConstant
	}
	return c
}

// Param is a trainable weight: its name and the buffer updated in place.
type Param struct {
	Name string
	Data []float32
}

// OptimizerState is everything needed to continue an optimizer exactly.
type OptimizerState struct {
	// Name is the optimizer that wrote the state.
	Name string
	// Step counts the steps taken (it drives the learning-rate schedule).
	Step int
	// Counts is, for adam and adamw, how many updates each parameter has
	// received (Adam's t in the bias correction; a parameter skipped with
	// a nil gradient does not count the step). Nil for sgd.
	Counts map[string]int
	// Buffers maps a buffer ("momentum" for sgd with momentum; "m" and
	// "v" for adam and adamw) to parameter name to its values.
	Buffers map[string]map[string][]float32
}

// Buffer names in OptimizerState.
const (
	BufMomentum = "momentum"
	BufM        = "m"
	BufV        = "v"
)

// Optimizer updates a fixed list of parameters in place. It is not safe
// for concurrent use.
type Optimizer struct {
	cfg    OptimizerConfig
	params []Param
	// bufs[k][i] is buffer names[k] of parameter i.
	names  []string
	bufs   [][][]float32
	counts []int // per-parameter update counts (adam, adamw)
	step   int
	// workers is how many goroutines share a large update; it never
	// changes the result.
	workers int
}

// optChunk is the number of elements one task updates and sums; it is
// fixed so that the summation order does not depend on the workers.
const optChunk = 1 << 15

// optParallelMin is the fewest elements in a step worth goroutines.
const optParallelMin = 1 << 18

// NewOptimizer returns an optimizer for params, whose Data it will update
// in place. It returns an error if the configuration is invalid (see
// Validate) or if a parameter name is empty or repeated.
func NewOptimizer(cfg OptimizerConfig, params []Param) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	seen := map[string]bool{}
	for _, p := range params {
		if p.Name == "" {
			return nil, errors.New("optimizer: a parameter has no name")
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("optimizer: parameter %s is listed twice", p.Name)
		}
		seen[p.Name] = true
	}
	o := &Optimizer{cfg: cfg, params: params, workers: runtime.GOMAXPROCS(0)}
	switch {
	case cfg.Name == OptSGD && cfg.Momentum != 0:
		o.names = []string{BufMomentum}
	case cfg.Name == OptAdam || cfg.Name == OptAdamW:
		o.names = []string{BufM, BufV}
		o.counts = make([]int, len(params))
	}
	o.bufs = make([][][]float32, len(o.names))
	for k := range o.names {
		o.bufs[k] = make([][]float32, len(params))
		for i, p := range params {
			o.bufs[k][i] = make([]float32, len(p.Data))
		}
	}
	return o, nil
}

// Steps returns the number of steps taken (restored ones included).
func (o *Optimizer) Steps() int { return o.step }

// LR returns the learning rate of step (0-based). With WarmupSteps W > 0,
// step s < W uses LR·(s+1)/W, so the ramp starts just above 0 and step
// W−1 reaches LR without wasting a step at rate 0. After the warm-up the
// constant schedule keeps LR; cosine follows
// MinLR + (LR−MinLR)·(1+cos(π·p))/2 with p = (s−W)/(TotalSteps−W),
// reaching MinLR at step TotalSteps and staying there.
func (o *Optimizer) LR(step int) float64 {
	c := o.cfg
	s := max(step, 0)
	if s < c.WarmupSteps {
		return c.LR * float64(s+1) / float64(c.WarmupSteps)
	}
	if c.Schedule != ScheduleCosine {
		return c.LR
	}
	p := min(float64(s-c.WarmupSteps)/float64(c.TotalSteps-c.WarmupSteps), 1)
	return c.MinLR + (c.LR-c.MinLR)*(1+math.Cos(math.Pi*p))/2
}

// optTask is one chunk of one parameter.
type optTask struct{ param, lo, hi int }

// Step applies one update, grads[i] being the gradient of params[i]; a nil
// gradient skips that parameter this step and leaves its state alone. It
// returns the global L2 norm of the gradients before clipping and the
// learning rate used (LR(Steps()) before the call).
//
// It returns an error, and changes nothing, if the number of gradients or
// a gradient's length does not match the parameters, or if the gradient
// norm is not finite (a NaN or infinite gradient).
//
// Adam follows PyTorch's torch.optim.Adam/AdamW (non-fused) exactly in
// form: with t the parameter's update count, bc1 = 1−β1^t, bc2 = 1−β2^t,
//
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	w ← w − (lr/bc1) · m / (√v/√bc2 + ε)
//
// which is the explicit m̂/(√v̂+ε) with ε outside the corrected root.
func (o *Optimizer) Step(grads [][]float32) (gradNorm float64, lr float64, err error) {
	if len(grads) != len(o.params) {
		return 0, 0, fmt.Errorf("optimizer: got %d gradients for %d parameters", len(grads), len(o.params))
	}
	var tasks []optTask
	total := 0
	for i, g := range grads {
		if g == nil {
			continue
		}
		if len(g) != len(o.params[i].Data) {
			return 0, 0, fmt.Errorf("optimizer: gradient of %s has %d values, the parameter %d", o.params[i].Name, len(g), len(o.params[i].Data))
		}
		n := len(g)
		for lo := 0; lo < n; lo += optChunk {
			tasks = append(tasks, optTask{i, lo, min(lo+optChunk, n)})
		}
		total += n
	}
	workers := 1
	if total >= optParallelMin {
		workers = min(o.workers, len(tasks))
	}

	partial := make([]float64, len(tasks))
	o.run(tasks, workers, func(k int, t optTask) {
		var s float64
		for _, x := range grads[t.param][t.lo:t.hi] {
			s += float64(x) * float64(x)
		}
		partial[k] = s
	})
	var sq float64
	for _, s := range partial {
		sq += s
	}
	gradNorm = math.Sqrt(sq)
	if math.IsNaN(gradNorm) || math.IsInf(gradNorm, 0) {
		return gradNorm, 0, fmt.Errorf("optimizer: step %d: the gradient norm is %v (a gradient holds NaN or Inf); nothing was updated", o.step+1, gradNorm)
	}

	lr = o.LR(o.step)
	scale := float32(1)
	if o.cfg.ClipNorm > 0 && gradNorm > o.cfg.ClipNorm {
		scale = float32(o.cfg.ClipNorm / gradNorm)
	}
	k := o.kernel(lr, scale, grads)
	o.run(tasks, workers, func(_ int, t optTask) { k(t) })
	if o.counts != nil {
		for i, g := range grads {
			if g != nil {
				o.counts[i]++
			}
		}
	}
	o.step++
	return gradNorm, lr, nil
}

// run calls f for every task, on workers goroutines.
func (o *Optimizer) run(tasks []optTask, workers int, f func(k int, t optTask)) {
	if workers <= 1 {
		for k, t := range tasks {
			f(k, t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(tasks) {
					return
				}
				f(k, tasks[k])
			}
		})
	}
	wg.Wait()
}

// kernel returns the update of one chunk for this step. Scalars are
// worked out once per step (per parameter for Adam's bias correction) in
// float64 and then rounded to float32.
func (o *Optimizer) kernel(lr float64, scale float32, grads [][]float32) func(optTask) {
	c := o.cfg
	lr32, wd := float32(lr), float32(c.WeightDecay)
	if c.Name == OptSGD {
		mu := float32(c.Momentum)
		return func(t optTask) {
			w := o.params[t.param].Data[t.lo:t.hi]
			g := grads[t.param][t.lo:t.hi]
			var buf []float32
			if mu != 0 {
				buf = o.bufs[0][t.param][t.lo:t.hi]
			}
			for j := range w {
				d := float32(g[j] * scale)
				if wd != 0 {
					d += float32(wd * w[j])
				}
				if buf != nil {
					d += float32(mu * buf[j])
					buf[j] = d
				}
				w[j] -= float32(lr32 * d)
			}
		}
	}
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	c1, c2 := float32(1-c.Beta1), float32(1-c.Beta2)
	eps := float32(c.Eps)
	decoupled := c.Name == OptAdamW
	decay := float32(1 - lr*c.WeightDecay)
	stepSize := make([]float32, len(o.params))
	bc2Sqrt := make([]float32, len(o.params))
	for i := range o.params {
		t := float64(o.counts[i] + 1)
		stepSize[i] = float32(lr / (1 - math.Pow(c.Beta1, t)))
		bc2Sqrt[i] = float32(math.Sqrt(1 - math.Pow(c.Beta2, t)))
	}
	return func(t optTask) {
		w := o.params[t.param].Data[t.lo:t.hi]
		g := grads[t.param][t.lo:t.hi]
		m := o.bufs[0][t.param][t.lo:t.hi]
		v := o.bufs[1][t.param][t.lo:t.hi]
		ss, bc := stepSize[t.param], bc2Sqrt[t.param]
		for j := range w {
			d := float32(g[j] * scale)
			if wd != 0 {
				if decoupled {
					w[j] = float32(w[j] * decay)
				} else {
					d += float32(wd * w[j])
				}
			}
			mj := float32(b1*m[j]) + float32(c1*d)
			vj := float32(b2*v[j]) + float32(float32(c2*d)*d)
			m[j], v[j] = mj, vj
			// The square root of a float32 is correctly rounded through
			// float64.
			denom := float32(float32(math.Sqrt(float64(vj)))/bc) + eps
			w[j] -= float32(ss * float32(mj/denom))
		}
	}
}

// State returns a copy of the optimizer's state.
func (o *Optimizer) State() OptimizerState {
	s := OptimizerState{Name: o.cfg.Name, Step: o.step, Buffers: map[string]map[string][]float32{}}
	if o.counts != nil {
		s.Counts = make(map[string]int, len(o.params))
		for i, p := range o.params {
			s.Counts[p.Name] = o.counts[i]
		}
	}
	for k, name := range o.names {
		m := make(map[string][]float32, len(o.params))
		for i, p := range o.params {
			m[p.Name] = append([]float32(nil), o.bufs[k][i]...)
		}
		s.Buffers[name] = m
	}
	return s
}

// Restore sets the optimizer's state to s, copying its values. It returns
// an error, and changes nothing, if s was written by another optimizer,
// has a negative step, or lacks, adds or mis-sizes a buffer or count of
// one of the parameters.
func (o *Optimizer) Restore(s OptimizerState) error {
	if s.Name != o.cfg.Name {
		return fmt.Errorf("optimizer state is for %q, not %q", s.Name, o.cfg.Name)
	}
	if s.Step < 0 {
		return fmt.Errorf("optimizer state has a negative step count %d", s.Step)
	}
	if len(s.Buffers) != len(o.names) {
		return fmt.Errorf("optimizer state has %d buffers, %s with these settings keeps %d", len(s.Buffers), o.cfg.Name, len(o.names))
	}
	for _, name := range o.names {
		m, ok := s.Buffers[name]
		if !ok {
			return fmt.Errorf("optimizer state lacks the %q buffer", name)
		}
		if len(m) != len(o.params) {
			return fmt.Errorf("optimizer state's %q buffer has %d parameters, want %d", name, len(m), len(o.params))
		}
		for _, p := range o.params {
			b, ok := m[p.Name]
			if !ok {
				return fmt.Errorf("optimizer state's %q buffer lacks parameter %s", name, p.Name)
			}
			if len(b) != len(p.Data) {
				return fmt.Errorf("optimizer state's %q buffer of %s has %d values, the parameter %d", name, p.Name, len(b), len(p.Data))
			}
		}
	}
	if o.counts != nil {
		if len(s.Counts) != len(o.params) {
			return fmt.Errorf("optimizer state counts %d parameters, want %d", len(s.Counts), len(o.params))
		}
		for _, p := range o.params {
			n, ok := s.Counts[p.Name]
			if !ok || n < 0 || n > s.Step {
				return fmt.Errorf("optimizer state has no valid update count for %s", p.Name)
			}
		}
	} else if len(s.Counts) != 0 {
		return fmt.Errorf("optimizer state has update counts, which %s does not keep", o.cfg.Name)
	}
	o.step = s.Step
	for i, p := range o.params {
		if o.counts != nil {
			o.counts[i] = s.Counts[p.Name]
		}
		for k, name := range o.names {
			copy(o.bufs[k][i], s.Buffers[name][p.Name])
		}
	}
	return nil
}
