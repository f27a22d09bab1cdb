package bench

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infer-ml/infer/internal/timing"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Model is a loaded model to benchmark.
type Model struct {
	Path  string
	Model *onnx.Model
}

// Config says what to measure. Run fills defaults for zero fields.
type Config struct {
	Models []Model
	// Providers holds one --ep value per entry; an entry with commas is an
	// ordered fallback list. Default: cpu.
	Providers       []string
	ProviderOptions []string
	// Batches are the batch sizes to measure (default: each model's fixed
	// batch size, else 1).
	Batches []int
	// Data is a dataset spec; "" or "random" uses seeded random inputs,
	// at Shapes where given, else at realistic sizes the model runs at
	// (probe.Find), with Values for inputs random data cannot invent.
	Data   string
	Shapes map[string][]int64
	Values map[string]float64
	Seed   int64
	// Iterations to measure; when 0, run for Duration (default 10s).
	Iterations int
	Duration   time.Duration
	// WarmupRuns or WarmupDuration (one of them) before measuring;
	// default 10 runs.
	WarmupRuns     int
	WarmupDuration time.Duration
	IntraOpThreads int
	InterOpThreads int
	OptLevel       ort.OptLevel
	Scenario       Scenario
	// Concurrency is the number of streams (throughput) or workers
	// (server); default 1.
	Concurrency int
	// Rate is the server scenario's mean arrival rate, requests/s.
	Rate        float64
	Percentiles []float64
	Progress    progress.Reporter
	// Log receives one line per provider that did not start (nil: none).
	Log io.Writer
}

// MaxRate is the highest server-scenario arrival rate, requests per
// second: a mean gap of minGap, about the finest an arrival loop that
// sleeps between requests can keep to. Faster rates had gaps that round to
// 0 ns and a run that never ended.
const MaxRate = float64(time.Second / minGap)

const minGap = time.Microsecond

// RateLimits says which arrival rates the server scenario takes.
var RateLimits = fmt.Sprintf("want more than 0 and at most %g requests per second (a mean gap of %v between arrivals)", MaxRate, minGap)

// RateError is a server-scenario arrival rate outside (0, MaxRate].
type RateError struct{ Rate float64 }

func (e *RateError) Error() string { return fmt.Sprintf("rate %g: %s", e.Rate, RateLimits) }

// Settings that contradict each other, as Normalize returns them.
var (
	ErrLatencyConcurrency = errors.New("the latency scenario runs one stream; the throughput and server scenarios run several")
	ErrNoRate             = errors.New("the server scenario needs an arrival rate (requests per second)")
	ErrRateNotServer      = errors.New("an arrival rate applies to the server scenario only")
)

// DefaultPercentiles are reported when none are asked for.
var DefaultPercentiles = []float64{50, 90, 95, 99, 99.9}

// Normalize fills defaults and checks the settings (not the models); it
// returns an error naming the contradiction. Run calls it.
func (c *Config) Normalize() error {
	if len(c.Providers) == 0 {
		c.Providers = []string{ort.CPU}
	}
	for _, b := range c.Batches {
		if b < 1 {
			return fmt.Errorf("batch size %d: must be at least 1", b)
		}
	}
	if c.Iterations < 0 || c.Duration < 0 || c.WarmupRuns < 0 || c.WarmupDuration < 0 {
		return errors.New("iterations, duration and warm-up must not be negative")
	}
	if c.Iterations == 0 && c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.WarmupRuns == 0 && c.WarmupDuration == 0 {
		c.WarmupRuns = 10
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency)
	}
	switch c.Scenario {
	case "":
		c.Scenario = Latency
		if c.Concurrency > 1 {
			c.Scenario = Throughput
		}
	case Latency:
		if c.Concurrency > 1 {
			return ErrLatencyConcurrency
		}
	case Throughput:
	case Server:
		if c.Rate == 0 {
			return ErrNoRate
		}
		if !(c.Rate > 0 && c.Rate <= MaxRate) {
			return &RateError{Rate: c.Rate}
		}
	default:
		return fmt.Errorf("unknown scenario %q (want latency, throughput or server)", c.Scenario)
	}
	if c.Rate != 0 && c.Scenario != Server {
		return ErrRateNotServer
	}
	if len(c.Percentiles) == 0 {
		c.Percentiles = DefaultPercentiles
	}
	if c.Progress == nil {
		c.Progress = progress.Nop
	}
	if c.Data == "" {
		c.Data = "random"
	}
	return nil
}

