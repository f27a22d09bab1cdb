package distill

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// optClose reports whether got is within 1e-6 relative (or 1e-9 absolute
// near zero) of want.
func optClose(got, want float64) bool {
	return math.Abs(got-want) <= 1e-6*math.Abs(want)+1e-9
}

func optCheck(t *testing.T, label string, got []float32, want []float64) {
	t.Helper()
	for i := range want {
		if !optClose(float64(got[i]), want[i]) {
			t.Fatalf("%s: w[%d] = %.9g, want %.9g", label, i, got[i], want[i])
		}
	}
}

func optNew(t *testing.T, cfg OptimizerConfig, params ...Param) *Optimizer {
	t.Helper()
	o, err := NewOptimizer(cfg, params)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func optStepT(t *testing.T, o *Optimizer, grads ...[]float32) (float64, float64) {
	t.Helper()
	n, lr, err := o.Step(grads)
	if err != nil {
		t.Fatal(err)
	}
	return n, lr
}

func TestOptimSGD(t *testing.T) {
	w := []float32{1, -2}
	o := optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1}, Param{"w", w})
	norm, lr := optStepT(t, o, []float32{0.5, 0.25})
	if lr != 0.1 || !optClose(norm, math.Sqrt(0.25+0.0625)) {
		t.Fatalf("lr %v norm %v", lr, norm)
	}
	optCheck(t, "step 1", w, []float64{0.95, -2.025})
	optStepT(t, o, []float32{-1, 0})
	optCheck(t, "step 2", w, []float64{1.05, -2.025})
	if o.Steps() != 2 || len(o.State().Buffers) != 0 {
		t.Fatalf("steps %d, state %+v", o.Steps(), o.State())
	}
}

func TestOptimSGDMomentum(t *testing.T) {
	w := []float32{1}
	o := optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9}, Param{"w", w})
	// buf: 1 → 0.9+0.5=1.4 → 1.26-1=0.26; w: 1-0.1 → 0.9-0.14 → 0.76-0.026.
	optStepT(t, o, []float32{1})
	optCheck(t, "step 1", w, []float64{0.9})
	optStepT(t, o, []float32{0.5})
	optCheck(t, "step 2", w, []float64{0.76})
	optStepT(t, o, []float32{-1})
	optCheck(t, "step 3", w, []float64{0.734})
	if b := o.State().Buffers[BufMomentum]["w"]; !optClose(float64(b[0]), 0.26) {
		t.Fatalf("momentum buffer %v, want 0.26", b)
	}
}

// optAdamRef is Adam in float64 with explicit bias-corrected moments.
type optAdamRef struct {
	lr, b1, b2, eps, wd float64
	decoupled           bool
	w, m, v             []float64
	t                   int
}

func (a *optAdamRef) step(g []float32) {
	a.t++
	for i := range a.w {
		d := float64(g[i])
		if a.decoupled {
			a.w[i] *= 1 - a.lr*a.wd
		} else {
			d += a.wd * a.w[i]
		}
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*d
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*d*d
		mh := a.m[i] / (1 - math.Pow(a.b1, float64(a.t)))
		vh := a.v[i] / (1 - math.Pow(a.b2, float64(a.t)))
		a.w[i] -= a.lr * mh / (math.Sqrt(vh) + a.eps)
	}
}

func TestOptimAdam(t *testing.T) {
	for _, name := range []string{"adam", "adamw"} {
		t.Run(name, func(t *testing.T) {
			w := []float32{2, -1, 0.5}
			o := optNew(t, OptimizerConfig{Name: name, LR: 0.01}, Param{"w", w})
			// First step: m̂ = g, v̂ = g², so each weight moves by lr·g/(|g|+ε).
			optStepT(t, o, []float32{0.5, -4, 1e-3})
			optCheck(t, "step 1", w, []float64{2 - 0.01*0.5/(0.5+1e-8), -1 + 0.01*4/(4+1e-8), 0.5 - 0.01*1e-3/(1e-3+1e-8)})
			ref := &optAdamRef{lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, w: []float64{2, -1, 0.5}, m: make([]float64, 3), v: make([]float64, 3)}
			ref.step([]float32{0.5, -4, 1e-3})
			for i, g := range [][]float32{{0.25, 1, -2}, {-0.5, 0.5, 3}, {1, 2, 3}, {0, 0, 0}} {
				optStepT(t, o, g)
				ref.step(g)
				optCheck(t, "step "+string(rune('2'+i)), w, ref.w)
			}
		})
	}
}

