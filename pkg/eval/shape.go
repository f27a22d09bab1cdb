package eval

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
)

// ShapeCheck is the comparison of a candidate with its reference at the
// second input shape (probe.Shapes.B). An artifact is for every input its
// source accepts: one optimized and validated at one shape can still
// declare that shape somewhere and fail at the next.
type ShapeCheck struct {
	// Shapes describes the inputs, "x [2 3 256 256]".
	Shapes  string `json:"shapes"`
	Samples int    `json:"samples"`
	// SQNR is the smallest output SQNR in dB, nil when every output came
	// out identical; Cosine the smallest mean cosine similarity.
	SQNR        *float64 `json:"sqnr_db"`
	Cosine      float64  `json:"cosine"`
	MaxAbsError float64  `json:"max_abs_error"`
	NonFinite   int64    `json:"non_finite,omitempty"`
	// Skipped says why there was no second shape ("" when checked).
	Skipped string `json:"skipped,omitempty"`
}

// CheckShape runs ref and cand on one batch of random inputs at shapes.B
// (constant values and seed from po) and compares every output. When
// shapes has no second shape it returns a ShapeCheck that says why. It
// returns an error when either model fails to run there, naming which.
func CheckShape(ref, cand *ort.Session, specs []dataset.InputSpec, shapes *probe.Shapes, po probe.Options) (*ShapeCheck, error) {
	if shapes == nil {
		return &ShapeCheck{Skipped: "no shapes at which the model runs on generated inputs"}, nil
	}
	if shapes.Same {
		sc := &ShapeCheck{Shapes: probe.Describe(specs, shapes.B)}
		sc.Skipped = "the model runs at one input shape only"
		if len(shapes.Notes) > 0 {
			sc.Skipped = shapes.Notes[len(shapes.Notes)-1]
		}
		return sc, nil
	}
	return CompareAt(ref, cand, specs, shapes.B, po.Values, po.Seed+1)
}

// CompareAt runs ref and cand on one batch of random inputs at the given
// full input shapes (values for constant inputs, seed for the rest) and
// compares every output. It returns an error when either model fails to
// run there, naming which.
func CompareAt(ref, cand *ort.Session, specs []dataset.InputSpec, shapes map[string][]int64, values map[string]float64, seed int64) (*ShapeCheck, error) {
	sc := &ShapeCheck{Shapes: probe.Describe(specs, shapes)}
	feeds, err := probe.Feeds(specs, shapes, values, seed)
	if err != nil {
		return nil, err
	}
	ro, err := ref.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("the reference model at %s: %w", sc.Shapes, err)
	}
	co, err := cand.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("the optimized model fails at %s, a shape its source accepts: %w", sc.Shapes, err)
	}
	names, err := outputNames(ref, cand, nil)
	if err != nil {
		return nil, err
	}
	sqnr := math.Inf(1)
	sc.Cosine, sc.Samples = 1, 1
	for _, n := range names {
		st := &OutputStats{Name: n}
		if err := st.compare(ro[n], co[n], 1, nil); err != nil {
			return nil, fmt.Errorf("at %s: %w", sc.Shapes, err)
		}
		sqnr = math.Min(sqnr, st.SQNR())
		sc.Cosine = math.Min(sc.Cosine, st.Cosine())
		sc.MaxAbsError = math.Max(sc.MaxAbsError, st.MaxAbsError)
		sc.NonFinite += st.NonFinite
	}
	if !math.IsInf(sqnr, 1) {
		sc.SQNR = &sqnr
	}
	return sc, nil
}

// String is a one-line summary for the human report.
func (sc *ShapeCheck) String() string {
	if sc.Skipped != "" {
		return "not checked at a second shape: " + sc.Skipped
	}
	q := "identical outputs"
	if sc.SQNR != nil {
		q = fmt.Sprintf("SQNR %.1f dB, cosine %.4f", *sc.SQNR, sc.Cosine)
	}
	return fmt.Sprintf("also checked at %s: %s", sc.Shapes, q)
}
