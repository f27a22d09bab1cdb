// Package probe finds input shapes at which a model runs, by trying
// realistic candidates in ONNX Runtime.
//
// Commands run a model with generated inputs to record intermediate
// shapes, to calibrate on random data and to check an artifact at a second
// shape. Sizes of 1 hide shape bugs (a width that a stride-32 backbone
// reduces to 1 is 1 at any small input), and one fixed candidate does not
// suit every model (audio framed in 64-sample hops, a transformer with a
// 128-position table, an FPN that needs multiples of 32). So Find tries
// the candidates of dataset.ResolveShapes in order, then looks for a
// second shape that differs in every dynamic dimension
// (dataset.AlternateShapes).
package probe

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Options configure Find.
type Options struct {
	// User holds full input shapes the user gave (--shape); they are
	// shape A as given, the batch axis excepted.
	User map[string][]int64
	// Values gives inputs a constant value (--input-value).
	Values map[string]float64
	// Batch is shape A's batch size (0: 1, or the model's fixed one).
	Batch int
	// Seed seeds the random inputs.
	Seed int64
	// Session configures the probing session; ExtraOutputs are ignored.
	Session ort.Options
}

// Shapes are two sets of full input shapes at which a model ran.
type Shapes struct {
	// A is the shape to optimize at; B differs from A in every dimension
	// the model leaves dynamic where the model allowed it.
	A, B map[string][]int64
	// Same is true when B is A: the model fixes every dimension, or it ran
	// at no other shape (Notes says which).
	Same  bool
	Notes []string
}

// Find returns shapes A and B at which m runs in ONNX Runtime with random
// inputs. It returns a *RunError, naming the inputs and what to pass, when
// m runs at none of the candidate shapes, an *InputError when opts name
// or size inputs wrongly, and ONNX Runtime's error when it cannot load m.
func Find(m *onnxpb.ModelProto, opts Options) (*Shapes, error) {
	so := opts.Session
	so.ExtraOutputs = nil
	s, err := ort.NewSessionFromModel(m, so)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return FindWith(s, dataset.SpecsFromGraph(m.GetGraph()), opts)
}

// FindWith is Find on an open session whose inputs specs describe.
func FindWith(s *ort.Session, specs []dataset.InputSpec, opts Options) (*Shapes, error) {
	if len(specs) == 0 {
		// Every input has a default value (or there is none): no shape to find.
		none := map[string][]int64{}
		return &Shapes{A: none, B: none, Same: true, Notes: []string{"the model has no input without a default value, so it is checked at one shape"}}, nil
	}
	// A bad name or value is the caller's mistake, not a shape to retry.
	var badInput error
	run := func(shapes map[string][]int64) error {
		feeds, err := Feeds(specs, shapes, opts.Values, opts.Seed)
		if err != nil {
			badInput = err
			return err
		}
		_, err = s.Run(feeds)
		return err
	}
	var a map[string][]int64
	var first error
	tried := map[string]bool{}
	for attempt := range dataset.Attempts {
		cand, err := dataset.ResolveShapes(specs, opts.User, opts.Batch, attempt)
		if err != nil {
			return nil, err
		}
		key := fmt.Sprint(cand)
		if tried[key] {
			continue
		}
		tried[key] = true
		if err := run(cand); err != nil {
			if badInput != nil {
				return nil, &InputError{badInput}
			}
			if first == nil {
				first = fmt.Errorf("at %s: %w", Describe(specs, cand), err)
			}
			continue
		}
		a = cand
		break
	}
	if a == nil {
		return nil, cannotRun(specs, opts, first)
	}
	out := &Shapes{A: a}
	if !dataset.Dynamic(specs) {
		out.B, out.Same = a, true
		out.Notes = append(out.Notes, "the model fixes every input dimension, so it is checked at one shape")
		return out, nil
	}
	var firstB error
	for attempt := range dataset.Attempts {
		cand := dataset.AlternateShapes(specs, a, attempt)
		if tried[fmt.Sprint(cand)] {
			continue // it failed as a candidate for A
		}
		if err := run(cand); err != nil {
			if firstB == nil {
				firstB = fmt.Errorf("at %s: %w", Describe(specs, cand), err)
			}
			continue
		}
		out.B = cand
		return out, nil
	}
	out.B, out.Same = a, true
	out.Notes = append(out.Notes, fmt.Sprintf("the model ran at %s but at no second shape (%v), so it is checked at one shape", Describe(specs, a), firstLine(firstB)))
	return out, nil
}

// cannotRun words the failure to run at any candidate shape, naming the
// inputs random data may have got wrong.
func cannotRun(specs []dataset.InputSpec, opts Options, err error) error {
	var guessed []string
	for _, s := range specs {
		if _, ok := opts.Values[s.Name]; ok {
			continue
		}
		if len(s.Shape) == 0 || s.DType.IsInteger() || s.DType == tensor.Bool {
			guessed = append(guessed, s.Name)
		}
	}
	hint := "give realistic shapes with --shape NAME=DxD… or real inputs with --data"
	if len(guessed) > 0 {
		hint = fmt.Sprintf("random values for %s may be what it refuses: give them with --input-value NAME=V, or %s", strings.Join(guessed, ", "), hint)
	}
	return &RunError{fmt.Errorf("the model does not run on generated inputs (%v); %s", firstLine(err), hint)}
}

// InputError is Find's error when the options name an input the model
// does not have, or give a value or shape it cannot take.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// RunError is Find's error when the model loads but runs at none of the
// candidate shapes: generated inputs cannot feed it.
type RunError struct{ Err error }

func (e *RunError) Error() string { return e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// Feeds returns one batch of random inputs at the given full shapes, with
// opts-style constant values; the batch size is read from the shapes.
func Feeds(specs []dataset.InputSpec, shapes map[string][]int64, values map[string]float64, seed int64) (map[string]*tensor.Tensor, error) {
	l := dataset.LayoutOf(specs)
	batch := 1
	for i, sp := range specs {
		if a := l.Axis[i]; a >= 0 && a < len(shapes[sp.Name]) {
			batch = int(shapes[sp.Name][a])
			break
		}
	}
	src, err := dataset.Open("random", specs, dataset.Options{
		BatchSize: batch, Shapes: shapes, Values: values, Seed: seed, RandomSamples: batch,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	b, err := src.Next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("random data gave no batch")
	}
	if err != nil {
		return nil, err
	}
	return b.Inputs, nil
}

// Describe formats shapes as "x [1 3 224 224], sr []" in input order.
func Describe(specs []dataset.InputSpec, shapes map[string][]int64) string {
	parts := make([]string, 0, len(specs))
	for _, s := range specs {
		if sh, ok := shapes[s.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", s.Name, sh))
		}
	}
	return strings.Join(parts, ", ")
}

func firstLine(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