func TestOptimAdamBetas(t *testing.T) {
	w := []float32{1, 1}
	o := optNew(t, OptimizerConfig{Name: "adam", LR: 0.05, Beta1: 0.5, Beta2: 0.75, Eps: 1e-3}, Param{"w", w})
	ref := &optAdamRef{lr: 0.05, b1: 0.5, b2: 0.75, eps: 1e-3, w: []float64{1, 1}, m: make([]float64, 2), v: make([]float64, 2)}
	for _, g := range [][]float32{{1, -0.1}, {0.2, 0.3}, {-1, 0.01}} {
		optStepT(t, o, g)
		ref.step(g)
		optCheck(t, "betas", w, ref.w)
	}
}

func TestOptimWeightDecay(t *testing.T) {
	// SGD: the decay is added to the gradient: 2 - 0.1·(0.5 + 0.1·2).
	w := []float32{2}
	optStepT(t, optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1, WeightDecay: 0.1}, Param{"w", w}), []float32{0.5})
	optCheck(t, "sgd", w, []float64{1.93})

	// Adam with L2: a zero gradient becomes wd·w, and the first step
	// moves by lr in its direction.
	w = []float32{2}
	optStepT(t, optNew(t, OptimizerConfig{Name: "adam", LR: 0.01, WeightDecay: 0.1}, Param{"w", w}), []float32{0})
	optCheck(t, "adam", w, []float64{2 - 0.01*0.2/(0.2+1e-8)})

	// AdamW: decoupled, w·(1 - lr·wd), and a zero gradient moves nothing.
	w = []float32{2}
	optStepT(t, optNew(t, OptimizerConfig{Name: "adamw", LR: 0.01, WeightDecay: 0.1}, Param{"w", w}), []float32{0})
	optCheck(t, "adamw", w, []float64{2 * (1 - 0.01*0.1)})

	// Several AdamW steps against the reference.
	w = []float32{2, -3}
	o := optNew(t, OptimizerConfig{Name: "adamw", LR: 0.01, WeightDecay: 0.5}, Param{"w", w})
	ref := &optAdamRef{lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.5, decoupled: true, w: []float64{2, -3}, m: make([]float64, 2), v: make([]float64, 2)}
	for _, g := range [][]float32{{1, 1}, {-0.5, 2}, {0.1, -0.1}} {
		optStepT(t, o, g)
		ref.step(g)
		optCheck(t, "adamw steps", w, ref.w)
	}
}

func TestOptimClipNorm(t *testing.T) {
	a, b := []float32{0}, []float32{0}
	g1, g2 := []float32{3}, []float32{4}
	o := optNew(t, OptimizerConfig{Name: "sgd", LR: 1, ClipNorm: 1}, Param{"a", a}, Param{"b", b})
	norm, _ := optStepT(t, o, g1, g2)
	if norm != 5 {
		t.Fatalf("norm %v, want 5 (before clipping)", norm)
	}
	optCheck(t, "clipped", slices.Concat(a, b), []float64{-0.6, -0.8})
	if g1[0] != 3 || g2[0] != 4 {
		t.Fatalf("the gradients were modified: %v %v", g1, g2)
	}
	// Below the limit nothing is scaled.
	norm, _ = optStepT(t, o, []float32{0.3}, []float32{0.4})
	if !optClose(norm, 0.5) {
		t.Fatalf("norm %v, want 0.5", norm)
	}
	optCheck(t, "unclipped", slices.Concat(a, b), []float64{-0.9, -1.2})
}

func TestOptimNilGrad(t *testing.T) {
	a, b := []float32{1}, []float32{1}
	o := optNew(t, OptimizerConfig{Name: "adam", LR: 0.1}, Param{"a", a}, Param{"b", b})
	optStepT(t, o, []float32{1}, nil)
	optStepT(t, o, nil, []float32{1})
	// b's first update is bias-corrected as a first step: it moves by lr.
	optCheck(t, "a", a, []float64{0.9})
	optCheck(t, "b", b, []float64{0.9})
	s := o.State()
	if s.Step != 2 || s.Counts["a"] != 1 || s.Counts["b"] != 1 {
		t.Fatalf("state %+v", s)
	}
}

