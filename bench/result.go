package bench

import "github.com/infer-ml/infer/pkg/report"

// Scenario is how requests are issued.
type Scenario string

// Scenarios.
const (
	// Latency: one stream, one request at a time.
	Latency Scenario = "latency"
	// Throughput: Concurrency streams on one session, back to back.
	Throughput Scenario = "throughput"
	// Server: requests arrive as a Poisson process at Rate per second and
	// are served by Concurrency workers.
	Server Scenario = "server"
)

// Stats summarises latency samples in milliseconds.
type Stats struct {
	Count  int     `json:"count"`
	Min    float64 `json:"min"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"` // sample standard deviation (n−1)
	Max    float64 `json:"max"`
	// Percentiles maps "p50", "p99", "p99.9", ... to the nearest-rank
	// percentile.
	Percentiles map[string]float64 `json:"percentiles"`
}

// Result is one model × provider × batch size measurement.
type Result struct {
	Model      string `json:"model"`
	ModelBytes int64  `json:"model_bytes"` // model file plus external data
	// Provider is what was asked for ("tensorrt,cuda,cpu"); ProviderRan is
	// the one that started; ProvidersSkipped says why the others did not.
	Provider         string   `json:"provider"`
	ProviderRan      string   `json:"provider_ran"`
	ProvidersSkipped []string `json:"providers_skipped,omitempty"`
	Batch            int      `json:"batch"`
	Scenario         Scenario `json:"scenario"`
	Concurrency      int      `json:"concurrency"`
	// RateTarget and RateAchieved are requests per second (server).
	RateTarget   float64 `json:"rate_target,omitempty"`
	RateAchieved float64 `json:"rate_achieved,omitempty"`
	// Dropped counts server requests never served: they arrived at a full
	// queue, or were still queued when the run ended.
	Dropped int64 `json:"dropped,omitempty"`

	SessionCreateMS float64 `json:"session_create_ms"`
	FirstRunMS      float64 `json:"first_run_ms"`
	WarmupRuns      int     `json:"warmup_runs"`
	Iterations      int     `json:"iterations"`
	WallSeconds     float64 `json:"wall_seconds"`
	Latency         Stats   `json:"latency_ms"`
	RunsPerSec      float64 `json:"runs_per_sec"`
	SamplesPerSec   float64 `json:"samples_per_sec"`
	// PeakRSSGrowthBytes is the process's peak resident memory during this
	// measurement (session creation included) minus its resident memory
	// before it, with the runtime already started on the same providers,
	// so that the first model measured does not pay for the runtime's own
	// start-up; -1 when the platform cannot tell.
	PeakRSSGrowthBytes int64 `json:"peak_rss_growth_bytes"`
	// SpeedupP50 and SpeedupThroughput compare with the first model on the
	// same provider, batch and scenario (>1 is faster); absent for it.
	SpeedupP50        *float64 `json:"speedup_p50,omitempty"`
	SpeedupThroughput *float64 `json:"speedup_throughput,omitempty"`

	// Samples are the measured latencies in milliseconds, in run order
	// (for plots; not in the JSON report).
	Samples []float64 `json:"-"`
}

// Report is a whole benchmark run. Its JSON form, written by WriteJSON
// and read back by ReadReport (a --baseline), is an infer report on
// docs/report.schema.json: the shared header and inputs, then bench's own
// percentiles, results, gates_checked and regressions.
type Report struct {
	Infer      string
	ORTVersion string
	Date       string // RFC 3339
	Host       Host
	// CommandLine is the command as given; Options are the settings used,
	// defaults included, and the gates set (see SetHeader).
	CommandLine []string
	Options     map[string]any
	// Inputs are the models measured, each once, with their sha256.
	Inputs      []report.File
	Percentiles []float64
	Results     []Result
	// Gates are the gates that were checked, in words (Gates.Describe);
	// none when the run was not gated.
	Gates []string
	// Regressions lists the gates that failed (empty when all passed).
	Regressions []Regression
}

// SetHeader records what made r from h: the infer version, command line,
// options, and the host's name and Go version (Run found the rest).
func (r *Report) SetHeader(h report.Header) {
	r.Infer, r.CommandLine, r.Options = h.Infer, h.CommandLine, h.Options
	if r.ORTVersion == "" {
		r.ORTVersion = h.ORTVersion
	}
	r.Host.Name, r.Host.Go = h.Host.Name, h.Host.Go
}

// Host describes the machine.
type Host struct {
	Name string
	OS   string
	Arch string
	// CPU is the processor's model name, "" when unknown.
	CPU   string
	Cores int
	Go    string
}

// Regression is one failed gate.
type Regression struct {
	Model    string  `json:"model"`
	Provider string  `json:"provider"`
	Batch    int     `json:"batch"`
	Metric   string  `json:"metric"`   // "p50", "p99", "throughput", ...
	Baseline float64 `json:"baseline"` // NaN-free: 0 when the gate is absolute
	Current  float64 `json:"current"`
	Limit    string  `json:"limit"` // e.g. "+10%", "≤ 20ms", "≥ 500/s"
	Change   string  `json:"change,omitempty"`
}
