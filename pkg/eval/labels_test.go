package eval

import (
	"errors"
	"fmt"
	"testing"
)

// A label that is not a class of the output (≥ classes, or negative) is
// an error naming it, and nothing of the batch is counted: it would be
// wrong for every model and hide a broken one behind a passing gate.
func TestAddRefusesOutOfRangeLabels(t *testing.T) {
	ref := []float64{3, 1, 0, 0, 2, 1}
	for _, labels := range [][]int64{{0, 3}, {0, -1}} {
		s := &OutputStats{Name: "y"}
		err := s.Add(ref, ref, 2, 3, labels)
		var le *LabelError
		if !errors.As(err, &le) || le.Sample != 1 || le.Label != labels[1] || le.Classes != 3 {
			t.Fatalf("labels %v: want a LabelError for sample 1, got %v", labels, err)
		}
		if want := fmt.Sprintf(`sample 1: label %d is not a class of output "y", which has 3 (0..2)`, labels[1]); err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if s.Samples != 0 || s.Labelled != 0 {
			t.Fatalf("a refused batch was counted: %+v", s)
		}
	}
}