func TestOptimSchedule(t *testing.T) {
	o := optNew(t, OptimizerConfig{Name: "sgd", LR: 1, Schedule: "cosine", WarmupSteps: 4, TotalSteps: 12, MinLR: 0.1})
	for _, c := range []struct {
		step int
		want float64
	}{
		{0, 0.25}, {1, 0.5}, {3, 1}, {4, 1},
		{6, 0.1 + 0.9*(1+math.Cos(math.Pi/4))/2},
		{8, 0.55}, {12, 0.1}, {1000, 0.1},
	} {
		if got := o.LR(c.step); !optClose(got, c.want) {
			t.Errorf("cosine LR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	o = optNew(t, OptimizerConfig{Name: "adam", LR: 0.3, WarmupSteps: 3})
	for s, want := range []float64{0.1, 0.2, 0.3, 0.3, 0.3} {
		if got := o.LR(s); !optClose(got, want) {
			t.Errorf("constant LR(%d) = %v, want %v", s, got, want)
		}
	}
	// Step uses LR(Steps()) and reports it.
	w := []float32{0}
	o = optNew(t, OptimizerConfig{Name: "sgd", LR: 1, WarmupSteps: 2}, Param{"w", w})
	if _, lr := optStepT(t, o, []float32{1}); lr != 0.5 {
		t.Fatalf("first step lr %v, want 0.5", lr)
	}
	if _, lr := optStepT(t, o, []float32{1}); lr != 1 {
		t.Fatalf("second step lr %v, want 1", lr)
	}
	optCheck(t, "warm-up", w, []float64{-1.5})
}

// optQuadGrad returns the gradient of Σ(w−c)².
func optQuadGrad(w, c []float32) []float32 {
	g := make([]float32, len(w))
	for i := range w {
		g[i] = 2 * (w[i] - c[i])
	}
	return g
}

func TestOptimQuadratic(t *testing.T) {
	c := []float32{1, -2, 3, 0.5}
	for _, cfg := range []OptimizerConfig{
		{Name: "sgd", LR: 0.1},
		{Name: "sgd", LR: 0.05, Momentum: 0.9},
		{Name: "sgd", LR: 0.1, ClipNorm: 1},
		{Name: "adam", LR: 0.1, Schedule: "cosine", TotalSteps: 1000},
		{Name: "adamw", LR: 0.1, Schedule: "cosine", WarmupSteps: 50, TotalSteps: 1000},
	} {
		w := []float32{0, 0, 0, 0}
		o := optNew(t, cfg, Param{"w", w})
		for range 1000 {
			optStepT(t, o, optQuadGrad(w, c))
		}
		for i := range w {
			if math.Abs(float64(w[i]-c[i])) > 1e-3 {
				t.Errorf("%+v: w = %v, want %v", cfg, w, c)
				break
			}
		}
	}
}

// optRandGrads returns seeded gradients for params, with nil for a
// parameter the step skips.
func optRandGrads(r *rand.Rand, params []Param, skip int) [][]float32 {
	grads := make([][]float32, len(params))
	for i, p := range params {
		if i == skip {
			continue
		}
		grads[i] = make([]float32, len(p.Data))
		for j := range grads[i] {
			grads[i][j] = float32(r.NormFloat64())
		}
	}
	return grads
}

func optParams(sizes ...int) []Param {
	r := rand.New(rand.NewPCG(1, 2))
	params := make([]Param, len(sizes))
	for i, n := range sizes {
		data := make([]float32, n)
		for j := range data {
			data[j] = float32(r.NormFloat64())
		}
		params[i] = Param{Name: "p" + string(rune('a'+i)), Data: data}
	}
	return params
}

func optCloneParams(ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{p.Name, slices.Clone(p.Data)}
	}
	return out
}

func optSameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

var optResumeConfigs = []OptimizerConfig{
	{Name: "sgd", LR: 0.01, WeightDecay: 0.01},
	{Name: "sgd", LR: 0.01, Momentum: 0.9, ClipNorm: 1},
	{Name: "adam", LR: 0.01, WeightDecay: 0.01, Schedule: "cosine", WarmupSteps: 2, TotalSteps: 10},
	{Name: "adamw", LR: 0.01, WeightDecay: 0.1, ClipNorm: 2},
}

func TestOptimStateRestore(t *testing.T) {
	for _, cfg := range optResumeConfigs {
		t.Run(cfg.Name, func(t *testing.T) {
			grads := func(s int, params []Param) [][]float32 {
				return optRandGrads(rand.New(rand.NewPCG(uint64(s), 7)), params, s%3)
			}
			full := optParams(5, 3, 7)
			o := optNew(t, cfg, full...)
			for s := range 8 {
				optStepT(t, o, grads(s, full)...)
			}

			part := optParams(5, 3, 7)
			o1 := optNew(t, cfg, part...)
			for s := range 3 {
				optStepT(t, o1, grads(s, part)...)
			}
			st := o1.State()
			snap := optCloneParams(part)
			// The state is a copy: a later step must not change it.
			optStepT(t, o1, grads(3, part)...)

			o3 := optNew(t, cfg, snap...)
			if err := o3.Restore(st); err != nil {
				t.Fatal(err)
			}
			if o3.Steps() != 3 {
				t.Fatalf("restored steps %d", o3.Steps())
			}
			for s := 3; s < 8; s++ {
				optStepT(t, o3, grads(s, snap)...)
			}
			for i := range full {
				if !optSameBits(full[i].Data, snap[i].Data) {
					t.Fatalf("parameter %s differs after resume", full[i].Name)
				}
			}
			a, b := o.State(), o3.State()
			if a.Step != b.Step || len(a.Buffers) != len(b.Buffers) {
				t.Fatalf("state %d/%d buffers vs %d/%d", a.Step, len(a.Buffers), b.Step, len(b.Buffers))
			}
			for k, m := range a.Buffers {
				for name, v := range m {
					if !optSameBits(v, b.Buffers[k][name]) {
						t.Fatalf("buffer %s of %s differs", k, name)
					}
				}
			}
			for name, n := range a.Counts {
				if b.Counts[name] != n {
					t.Fatalf("count of %s: %d vs %d", name, n, b.Counts[name])
				}
			}
		})
	}
}

func TestOptimRestoreErrors(t *testing.T) {
	ps := optParams(4, 2)
	adam := optNew(t, OptimizerConfig{Name: "adam", LR: 0.1}, ps...)
	optStepT(t, adam, optRandGrads(rand.New(rand.NewPCG(1, 1)), ps, -1)...)
	good := adam.State()
	mutate := func(f func(s *OptimizerState)) OptimizerState {
		s := adam.State()
		f(&s)
		return s
	}
	for _, c := range []struct {
		name string
		s    OptimizerState
		want string
	}{
		{"other optimizer", mutate(func(s *OptimizerState) { s.Name = "sgd" }), `"sgd", not "adam"`},
		{"missing buffer", mutate(func(s *OptimizerState) { delete(s.Buffers, BufV) }), "buffers"},
		{"renamed buffer", mutate(func(s *OptimizerState) { s.Buffers["x"] = s.Buffers[BufV]; delete(s.Buffers, BufV) }), `lacks the "v" buffer`},
		{"missing param", mutate(func(s *OptimizerState) { delete(s.Buffers[BufM], "pa") }), "parameters"},
		{"renamed param", mutate(func(s *OptimizerState) { s.Buffers[BufM]["zz"] = s.Buffers[BufM]["pa"]; delete(s.Buffers[BufM], "pa") }), "lacks parameter pa"},
		{"wrong size", mutate(func(s *OptimizerState) { s.Buffers[BufV]["pb"] = make([]float32, 3) }), "has 3 values"},
		{"missing count", mutate(func(s *OptimizerState) { delete(s.Counts, "pa") }), "counts"},
		{"negative step", mutate(func(s *OptimizerState) { s.Step = -1 }), "negative"},
	} {
		fresh := optNew(t, OptimizerConfig{Name: "adam", LR: 0.1}, optCloneParams(ps)...)
		err := fresh.Restore(c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		if fresh.Steps() != 0 {
			t.Errorf("%s: a failed Restore changed the step count", c.name)
		}
	}
	if err := optNew(t, OptimizerConfig{Name: "adam", LR: 0.1}, optCloneParams(ps)...).Restore(good); err != nil {
		t.Fatal(err)
	}
	sgd := optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.5}, optCloneParams(ps)...)
	if err := optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1}, optCloneParams(ps)...).Restore(sgd.State()); err == nil {
		t.Error("plain SGD accepted a momentum state")
	}
}

