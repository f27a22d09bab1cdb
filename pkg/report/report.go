// Package report holds the sections every infer report shares, so that
// quantize, prune and distill (and compare and eval where they apply)
// write one schema, docs/report.schema.json: a header (versions, date,
// host, command line, the options used), the input and output files with
// their sha256, the pre-processing steps, the validation of a candidate
// against its reference with the same field names everywhere, the gates
// with their verdicts, and the latency with its spread.
package report

import (
	"os"
	"runtime"
	"time"

	"github.com/infer-ml/infer/internal/buildinfo"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
)

// Header says what made the report.
type Header struct {
	// Command is the infer verb: "quantize", "prune", …
	Command    string `json:"command"`
	Infer      string `json:"infer"`
	ORTVersion string `json:"onnxruntime_version"`
	// Date is UTC, RFC 3339.
	Date        string   `json:"date"`
	Host        Host     `json:"host"`
	CommandLine []string `json:"command_line"`
	// Options are those used for this run's mode, defaults included;
	// gates appear only when set.
	Options map[string]any `json:"options"`
}

// Host describes the machine the report was made on.
type Host struct {
	Name string `json:"name"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
	// CPU is the processor's model name, where a command looked it up
	// (bench).
	CPU string `json:"cpu,omitempty"`
}

// NewHeader fills a header for command, now, on this host.
func NewHeader(command, ortVersion string, commandLine []string, options map[string]any) Header {
	name, _ := os.Hostname()
	if commandLine == nil {
		commandLine = []string{}
	}
	if options == nil {
		options = map[string]any{}
	}
	return Header{
		Command: command, Infer: buildinfo.String(), ORTVersion: ortVersion,
		Date:        time.Now().UTC().Format(time.RFC3339),
		Host:        Host{Name: name, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()},
		CommandLine: commandLine, Options: options,
	}
}

// File describes a model file read or written.
type File struct {
	// Role is "model", "teacher", "student", "reference", "candidate" or
	// "output".
	Role   string `json:"role"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes"`
	// Params counts weight elements by element type ("float32": 5994).
	Params map[string]int64 `json:"params"`
}

// FileOf describes m, loaded from path (bytes: its size with external
// data).
func FileOf(role, path string, m *onnx.Model, bytes int64) File {
	return File{Role: role, Path: path, SHA256: m.SHA256, Bytes: bytes, Params: Params(m.Proto)}
}

// Loaded describes a model as cmdutil.LoadModel read it.
func Loaded(role, path string, m *onnx.Model) File {
	return FileOf(role, path, m, m.FileBytes+m.ExternalBytes)
}

// Params counts the weight elements of m by element type.
func Params(m *onnxpb.ModelProto) map[string]int64 {
	out := map[string]int64{}
	onnx.TensorsAt(m, func(t *onnxpb.TensorProto, _ *onnx.Location) error {
		n := int64(1)
		for _, d := range t.GetDims() {
			n *= d
		}
		out[tensor.DType(t.GetDataType()).String()] += n
		return nil
	})
	return out
}

// FloatParams is the number of floating-point weight elements of f.
func (f File) FloatParams() int64 {
	var n int64
	for _, t := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16Type, tensor.Float64} {
		n += f.Params[t.String()]
	}
	return n
}

// Metrics compare one candidate output with the reference's: top-1
// accuracy in percent (labelled data), agreement in percent, SQNR in dB
// (nil when the outputs are identical or it is not finite).
type Metrics struct {
	ReferenceAccuracy *float64 `json:"reference_accuracy,omitempty"`
	CandidateAccuracy *float64 `json:"candidate_accuracy,omitempty"`
	AccuracyDrop      *float64 `json:"accuracy_drop_points,omitempty"`
	Agreement         *float64 `json:"top1_agreement,omitempty"`
	SQNR              *float64 `json:"sqnr_db,omitempty"`
	Cosine            float64  `json:"cosine"`
	MaxAbsError       float64  `json:"max_abs_error"`
	MSE               float64  `json:"mse"`
	NonFinite         int64    `json:"candidate_non_finite"`
}