// Run measures every model × provider × batch size and returns the report
// (without gates applied). A provider list whose providers all fail to
// start is an error naming each reason.
func Run(cfg Config) (*Report, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if len(cfg.Models) == 0 {
		return nil, errors.New("no model to benchmark")
	}
	rep := &Report{
		ORTVersion:  "",
		Date:        time.Now().UTC().Format(time.RFC3339),
		Host:        host(),
		Percentiles: cfg.Percentiles,
		Regressions: []Regression{},
	}
	if info, ok := ort.Loaded(); ok {
		rep.ORTVersion = info.Version
	}
	shapes := make([]map[string][]int64, len(cfg.Models))
	for i, m := range cfg.Models {
		var err error
		if shapes[i], err = inputShapes(&cfg, m); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
	}
	for _, ep := range cfg.Providers {
		providers, err := ort.ParseProviders(ep, ort.OptionsFor(ep, cfg.ProviderOptions))
		if err != nil {
			return nil, err
		}
		startRuntime(sessionOptions(&cfg, providers))
		for i, m := range cfg.Models {
			batches := cfg.Batches
			if len(batches) == 0 {
				batches = []int{max(dataset.LayoutOf(dataset.SpecsFromGraph(m.Model.Proto.GetGraph())).Fixed, 1)}
			}
			for _, b := range batches {
				r, err := measure(&cfg, m, shapes[i], ep, providers, b)
				if err != nil {
					return nil, fmt.Errorf("%s on %s, batch %d: %w", m.Path, ep, b, err)
				}
				rep.Results = append(rep.Results, *r)
			}
		}
	}
	addSpeedups(rep.Results)
	return rep, nil
}

func measure(cfg *Config, m Model, shapes map[string][]int64, ep string, providers []ort.Provider, batch int) (*Result, error) {
	inputs, err := makeInputs(cfg, m, shapes, batch)
	if err != nil {
		return nil, err
	}
	r := &Result{
		Model: m.Path, ModelBytes: m.Model.FileBytes + m.Model.ExternalBytes,
		Provider: ep, Batch: batch, Scenario: cfg.Scenario, Concurrency: cfg.Concurrency,
		RateTarget: cfg.Rate,
	}
	opts := sessionOptions(cfg, providers)
	rss := startRSS()
	start := time.Now()
	var s *ort.Session
	if len(m.Model.ExternalFiles) > 0 {
		s, err = ort.NewSessionFromFile(m.Path, opts)
	} else {
		s, err = ort.NewSessionFromModel(m.Model.Proto, opts)
	}
	r.SessionCreateMS = timing.MS(time.Since(start))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r.ProviderRan = s.Provider.Name
	for _, sk := range s.Skipped {
		r.ProvidersSkipped = append(r.ProvidersSkipped, sk.Provider.Name+": "+sk.Reason)
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "infer: bench: provider %s did not start (%s); running on %s\n", sk.Provider.Name, sk.Reason, s.Provider.Name)
		}
	}
	streams := 1
	if cfg.Scenario != Latency {
		streams = cfg.Concurrency
	}
	preps := make([]*ort.Prepared, streams)
	defer func() {
		for _, p := range preps {
			if p != nil {
				p.Close()
			}
		}
	}()
	for i := range preps {
		if preps[i], err = s.Prepare(inputs); err != nil {
			return nil, err
		}
	}
	r.FirstRunMS = timing.MS(preps[0].FirstRun)
	var runTime time.Duration
	if r.WarmupRuns, runTime, err = warmup(cfg, preps); err != nil {
		return nil, err
	}
	label := fmt.Sprintf("%s %s b%d", filepath.Base(m.Path), s.Provider.Name, batch)
	switch cfg.Scenario {
	case Server:
		err = runServer(cfg, preps, r, label, queueLimit(cfg.Rate, runTime))
	default:
		err = runStreams(cfg, preps, r, label)
	}
	if err != nil {
		return nil, err
	}
	r.PeakRSSGrowthBytes = rss.growth()
	r.Latency = Summarize(r.Samples, cfg.Percentiles)
	r.Iterations = len(r.Samples)
	if r.WallSeconds > 0 {
		r.RunsPerSec = float64(r.Iterations) / r.WallSeconds
		r.SamplesPerSec = r.RunsPerSec * float64(batch)
	}
	return r, nil
}

// sessionOptions are the session options of every measurement on
// providers.
func sessionOptions(cfg *Config, providers []ort.Provider) ort.Options {
	return ort.Options{Providers: providers, IntraOpThreads: cfg.IntraOpThreads, InterOpThreads: cfg.InterOpThreads, OptLevel: cfg.OptLevel}
}

// inputShapes are the shapes m's random inputs take: the user's, else
// realistic sizes the model runs at, found once per model (the batch axis
// follows each measured batch size).
func inputShapes(cfg *Config, m Model) (map[string][]int64, error) {
	if cfg.Data != "random" {
		return cfg.Shapes, nil
	}
	found, err := probe.Find(m.Model.Proto, probe.Options{User: cfg.Shapes, Values: cfg.Values, Seed: cfg.Seed})
	var re *probe.RunError
	var ie *probe.InputError
	switch {
	case errors.As(err, &re), errors.As(err, &ie):
		return nil, err
	case err == nil:
		return found.A, nil
	}
	return cfg.Shapes, nil // ONNX Runtime's own error comes with the session
}

