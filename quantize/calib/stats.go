package calib

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/infer-ml/infer/pkg/atomicfile"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// FormatVersion is the version of the statistics file format that Save
// writes and Load reads.
const FormatVersion = 1

// Stats are the calibration statistics of one model: per-tensor running
// minimum, maximum and count, and histograms when collected for percentile
// or entropy. They are JSON as Save writes them.
type Stats struct {
	Version int `json:"version"`
	// Fingerprint identifies the model's structure (see Fingerprint).
	Fingerprint string `json:"fingerprint"`
	// Config is the configuration the statistics were collected with;
	// Config.Bins is the histogram bin count, 0 when there are no
	// histograms (minmax).
	Config Config `json:"config"`
	// Samples counts the calibration samples seen.
	Samples int64 `json:"samples"`
	// Tensors maps each calibrated tensor name to its statistics.
	Tensors map[string]*TensorStats `json:"tensors"`

	files []string // the files these statistics were loaded from
}

// TensorStats are the statistics of one tensor.
type TensorStats struct {
	// Count is the number of finite values seen.
	Count int64 `json:"count"`
	// NonFinite counts NaN and ±Inf values, which are left out of
	// everything else.
	NonFinite int64 `json:"non_finite,omitempty"`
	// Min and Max are the extreme finite values (0 while Count is 0).
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Histogram is present when the statistics have histograms.
	Histogram *Histogram `json:"histogram,omitempty"`
}

func newTensorStats(bins int) *TensorStats {
	t := &TensorStats{}
	if bins > 0 {
		t.Histogram = newHistogram(bins)
	}
	return t
}

func (t *TensorStats) absmax() float64 { return math.Max(-t.Min, t.Max) }

// observe folds values into the statistics.
func observe[T float32 | float64](t *TensorStats, vals []T) {
	lo, hi := math.Inf(1), math.Inf(-1)
	var n int64
	for _, v := range vals {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.NonFinite++
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
		n++
	}
	if n == 0 {
		return
	}
	if t.Count == 0 {
		t.Min, t.Max = lo, hi
	} else {
		t.Min, t.Max = min(t.Min, lo), max(t.Max, hi)
	}
	t.Count += n
	if h := t.Histogram; h != nil {
		h.widen(rangeFor(t.absmax()))
		histAdd(h, vals)
	}
}

// merge adds o's statistics; histograms must both be present or both
// absent (Stats.Merge checks).
func (t *TensorStats) merge(o *TensorStats) {
	if o.Count > 0 {
		if t.Count == 0 {
			t.Min, t.Max = o.Min, o.Max
		} else {
			t.Min, t.Max = min(t.Min, o.Min), max(t.Max, o.Max)
		}
	}
	t.Count += o.Count
	t.NonFinite += o.NonFinite
	if t.Histogram != nil && o.Histogram != nil {
		t.Histogram.merge(o.Histogram)
	}
}

func (t *TensorStats) clone() *TensorStats {
	c := *t
	if t.Histogram != nil {
		c.Histogram = t.Histogram.clone()
	}
	return &c
}

func (t *TensorStats) check(bins int) error {
	switch {
	case t.Count < 0 || t.NonFinite < 0:
		return errors.New("negative count")
	case math.IsNaN(t.Min) || math.IsNaN(t.Max) || math.IsInf(t.Min, 0) || math.IsInf(t.Max, 0):
		return fmt.Errorf("range [%g, %g] is not finite", t.Min, t.Max)
	case t.Count > 0 && t.Min > t.Max:
		return fmt.Errorf("minimum %g is above maximum %g", t.Min, t.Max)
	case bins > 0 && t.Histogram == nil:
		return errors.New("histogram is missing")
	case bins == 0 && t.Histogram != nil:
		return errors.New("has a histogram, but the file's config has no bin count")
	case t.Histogram != nil:
		return t.Histogram.check(bins, t.Count, t.absmax())
	}
	return nil
}

// hasHistograms reports whether the statistics carry histograms.
func (s *Stats) hasHistograms() bool { return s.Config.Bins > 0 }

// check returns an error naming what is inconsistent in s.
func (s *Stats) check() error {
	if s.Version != FormatVersion {
		return fmt.Errorf("format version %d is not supported (this infer reads version %d)", s.Version, FormatVersion)
	}
	if s.Fingerprint == "" {
		return errors.New("model fingerprint is missing")
	}
	if s.Samples < 0 {
		return fmt.Errorf("sample count %d is negative", s.Samples)
	}
	if _, err := ParseMethod(string(s.Config.Method)); err != nil {
		return err
	}
	if s.Config.Bins != 0 {
		if err := checkBins(s.Config.Bins); err != nil {
			return err
		}
	}
	for _, name := range s.names() {
		t := s.Tensors[name]
		if t == nil {
			return fmt.Errorf("tensor %q has no statistics", name)
		}
		if err := t.check(s.Config.Bins); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	return nil
}

// names returns the tensor names in sorted order.
func (s *Stats) names() []string {
	names := make([]string, 0, len(s.Tensors))
	for n := range s.Tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (s *Stats) isEmpty() bool {
	return s.Fingerprint == "" && len(s.Tensors) == 0 && s.Samples == 0
}

// short abbreviates a fingerprint for messages.
func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12] + "…"
	}
	return fp
}

