package distill

import (
	"math"
	"testing"
)

// TestRecordBestEpochAndStop checks the epoch loop's bookkeeping: a
// better metric becomes the best epoch with a copy of its weights, a
// worse one counts toward Patience, an unmeasured (NaN) one counts for
// neither, and training stops once Patience epochs passed without a
// better one.
func TestRecordBestEpochAndStop(t *testing.T) {
	w := []float32{1, 2}
	tr := &trainer{
		opts:   Options{Patience: 2},
		res:    &Result{},
		params: []Param{{Name: "w", Data: w}},
		cp:     &Checkpoint{Best: math.NaN(), BestEpoch: -1},
	}
	for i, m := range []float64{math.NaN(), 50, 60, 55, math.NaN()} {
		tr.record(EpochRecord{Epoch: i + 1}, m)
		if m == 60 {
			w[0] = 9 // later training must not change the best weights
		}
		if tr.stopEarly() {
			t.Fatalf("stopped after epoch %d with %d bad epochs", i+1, tr.cp.BadEpochs)
		}
	}
	cp := tr.cp
	if cp.Epoch != 5 || len(cp.History) != 5 || cp.Best != 60 || cp.BestEpoch != 3 || cp.BadEpochs != 1 {
		t.Fatalf("epoch %d, history %d, best %v at %d, bad %d: want 5, 5, 60 at 3, 1", cp.Epoch, len(cp.History), cp.Best, cp.BestEpoch, cp.BadEpochs)
	}
	if got := cp.BestParams["w"]; got[0] != 1 || got[1] != 2 {
		t.Errorf("best weights %v: want the copy taken at epoch 3, [1 2]", got)
	}
	tr.record(EpochRecord{Epoch: 6}, 59)
	if !tr.stopEarly() || !tr.res.StoppedEarly || len(tr.res.Notes) != 1 {
		t.Fatalf("no early stop after 2 epochs without a better metric (patience 2): %+v", tr.res)
	}
	if want := "stopped after epoch 6: no better evaluation for 2 epochs; the weights of epoch 3 are kept"; tr.res.Notes[0] != want {
		t.Errorf("note %q, want %q", tr.res.Notes[0], want)
	}
}