// makeInputs takes the first batch of the data at the requested size.
func makeInputs(cfg *Config, m Model, shapes map[string][]int64, batch int) (map[string]*tensor.Tensor, error) {
	specs := dataset.SpecsFromGraph(m.Model.Proto.GetGraph())
	src, err := dataset.Open(cfg.Data, specs, dataset.Options{BatchSize: batch, Limit: batch, Shapes: shapes, Values: cfg.Values, Seed: cfg.Seed, RandomSamples: batch})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	b, err := src.Next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data %s has fewer than %d samples", cfg.Data, batch)
	}
	if err != nil {
		return nil, err
	}
	if b.N != batch && len(specs) > 0 {
		return nil, fmt.Errorf("data %s gave a batch of %d samples, not %d", cfg.Data, b.N, batch)
	}
	return b.Inputs, nil
}

// warmup runs every prepared stream until the warm-up count or duration
// is reached; it returns the number of rounds and the mean time of one run
// (the first run's when there was no warm-up).
func warmup(cfg *Config, preps []*ort.Prepared) (int, time.Duration, error) {
	runs := 0
	start := time.Now()
	deadline := start.Add(cfg.WarmupDuration)
	for {
		if cfg.WarmupDuration > 0 {
			if !time.Now().Before(deadline) {
				break
			}
		} else if runs >= cfg.WarmupRuns {
			break
		}
		for _, p := range preps {
			if err := p.Run(); err != nil {
				return runs, 0, err
			}
		}
		runs++
	}
	if runs == 0 {
		return 0, preps[0].FirstRun, nil
	}
	return runs, time.Since(start) / time.Duration(runs*len(preps)), nil
}

// runStreams runs len(preps) streams back to back (one stream is the
// latency scenario) until the iteration count or the duration is reached.
// It is its own loop, not timing.Runs: a run may end at a deadline rather
// than a count, streams share one count, warm-up is done for all streams
// beforehand (possibly by duration), and each run ticks the progress bar.
// Its p50 is the same value as timing.Median (nearest rank).
func runStreams(cfg *Config, preps []*ort.Prepared, r *Result, label string) error {
	total := int64(cfg.Iterations)
	if total > 0 {
		cfg.Progress.Start(label, total, progress.Runs)
	} else {
		cfg.Progress.Start(label, int64(cfg.Duration/time.Second), progress.Seconds)
	}
	defer cfg.Progress.Done()
	var issued atomic.Int64
	samples := make([][]float64, len(preps))
	errs := make([]error, len(preps))
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	stop := make(chan struct{})
	if total == 0 {
		go tickSeconds(cfg.Progress, stop)
	}
	for i, p := range preps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]float64, 0, 1024)
			for {
				if total > 0 {
					if issued.Add(1) > total {
						break
					}
				} else if !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				err := p.Run()
				d := time.Since(t0)
				if err != nil {
					errs[i] = err
					return
				}
				own = append(own, timing.MS(d))
				if total > 0 {
					cfg.Progress.Add(1)
				}
			}
			samples[i] = own
		}()
	}
	wg.Wait()
	close(stop)
	r.WallSeconds = time.Since(start).Seconds()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	for _, s := range samples {
		r.Samples = append(r.Samples, s...)
	}
	if len(r.Samples) == 0 {
		return errors.New("no run completed")
	}
	return nil
}

func tickSeconds(p progress.Reporter, stop chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.Add(1)
		}
	}
}

// Bounds of the server scenario's queue, in requests.
const (
	minQueue = 1024
	maxQueue = 1 << 20
)

// queueLimit is how many requests the server scenario queues: those that
// arrive in ten run times at rate, at least minQueue and at most maxQueue.
// A request arriving at a full queue is dropped, as a loaded server sheds
// it, so a rate the model cannot serve costs no memory.
func queueLimit(rate float64, runTime time.Duration) int {
	n := 10 * rate * runTime.Seconds()
	return int(min(max(n, minQueue), maxQueue))
}