func TestOptimStepErrors(t *testing.T) {
	w := []float32{1, 2}
	o := optNew(t, OptimizerConfig{Name: "sgd", LR: 0.1}, Param{"w", w})
	if _, _, err := o.Step(nil); err == nil || !strings.Contains(err.Error(), "0 gradients for 1") {
		t.Errorf("no gradients: %v", err)
	}
	if _, _, err := o.Step([][]float32{{1}}); err == nil || !strings.Contains(err.Error(), "gradient of w has 1 values") {
		t.Errorf("short gradient: %v", err)
	}
	if _, _, err := o.Step([][]float32{{float32(math.NaN()), 1}}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN gradient: %v", err)
	}
	if _, _, err := o.Step([][]float32{{float32(math.Inf(1)), 1}}); err == nil {
		t.Error("Inf gradient accepted")
	}
	if w[0] != 1 || w[1] != 2 || o.Steps() != 0 {
		t.Fatalf("a failed step changed things: w %v, steps %d", w, o.Steps())
	}
	if _, err := NewOptimizer(OptimizerConfig{Name: "sgd", LR: 1}, []Param{{"a", nil}, {"a", nil}}); err == nil {
		t.Error("duplicate parameter names accepted")
	}
	if _, err := NewOptimizer(OptimizerConfig{Name: "sgd", LR: 1}, []Param{{"", nil}}); err == nil {
		t.Error("empty parameter name accepted")
	}
}

