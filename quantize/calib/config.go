package calib

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Method is a way of turning activation statistics into a range.
type Method string

// Calibration methods.
const (
	// MinMax uses the observed minimum and maximum.
	MinMax Method = "minmax"
	// Percentile clips a small fraction of the most extreme values.
	Percentile Method = "percentile"
	// Entropy picks the clipping threshold that minimises the KL
	// divergence between the float and the int8 distributions.
	Entropy Method = "entropy"
)

// ParseMethod accepts minmax, percentile or entropy, in any case; "" means
// minmax.
func ParseMethod(s string) (Method, error) {
	switch m := Method(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return MinMax, nil
	case MinMax, Percentile, Entropy:
		return m, nil
	}
	return "", fmt.Errorf("unknown calibration method %q (want minmax, percentile or entropy)", s)
}

// needsHistogram reports whether the method reads ranges from histograms.
func (m Method) needsHistogram() bool { return m == Percentile || m == Entropy }

// Defaults and limits of Config.
const (
	DefaultBins       = 2048
	DefaultPercentile = 99.999
	// MinBins keeps at least 128 bins on each side of zero, the number of
	// levels the entropy search quantizes to.
	MinBins = 256
	// MaxBins bounds the size of statistics files and the cost of the
	// entropy search.
	MaxBins = 1 << 16
)

// Config chooses a calibration method and its parameters. Zero fields take
// the defaults: minmax, DefaultPercentile, DefaultBins.
type Config struct {
	Method Method `json:"method"`
	// Percentile is the percentage of values the percentile range keeps
	// (e.g. 99.999); it must be in (0, 100].
	Percentile float64 `json:"percentile,omitempty"`
	// Bins is the number of histogram bins over [-R, R]: a power of two
	// from MinBins to MaxBins. Only percentile and entropy collect
	// histograms.
	Bins int `json:"bins,omitempty"`
	// Symmetric makes percentile and entropy ranges symmetric around 0
	// (for symmetric int8); otherwise they are clamped to the observed
	// minimum and maximum.
	Symmetric bool `json:"symmetric,omitempty"`
}

// withDefaults fills zero fields and returns an error naming the field
// that is out of range.
func (c Config) withDefaults() (Config, error) {
	m, err := ParseMethod(string(c.Method))
	if err != nil {
		return c, err
	}
	c.Method = m
	if c.Percentile == 0 {
		c.Percentile = DefaultPercentile
	}
	if math.IsNaN(c.Percentile) || c.Percentile <= 0 || c.Percentile > 100 {
		return c, fmt.Errorf("calibration percentile %v is not in (0, 100]", c.Percentile)
	}
	if c.Bins == 0 {
		c.Bins = DefaultBins
	}
	if err := checkBins(c.Bins); err != nil {
		return c, err
	}
	return c, nil
}

func checkBins(n int) error {
	if n < MinBins || n > MaxBins || bits.OnesCount(uint(n)) != 1 {
		return fmt.Errorf("histogram bin count %d is not a power of two from %d to %d", n, MinBins, MaxBins)
	}
	return nil
}