// runServer issues requests at Poisson arrival times and serves them with
// len(preps) workers through a queue of limit requests; requests that
// find it full, or are still queued when the run ends, are counted in
// r.Dropped. Each latency is measured from the request's scheduled
// arrival, so queueing delay is included. With a duration the run ends
// then: no request arrives and no run starts after it, and only the runs
// in flight (one per worker; ONNX Runtime cannot interrupt one) are
// waited for.
func runServer(cfg *Config, preps []*ort.Prepared, r *Result, label string, limit int) error {
	if cfg.Iterations > 0 {
		cfg.Progress.Start(label, int64(cfg.Iterations), progress.Requests)
	} else {
		cfg.Progress.Start(label, int64(cfg.Duration/time.Second), progress.Seconds)
	}
	defer cfg.Progress.Done()
	queue := make(chan time.Time, limit) // each request's scheduled arrival
	srv := &server{preps: preps, samples: make([][]float64, len(preps)), errs: make([]error, len(preps)), progress: cfg.Progress}
	srv.start = time.Now()
	if cfg.Iterations == 0 {
		srv.deadline = srv.start.Add(cfg.Duration)
		stop := make(chan struct{})
		defer close(stop)
		go tickSeconds(cfg.Progress, stop)
	}
	var wg sync.WaitGroup
	for i := range preps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.work(i, queue)
		}()
	}
	issued := srv.arrive(cfg, queue)
	close(queue)
	wg.Wait()
	for _, e := range srv.errs {
		if e != nil {
			return e
		}
	}
	if issued == 0 {
		return fmt.Errorf("no request arrives within %v at %g/s", cfg.Duration, cfg.Rate)
	}
	for _, s := range srv.samples {
		r.Samples = append(r.Samples, s...)
	}
	r.Dropped = srv.dropped.Load()
	if len(r.Samples) == 0 {
		return fmt.Errorf("no request completed within %v at %g/s (%d dropped)", cfg.Duration, cfg.Rate, r.Dropped)
	}
	r.WallSeconds = time.Duration(srv.last.Load()).Seconds()
	if r.WallSeconds > 0 {
		r.RateAchieved = float64(len(r.Samples)) / r.WallSeconds
	}
	return nil
}

// server is the state runServer's arrival loop and workers share.
type server struct {
	preps    []*ort.Prepared
	progress progress.Reporter
	start    time.Time
	deadline time.Time // zero: none (a run of Iterations requests)
	samples  [][]float64
	errs     []error
	failed   atomic.Bool
	dropped  atomic.Int64
	last     atomic.Int64 // completion time of the last request, ns since start
}

// over reports whether the run's deadline has passed.
func (s *server) over() bool {
	return !s.deadline.IsZero() && !time.Now().Before(s.deadline)
}

// arrive puts requests on queue at Poisson arrival times until the
// iteration count, the duration or a worker's error ends the run, and
// returns how many arrived. It never blocks on a full queue.
func (s *server) arrive(cfg *Config, queue chan<- time.Time) int {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5e4e5))
	issued := 0
	var at time.Duration
	for !s.failed.Load() {
		at += time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second))
		if cfg.Iterations > 0 && issued >= cfg.Iterations || cfg.Iterations == 0 && at > cfg.Duration {
			break
		}
		due := s.start.Add(at)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if s.over() {
			break
		}
		issued++
		select {
		case queue <- due:
		default:
			s.dropped.Add(1)
		}
	}
	return issued
}

// work serves requests from queue with worker i's prepared run until the
// queue closes; past the deadline it drops what is left.
func (s *server) work(i int, queue <-chan time.Time) {
	p := s.preps[i]
	own := make([]float64, 0, 1024)
	for due := range queue {
		if s.failed.Load() || s.over() {
			s.dropped.Add(1)
			continue
		}
		if err := p.Run(); err != nil {
			s.errs[i] = err
			s.failed.Store(true)
			continue
		}
		done := time.Now()
		own = append(own, timing.MS(done.Sub(due)))
		for {
			cur := s.last.Load()
			d := int64(done.Sub(s.start))
			if d <= cur || s.last.CompareAndSwap(cur, d) {
				break
			}
		}
		if s.deadline.IsZero() { // else the progress bar ticks seconds
			s.progress.Add(1)
		}
	}
	s.samples[i] = own
}

// addSpeedups compares each result with the first model's result for the
// same provider list, batch and scenario.
func addSpeedups(rs []Result) {
	if len(rs) == 0 {
		return
	}
	first := rs[0].Model
	for i := range rs {
		if rs[i].Model == first {
			continue
		}
		for j := range rs {
			b := &rs[j]
			if b.Model != first || b.Provider != rs[i].Provider || b.Batch != rs[i].Batch || b.Scenario != rs[i].Scenario {
				continue
			}
			if p, bp := rs[i].Latency.Percentiles["p50"], b.Latency.Percentiles["p50"]; p > 0 && bp > 0 {
				v := bp / p
				rs[i].SpeedupP50 = &v
			}
			if b.SamplesPerSec > 0 {
				v := rs[i].SamplesPerSec / b.SamplesPerSec
				rs[i].SpeedupThroughput = &v
			}
		}
	}
}

func host() Host {
	h := Host{OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					h.CPU = strings.TrimSpace(v)
					break
				}
			}
		}
	}
	return h
}