// TestOptimParallelDeterministic checks that large parameters updated on
// many goroutines give the same bits as one goroutine.
func TestOptimParallelDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("large buffers")
	}
	sizes := []int{optParallelMin + 12345, 3*optChunk + 1, 17}
	for _, cfg := range optResumeConfigs {
		var results [][]Param
		var norms []float64
		for _, workers := range []int{1, 8} {
			ps := optParams(sizes...)
			o := optNew(t, cfg, ps...)
			o.workers = workers
			var ns []float64
			for s := range 3 {
				n, _ := optStepT(t, o, optRandGrads(rand.New(rand.NewPCG(uint64(s), 3)), ps, -1)...)
				ns = append(ns, n)
			}
			results = append(results, ps)
			norms = append(norms, ns...)
		}
		for i := range sizes {
			if !optSameBits(results[0][i].Data, results[1][i].Data) {
				t.Fatalf("%s: parameter %d differs between 1 and 8 workers", cfg.Name, i)
			}
		}
		for i := range 3 {
			if norms[i] != norms[3+i] {
				t.Fatalf("%s: step %d norm %v vs %v", cfg.Name, i, norms[i], norms[3+i])
			}
		}
	}
}

func TestOptimValidate(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		cfg  OptimizerConfig
		want string
	}{
		{OptimizerConfig{LR: 1}, "no optimizer"},
		{OptimizerConfig{Name: "rmsprop", LR: 1}, `unknown optimizer "rmsprop"`},
		{OptimizerConfig{Name: "sgd"}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: -1}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: nan}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: math.Inf(1)}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: 1, Momentum: -0.1}, "momentum"},
		{OptimizerConfig{Name: "sgd", LR: 1, Momentum: 1}, "momentum"},
		{OptimizerConfig{Name: "adam", LR: 1, Momentum: 0.9}, "momentum applies to sgd only"},
		{OptimizerConfig{Name: "sgd", LR: 1, WeightDecay: -1}, "weight decay"},
		{OptimizerConfig{Name: "adamw", LR: 1, WeightDecay: nan}, "weight decay"},
		{OptimizerConfig{Name: "adam", LR: 1, Beta1: 1}, "beta1"},
		{OptimizerConfig{Name: "adam", LR: 1, Beta1: -0.5}, "beta1"},
		{OptimizerConfig{Name: "adam", LR: 1, Beta2: 1.5}, "beta2"},
		{OptimizerConfig{Name: "adam", LR: 1, Eps: -1}, "eps"},
		{OptimizerConfig{Name: "sgd", LR: 1, WarmupSteps: -1}, "warm-up"},
		{OptimizerConfig{Name: "sgd", LR: 1, TotalSteps: -1}, "total steps"},
		{OptimizerConfig{Name: "sgd", LR: 1, MinLR: 2}, "min lr"},
		{OptimizerConfig{Name: "sgd", LR: 1, ClipNorm: -1}, "clip norm"},
		{OptimizerConfig{Name: "sgd", LR: 1, Schedule: "step"}, `unknown schedule "step"`},
		{OptimizerConfig{Name: "sgd", LR: 1, Schedule: "cosine"}, "cosine schedule needs total steps"},
		{OptimizerConfig{Name: "sgd", LR: 1, Schedule: "cosine", WarmupSteps: 10, TotalSteps: 10}, "cosine schedule needs total steps"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.cfg, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "optimizer: ") {
			t.Errorf("error not one line with prefix: %q", err)
		}
		if _, err := NewOptimizer(c.cfg, nil); err == nil {
			t.Errorf("%+v: NewOptimizer accepted it", c.cfg)
		}
	}
	for _, cfg := range []OptimizerConfig{
		{Name: "sgd", LR: 1},
		{Name: "sgd", LR: 1, Momentum: 0.9, WeightDecay: 1e-4, Schedule: "constant"},
		{Name: "adam", LR: 1e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, ClipNorm: 1},
		{Name: "adamw", LR: 1e-3, Schedule: "cosine", WarmupSteps: 10, TotalSteps: 11, MinLR: 1e-5},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
