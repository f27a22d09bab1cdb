package eval

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Options control a comparison.
type Options struct {
	// Outputs to compare; empty means every tensor output both models have.
	Outputs []string
	// Progress receives one unit per sample; nil means none.
	Progress progress.Reporter
}

// Result holds per-output statistics, in the reference's output order.
type Result struct {
	Samples int            `json:"samples"`
	Outputs []*OutputStats `json:"outputs"`
}

// Output returns the statistics of the named output, or nil.
func (r *Result) Output(name string) *OutputStats {
	for _, o := range r.Outputs {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Primary returns the output used for single-number summaries: the first
// classified output, else the first output.
func (r *Result) Primary() *OutputStats {
	for _, o := range r.Outputs {
		if o.Classified {
			return o
		}
	}
	if len(r.Outputs) > 0 {
		return r.Outputs[0]
	}
	return nil
}

// Evaluate runs one model over src and scores its outputs against the
// labels (when the data has them). Agreement and error numbers are
// trivially perfect and should be ignored.
func Evaluate(s *ort.Session, src dataset.Source, opts Options) (*Result, error) {
	return run(s, nil, src, opts)
}

// Compare runs ref and cand on the same batches from src and compares
// their outputs. It returns an error if an output named in opts is missing
// from either model or their shapes differ.
func Compare(ref, cand *ort.Session, src dataset.Source, opts Options) (*Result, error) {
	return run(ref, cand, src, opts)
}

func run(ref, cand *ort.Session, src dataset.Source, opts Options) (*Result, error) {
	names, err := outputNames(ref, cand, opts.Outputs)
	if err != nil {
		return nil, err
	}
	p := opts.Progress
	if p == nil {
		p = progress.Nop
	}
	res := &Result{}
	stats := map[string]*OutputStats{}
	for _, n := range names {
		st := &OutputStats{Name: n}
		stats[n] = st
		res.Outputs = append(res.Outputs, st)
	}
	p.Start("evaluating", int64(src.Len()), progress.Samples)
	defer p.Done()
	for {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		ro, err := ref.Run(b.Inputs)
		if err != nil {
			return nil, fmt.Errorf("reference model on samples %d..%d: %w", b.Index, b.Index+b.N-1, err)
		}
		co := ro
		if cand != nil {
			if co, err = cand.Run(b.Inputs); err != nil {
				return nil, fmt.Errorf("candidate model on samples %d..%d: %w", b.Index, b.Index+b.N-1, err)
			}
		}
		for _, n := range names {
			if err := stats[n].compare(ro[n], co[n], b.N, b.Labels); err != nil {
				if le := (*LabelError)(nil); errors.As(err, &le) {
					le.Where = b.LabelSource(le.Sample)
				}
				return nil, err
			}
		}
		res.Samples += b.N
		p.Add(int64(b.N))
	}
	if res.Samples == 0 {
		return nil, fmt.Errorf("the data has no samples")
	}
	return res, nil
}

// compare adds one batch of n samples of the output to s.
func (s *OutputStats) compare(r, c *tensor.Tensor, n int, labels []int64) error {
	if r == nil || c == nil {
		return fmt.Errorf("output %q missing from a run", s.Name)
	}
	if !slices.Equal(r.Shape(), c.Shape()) {
		return fmt.Errorf("output %q: reference shape %v, candidate shape %v", s.Name, r.Shape(), c.Shape())
	}
	rv, err := tensor.AsFloat64(r)
	if err != nil {
		return fmt.Errorf("output %q: %w", s.Name, err)
	}
	cv := rv
	if c != r {
		if cv, err = tensor.AsFloat64(c); err != nil {
			return fmt.Errorf("output %q: %w", s.Name, err)
		}
	}
	classes := 0
	if sh := r.Shape(); len(sh) >= 2 {
		classes = int(sh[len(sh)-1])
	}
	samples := n
	if len(r.Shape()) == 0 || r.Shape()[0] != int64(n) {
		// Not batch-major (e.g. a GRU state [layers, N, H]): compare
		// as one sample.
		samples, classes = 1, 0
	}
	if samples != n {
		labels = nil
	}
	return s.Add(rv, cv, samples, classes, labels)
}

func outputNames(ref, cand *ort.Session, want []string) ([]string, error) {
	has := func(s *ort.Session, n string) bool {
		for _, o := range s.Outputs() {
			if o.Name == n {
				return true
			}
		}
		return false
	}
	if len(want) > 0 {
		for _, n := range want {
			if !has(ref, n) {
				return nil, fmt.Errorf("output %q is not an output of the reference model", n)
			}
			if cand != nil && !has(cand, n) {
				return nil, fmt.Errorf("output %q is not an output of the candidate model", n)
			}
		}
		return want, nil
	}
	var names, missing []string
	for _, o := range ref.Outputs() {
		if cand == nil || has(cand, o.Name) {
			names = append(names, o.Name)
		} else {
			missing = append(missing, o.Name)
		}
	}
	if len(names) == 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the models share no output name (reference outputs: %v)", missing)
	}
	return names, nil
}
