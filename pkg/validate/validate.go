// Package validate is the validation stage every optimizing command
// shares: the reference session (with the upgraded-model fallback), the
// comparison of a candidate with it, the second input shape, the
// noise-aware latency ratio, and one Gate type for the quality gates.
//
// Conventions: accuracy drops are in top-1 percentage points, agreement
// in percent, SQNR in dB. A gate whose measurement is missing or NaN
// fails; the accuracy-drop gate needs labelled data (ErrNeedsLabels).
package validate

import (
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
)

// Reference is the model candidates are compared with, and its session.
type Reference struct {
	// Model is the input model, or its upgraded form when the input does
	// not run in ONNX Runtime as it is.
	Model   *onnxpb.ModelProto
	Session *ort.Session
	// Upgraded is true when Model is the upgraded form; Note then says
	// why, for the report.
	Upgraded bool
	Note     string
}

// OpenReference opens a session on m. When ONNX Runtime cannot load m
// (old exports, opset ≤ 6, may have no kernels), it opens the model
// upgraded returns instead (a pre-processed form that means the same,
// see the graph conformance tests); upgraded may be nil. It returns an
// error naming the original's failure when neither loads.
func OpenReference(m *onnxpb.ModelProto, so ort.Options, upgraded func() (*onnxpb.ModelProto, error)) (*Reference, error) {
	s, err := ort.NewSessionFromModel(m, so)
	if err == nil {
		return &Reference{Model: m, Session: s}, nil
	}
	if upgraded == nil {
		return nil, fmt.Errorf("original model: %w", err)
	}
	u, uerr := upgraded()
	if uerr != nil {
		return nil, fmt.Errorf("original model: %w", err)
	}
	us, uerr := ort.NewSessionFromModel(u, so)
	if uerr != nil {
		return nil, fmt.Errorf("original model: %w", err)
	}
	note := "the input model does not run in ONNX Runtime as it is (" + firstLine(err.Error()) + "); the result was validated against its pre-processed (upgraded) form"
	return &Reference{Model: u, Session: us, Upgraded: true, Note: note}, nil
}

// Provider is the execution provider the reference session runs on (the
// first of a fallback list that started).
func (r *Reference) Provider() string { return r.Session.Provider.Name }

// ProviderNotes says, for each provider of a fallback list that did not
// start, why and where the run went instead: infer never falls back
// silently.
func (r *Reference) ProviderNotes() []string {
	var notes []string
	for _, sk := range r.Session.Skipped {
		notes = append(notes, fmt.Sprintf("provider %s did not start (%s); running on %s", sk.Provider.Name, sk.Reason, r.Provider()))
	}
	return notes
}

// Close closes the reference session.
func (r *Reference) Close() { r.Session.Close() }

// Candidate is a session on a model compared with the reference: open
// once for the comparison, the second shape and the latency.
type Candidate struct {
	ref     *Reference
	model   *onnxpb.ModelProto
	Session *ort.Session
}

// Open starts a session on cand; what names it in errors ("the
// quantized model").
func (r *Reference) Open(cand *onnxpb.ModelProto, so ort.Options, what string) (*Candidate, error) {
	cs, err := ort.NewSessionFromModel(cand, so)
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime cannot load %s: %w", what, err)
	}
	return &Candidate{ref: r, model: cand, Session: cs}, nil
}

// Close closes the candidate's session.
func (c *Candidate) Close() { c.Session.Close() }

// Compare runs the reference and the candidate on src (rewound first) and
// compares their outputs.
func (c *Candidate) Compare(src dataset.Source) (*eval.Result, error) {
	if err := src.Reset(); err != nil {
		return nil, err
	}
	return eval.Compare(c.ref.Session, c.Session, src, eval.Options{})
}

// SecondShape compares the candidate with the reference at the second
// input shape (eval.CheckShape).
func (c *Candidate) SecondShape(shapes *probe.Shapes, po probe.Options) (*eval.ShapeCheck, error) {
	return eval.CheckShape(c.ref.Session, c.Session, dataset.SpecsFromGraph(c.model.GetGraph()), shapes, po)
}

// Speed is the noise-aware latency ratio of the candidate over the
// reference on the first batch of src, on the sessions already open.
func (c *Candidate) Speed(src dataset.Source, runs int) (*eval.Speed, error) {
	in, err := eval.FirstBatch(src)
	if err != nil {
		return nil, err
	}
	return eval.CompareSpeedSessions(c.ref.Session, c.Session, in, runs)
}

// Compare opens cand, compares it with the reference on src and closes it.
func (r *Reference) Compare(cand *onnxpb.ModelProto, so ort.Options, src dataset.Source, what string) (*eval.Result, error) {
	c, err := r.Open(cand, so, what)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Compare(src)
}

// SecondShape opens cand and compares it with the reference at the second
// input shape.
func (r *Reference) SecondShape(cand *onnxpb.ModelProto, so ort.Options, shapes *probe.Shapes, po probe.Options, what string) (*eval.ShapeCheck, error) {
	c, err := r.Open(cand, so, what)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.SecondShape(shapes, po)
}

// Speed opens cand and times it against the reference session.
func (r *Reference) Speed(cand *onnxpb.ModelProto, so ort.Options, src dataset.Source, runs int) (*eval.Speed, error) {
	c, err := r.Open(cand, so, "the candidate model")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Speed(src, runs)
}

// firstLine is the first line of s, at most 160 runes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:160]) + "…"
	}
	return s
}

// Outcome is what the validation stage measured for the candidate kept.
type Outcome struct {
	// Validation compares it with the reference on the evaluation data;
	// SecondShape at the second input shape; Speed times both on
	// Provider.
	Validation  *eval.Result
	SecondShape *eval.ShapeCheck
	Speed       *eval.Speed
	Provider    string
	// Gates are the verdicts of the output gates; GateMet whether all were
	// met, GateSummary in words.
	Gates       []Verdict
	GateMet     bool
	GateSummary string
	// Upgraded is true when the reference is the upgraded input
	// (Reference.Upgraded).
	Upgraded bool
}

// SetGates records the verdicts of g on o.Validation.
func (o *Outcome) SetGates(g Gate) {
	o.Gates = g.Check(o.Validation)
	o.GateMet, o.GateSummary = Met(o.Gates), Summary(o.Gates)
}

// ProviderOf is the first provider of so ("cpu" when none is listed).
func ProviderOf(so ort.Options) string {
	if len(so.Providers) > 0 {
		return so.Providers[0].Name
	}
	return ort.CPU
}