// Merge adds o's statistics to s, as if s had also seen o's samples:
// counts and samples add, minima and maxima combine, and histograms are
// re-binned onto the wider range and the coarser bin count (exactly; see
// the package comment). Tensors in only one of them are kept. A zero Stats
// takes a copy of o. It returns an error, changing nothing, when the
// statistics are of different models, when one has histograms and the
// other does not, or when either is inconsistent.
func (s *Stats) Merge(o *Stats) error {
	if o == nil {
		return errors.New("merge calibration statistics: nothing to merge")
	}
	if err := o.check(); err != nil {
		return fmt.Errorf("merge calibration statistics: %w", err)
	}
	if s.isEmpty() {
		*s = *o.clone()
		return nil
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("merge calibration statistics: %w", err)
	}
	if s.Fingerprint != o.Fingerprint {
		return fmt.Errorf("merge calibration statistics: they were made for different models (fingerprints %s and %s)", short(s.Fingerprint), short(o.Fingerprint))
	}
	if s.hasHistograms() != o.hasHistograms() {
		return fmt.Errorf("merge calibration statistics: one was collected with histograms (%s) and the other without (%s); collect both with the same method",
			s.histMethod(o), s.plainMethod(o))
	}
	if s.hasHistograms() {
		s.Config.Bins = min(s.Config.Bins, o.Config.Bins)
	}
	if s.Tensors == nil {
		s.Tensors = map[string]*TensorStats{}
	}
	for name, ot := range o.Tensors {
		if t, ok := s.Tensors[name]; ok {
			t.merge(ot)
			continue
		}
		c := ot.clone()
		if c.Histogram != nil {
			c.Histogram.coarsen(s.Config.Bins)
		}
		s.Tensors[name] = c
	}
	for _, t := range s.Tensors {
		if t.Histogram != nil {
			t.Histogram.coarsen(s.Config.Bins)
		}
	}
	s.Samples += o.Samples
	s.files = append(s.files, o.files...)
	return nil
}

func (s *Stats) histMethod(o *Stats) Method {
	if s.hasHistograms() {
		return s.Config.Method
	}
	return o.Config.Method
}

func (s *Stats) plainMethod(o *Stats) Method {
	if s.hasHistograms() {
		return o.Config.Method
	}
	return s.Config.Method
}

func (s *Stats) clone() *Stats {
	c := *s
	c.Tensors = make(map[string]*TensorStats, len(s.Tensors))
	for n, t := range s.Tensors {
		c.Tensors[n] = t.clone()
	}
	c.files = slices.Clone(s.files)
	return &c
}

// CheckModel returns an error unless the statistics were collected on a
// model with m's structure. The error is one line naming the file(s) the
// statistics came from and both fingerprints.
func (s *Stats) CheckModel(m *onnxpb.ModelProto) error {
	fp := Fingerprint(m)
	if s.Fingerprint == fp {
		return nil
	}
	what := "calibration statistics were"
	switch len(s.files) {
	case 0:
	case 1:
		what = "calibration file " + s.files[0] + " was"
	default:
		what = "calibration files " + strings.Join(s.files, ", ") + " were"
	}
	return fmt.Errorf("%s made for another model (fingerprint %s, this model %s)", what, short(s.Fingerprint), short(fp))
}

// Save writes the statistics to path as JSON, atomically (a temporary file
// then a rename). It returns an error naming path when the statistics are
// inconsistent or the file cannot be written.
func (s *Stats) Save(path string, replace bool) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("save calibration file %s: %w", path, err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save calibration file %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), replace); err != nil {
		return fmt.Errorf("save calibration file %s: %w", path, err)
	}
	return nil
}

// Load reads statistics that Save wrote. It returns an error naming path
// when the file cannot be read, is not JSON of this format, or is
// inconsistent (wrong version, bad bin counts, histograms that do not
// match their counts or range).
func Load(path string) (*Stats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calibration file %s: %w", path, unwrapPath(err))
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("calibration file %s: not calibration statistics: %w", path, err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("calibration file %s: %w", path, err)
	}
	if s.Tensors == nil {
		s.Tensors = map[string]*TensorStats{}
	}
	s.files = []string{path}
	return &s, nil
}

// unwrapPath drops the *os.PathError wrapper, whose message repeats the
// path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadAll loads each file and merges them (see Merge). It returns an error
// naming the file when one cannot be loaded or was made for another model
// than the first.
func LoadAll(paths ...string) (*Stats, error) {
	if len(paths) == 0 {
		return nil, errors.New("no calibration files given")
	}
	var all *Stats
	for _, p := range paths {
		s, err := Load(p)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = s
			continue
		}
		if s.Fingerprint != all.Fingerprint {
			return nil, fmt.Errorf("calibration file %s was made for another model than %s (fingerprint %s, %s has %s)",
				p, paths[0], short(s.Fingerprint), paths[0], short(all.Fingerprint))
		}
		if err := all.Merge(s); err != nil {
			return nil, fmt.Errorf("calibration file %s: %w", p, err)
		}
	}
	return all, nil
}
