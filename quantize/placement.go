package quantize

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
)

// searchPlacement is the latency-aware search (int8): it keeps float the
// classes of nodes whose int8 form does not pay here (even in a model
// that is faster overall), then falls back to float when no placement
// beats it.
func (j *job) searchPlacement() error {
	inputs, err := eval.FirstBatch(j.opts.Eval)
	if err != nil {
		return err
	}
	decided := append([]NodeDecision{}, j.res.Nodes...)
	keptApply, keptPlan := j.res.Apply, j.plan
	firstSpeed := j.res.Speed
	best, excl, rs, err := searchLatency(j.float, j.q, decided, j.accExcl, j.opts.Session, inputs, j.res.Provider, j.why,
		trialRuns(j.res.Speed), j.res.Speed.Faster(), j.build)
	if err != nil {
		return err
	}
	j.res.Regions = rs
	if best == j.q {
		// The trials' builds overwrote the decisions of the model kept.
		j.res.Nodes, j.res.Apply, j.plan = decided, keptApply, keptPlan
	} else if err := j.takeFaster(excl); err != nil {
		return err
	}
	if j.res.Speed.Slower() || noneQuantized(j.res.Nodes) {
		return j.fallBack(firstSpeed)
	}
	return nil
}

// takeFaster rebuilds the faster placement (excl kept float) and keeps it
// when it meets the gates, or when the model kept did not either.
func (j *job) takeFaster(excl []string) error {
	cand, err := j.build(excl)
	if err != nil {
		return err
	}
	cev, err := j.evaluate(cand)
	if err != nil {
		return err
	}
	_, ok, sum := j.gate(cev)
	if !ok && j.res.GateMet {
		return j.keepGated(sum)
	}
	j.q, j.ev = cand, cev
	j.res.GateSummary = sum
	if j.opts.Mode == Static {
		if err := j.layerErrors(); err != nil {
			return err
		}
	}
	return j.measureSpeed()
}

// keepGated keeps the placement the accuracy search chose, with its
// decisions, when keeping nodes float for speed broke the gates (rare).
func (j *job) keepGated(sum string) error {
	if _, err := j.build(j.accExcl); err != nil {
		return err
	}
	j.res.Notes = append(j.res.Notes, "the latency search's faster placement failed the gate ("+sum+"); the placement the gate chose was kept")
	for i := range j.res.Regions {
		j.res.Regions[i].Decision, j.res.Regions[i].Why = "int8", "accuracy: kept int8 as the gate's placement"
	}
	return nil
}

// noneQuantized reports whether no node is quantized.
func noneQuantized(ds []NodeDecision) bool {
	for _, d := range ds {
		if d.Quantized {
			return false
		}
	}
	return true
}

// fallBack replaces the int8 model with the float one when no placement
// was faster than float (firstSpeed: the all-int8 model's) or every class
// of nodes went back to float, and says why.
func (j *job) fallBack(firstSpeed *eval.Speed) error {
	noneLeft := noneQuantized(j.res.Nodes)
	fq, what := j.floatModel()
	fev, err := j.evaluate(fq)
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("no int8 placement was faster than float on %s (the fastest ran %s)", j.res.Provider, j.res.Speed)
	best := j.res.Speed
	if noneLeft {
		best = firstSpeed
		reason = fmt.Sprintf("every class of nodes ran faster in float on %s (all int8: %s)", j.res.Provider, firstSpeed)
	}
	j.q, j.ev = fq, fev
	if j.ref.Upgraded {
		if err := j.measureSpeed(); err != nil {
			return err
		}
	} else {
		// The original itself is written: timing it against itself would
		// only report noise as a verdict.
		j.res.Speed = eval.SameModel(j.res.Speed)
	}
	res := j.res
	res.Fallback = &Fallback{Best: best, Reason: reason + ": " + what}
	res.Layers, res.KeptFloat, res.Apply = nil, nil, &ApplyStats{}
	for i := range res.Nodes {
		if res.Nodes[i].Quantized {
			res.Nodes[i].Quantized, res.Nodes[i].Reason = false, "float fallback: int8 was slower than float"
		}
	}
	for i := range res.Regions {
		res.Regions[i].Decision, res.Regions[i].Why = "float", "fallback"
	}
	_, res.GateMet, res.GateSummary = j.gate(j.ev)
	res.Notes = append(res.Notes, res.Fallback.Reason)
	return nil
}

// floatModel is the float fallback: the source itself (same speed by
// construction), or its pre-processed form where the source does not run
// in ONNX Runtime; what says which, for the report.
func (j *job) floatModel() (*onnxpb.ModelProto, string) {
	if j.ref.Upgraded {
		fq := graph.CloneSharingInitializers(j.plain)
		prep.DropRecordedShapes(fq.GetGraph(), j.pr.RecordedShapes)
		return fq, "the written model is the pre-processed float model (the original does not run in ONNX Runtime)"
	}
	return graph.CloneSharingInitializers(j.m), "the written model is the original float model"
}