// MetricsOf converts an output's statistics.
func MetricsOf(o *eval.OutputStats) Metrics {
	s := o.Summary()
	return Metrics{
		ReferenceAccuracy: s.RefAccuracy, CandidateAccuracy: s.CandAccuracy, AccuracyDrop: s.AccuracyDrop,
		Agreement: s.Agreement, SQNR: s.SQNR, Cosine: s.Cosine, MaxAbsError: s.MaxAbsError, MSE: o.MSE(), NonFinite: o.NonFinite,
	}
}

// OutputMetrics are one named output's Metrics.
type OutputMetrics struct {
	Name string `json:"name"`
	Metrics
}

// Validation is the comparison of the candidate with its reference: the
// primary output's metrics (the first class-shaped output, else the
// first) at the top, every output's in Outputs.
type Validation struct {
	// Reference names what the candidate was compared with: "original",
	// "upgraded original", "teacher" or a path.
	Reference string `json:"reference"`
	Data      string `json:"data"`
	Samples   int    `json:"samples"`
	// Optimistic is true when the validation data is the calibration
	// data (nothing was left to hold out).
	Optimistic bool   `json:"optimistic,omitempty"`
	Output     string `json:"output"`
	Metrics
	Outputs     []OutputMetrics  `json:"outputs"`
	SecondShape *eval.ShapeCheck `json:"second_shape,omitempty"`
}

// ValidationOf summarises ev, measured on data against reference.
func ValidationOf(reference, data string, ev *eval.Result) *Validation {
	v := &Validation{Reference: reference, Data: data, Samples: ev.Samples, Outputs: []OutputMetrics{}}
	if p := ev.Primary(); p != nil {
		v.Output, v.Metrics = p.Name, MetricsOf(p)
	}
	for _, o := range ev.Outputs {
		v.Outputs = append(v.Outputs, OutputMetrics{Name: o.Name, Metrics: MetricsOf(o)})
	}
	return v
}

// Latency is the reference and the candidate timed in alternating rounds
// on the same inputs, on Provider: p50s, the speedup and its spread.
type Latency struct {
	Provider string `json:"provider"`
	*eval.Speed
}

// Report is the part every artifact report shares; commands embed it and
// add their own section under their verb.
type Report struct {
	Header
	Inputs []File `json:"inputs"`
	// Output is the model written (nil when none was).
	Output        *File              `json:"output,omitempty"`
	Preprocessing []string           `json:"preprocessing"`
	Validation    *Validation        `json:"validation,omitempty"`
	Gates         []validate.Verdict `json:"gates"`
	GateMet       bool               `json:"gate_met"`
	Latency       *Latency           `json:"latency,omitempty"`
	Notes         []string           `json:"notes"`
}

// New starts a report with its header and inputs.
func New(h Header, inputs ...File) *Report {
	return &Report{Header: h, Inputs: inputs, Preprocessing: []string{}, Gates: []validate.Verdict{}, GateMet: true, Notes: []string{}}
}

// SetGates records the verdicts and whether all were met.
func (r *Report) SetGates(vs ...validate.Verdict) {
	r.Gates = append([]validate.Verdict{}, vs...)
	r.GateMet = validate.Met(vs)
}

// Failed returns the verdicts not met.
func (r *Report) Failed() []validate.Verdict {
	var out []validate.Verdict
	for _, v := range r.Gates {
		if !v.Met {
			out = append(out, v)
		}
	}
	return out
}

// SetOutcome fills the pre-processing, validation, gates, latency and
// notes sections from what the validation stage measured on data
// against reference ("original", "teacher"; "upgraded original" when o
// says so).
func (r *Report) SetOutcome(reference, data string, o *validate.Outcome, prep, notes []string) {
	if o.Upgraded {
		reference = "upgraded " + reference
	}
	r.Preprocessing, r.Notes = nonNil(prep), nonNil(notes)
	if o.Validation != nil {
		r.Validation = ValidationOf(reference, data, o.Validation)
		r.Validation.SecondShape = o.SecondShape
	}
	r.SetGates(o.Gates...)
	if o.Speed != nil {
		r.Latency = &Latency{Provider: o.Provider, Speed: o.Speed}
	}
}

// nonNil is s, or an empty list for nil (JSON [] rather than null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
