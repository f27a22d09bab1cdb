package distill

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// epochTotals sums one epoch's training: the sample-weighted loss, the
// samples, and the learning rate of the last step.
type epochTotals struct {
	loss float64
	n    int
	lr   float64
}

// train is the epoch loop, from the checkpoint's epoch (0 when fresh) to
// Epochs or an early stop. A fresh run first evaluates the untrained
// student.
func (t *trainer) train() error {
	if t.opts.Eval != nil && t.cp.Epoch == 0 {
		before, err := t.evaluate()
		if err != nil {
			return err
		}
		t.res.Before = before
	}
	for epoch := t.cp.Epoch; epoch < t.opts.Epochs; epoch++ {
		stop, err := t.epoch(epoch)
		if err != nil {
			return err
		}
		if stop {
			break
		}
	}
	return nil
}

// epoch trains epoch (0-based), evaluates the result, records it, logs
// it, writes the checkpoint, and reports whether training stops early.
func (t *trainer) epoch(epoch int) (bool, error) {
	t0 := time.Now()
	tot, err := t.trainEpoch(epoch)
	if err != nil {
		return false, err
	}
	t.trainTime += time.Since(t0)
	t.samples += tot.n
	rec := EpochRecord{Epoch: epoch + 1, TrainLoss: tot.loss / float64(max(tot.n, 1)), LR: tot.lr}
	metric, err := t.evaluateEpoch(&rec)
	if err != nil {
		return false, err
	}
	rec.Seconds = time.Since(t0).Seconds()
	t.record(rec, metric)
	if t.opts.Log != nil {
		fmt.Fprintln(t.opts.Log, epochLine(rec, t.opts.Epochs, tot.n, time.Since(t0)))
	}
	if err := t.saveCheckpoint(); err != nil {
		return false, err
	}
	return t.stopEarly(), nil
}

// trainEpoch runs one optimizer step per batch of the epoch's training
// data, shuffled by Seed and epoch, with the epoch's progress bar. It
// returns ErrInterrupted once StopAfterSteps steps were taken.
func (t *trainer) trainEpoch(epoch int) (epochTotals, error) {
	src, err := t.opts.Train(t.opts.Seed*1_000_003 + int64(epoch))
	if err != nil {
		return epochTotals{}, err
	}
	t.opts.Progress.Start(fmt.Sprintf("epoch %d/%d", epoch+1, t.opts.Epochs), int64(src.Len()), progress.Samples)
	defer func() {
		src.Close()
		t.opts.Progress.Done()
	}()
	var tot epochTotals
	for {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			return tot, nil
		}
		if err != nil {
			return epochTotals{}, err
		}
		loss, lr, err := t.step(b)
		if err != nil {
			return epochTotals{}, err
		}
		tot.loss += loss * float64(b.N)
		tot.n += b.N
		tot.lr = lr
		t.cp.Step++
		t.steps++
		t.opts.Progress.Add(int64(b.N))
		if t.opts.StopAfterSteps > 0 && t.steps >= t.opts.StopAfterSteps {
			return epochTotals{}, ErrInterrupted
		}
	}
}

// step is one optimizer step on batch b: the teacher's targets, the
// training graph's loss and gradients, and the update. It returns the
// loss and the learning rate of the step, or a DivergedError when the
// loss is not finite.
func (t *trainer) step(b *dataset.Batch) (float64, float64, error) {
	if err := stepFeeds(t.feeds, b, t.run, t.tg, t.opts.Loss); err != nil {
		return 0, 0, err
	}
	out, err := t.trainS.Run(t.feeds)
	if err != nil {
		return 0, 0, fmt.Errorf("training step %d: %w", t.cp.Step+1, err)
	}
	grads := make([][]float32, len(t.tg.Grads))
	for i, gname := range t.tg.Grads {
		grads[i] = tensor.Values[float32](out[gname])
	}
	l, _ := tensor.AsFloat64(out[lossName])
	if math.IsNaN(l[0]) || math.IsInf(l[0], 0) {
		return 0, 0, &DivergedError{Loss: l[0], Step: t.cp.Step + 1}
	}
	_, lr, err := t.opt.Step(grads)
	if err != nil {
		return 0, 0, err
	}
	return l[0], lr, nil
}

// evaluateEpoch evaluates the weights after an epoch, adds the result to
// rec and returns the early-stopping metric (NaN without evaluation).
func (t *trainer) evaluateEpoch(rec *EpochRecord) (float64, error) {
	ev, err := t.evaluate()
	if err != nil {
		return 0, err
	}
	t.lastEval = ev
	if ev == nil {
		return math.NaN(), nil
	}
	rec.EvalAgreement = ev.Agreement
	rec.EvalAccuracy = ev.Accuracy
	return score(ev), nil
}

// record adds rec to the history and tracks the best epoch by metric
// (NaN: not measured, neither better nor worse): its weights, and the
// epochs since it.
func (t *trainer) record(rec EpochRecord, metric float64) {
	cp := t.cp
	cp.History = append(cp.History, rec)
	cp.Epoch = rec.Epoch
	switch {
	case math.IsNaN(metric):
	case math.IsNaN(cp.Best) || metric > cp.Best:
		cp.Best, cp.BestEpoch, cp.BadEpochs = metric, rec.Epoch, 0
		cp.BestParams = cloneWeights(t.current())
	default:
		cp.BadEpochs++
	}
}

// saveCheckpoint writes the training state (weights, optimizer, history)
// when a checkpoint directory is set.
func (t *trainer) saveCheckpoint() error {
	if t.ckpt == "" {
		return nil
	}
	t.cp.Params = cloneWeights(t.current())
	t.cp.Shapes = paramShapes(t.tg)
	t.cp.Optimizer = t.opt.State()
	return SaveCheckpoint(t.ckpt, t.cp)
}

// stopEarly reports whether Patience epochs passed without a better
// evaluation, and notes it.
func (t *trainer) stopEarly() bool {
	if t.opts.Patience <= 0 || t.cp.BadEpochs < t.opts.Patience {
		return false
	}
	t.res.StoppedEarly = true
	t.res.Notes = append(t.res.Notes, fmt.Sprintf("stopped after epoch %d: no better evaluation for %d epochs; the weights of epoch %d are kept", t.cp.Epoch, t.opts.Patience, t.cp.BestEpoch))
	return true
}
