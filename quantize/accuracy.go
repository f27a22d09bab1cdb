package quantize

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// linearTrials is how many of the worst nodes the accuracy search keeps
// float one at a time (the usual case) before it bisects.
const linearTrials = 4

// trial is one candidate of the accuracy search: the model, its
// evaluation, and the gates' metric, verdict and summary on it.
type trial struct {
	q      *onnxpb.ModelProto
	ev     *eval.Result
	metric float64
	ok     bool
	sum    string
}

// accuracySearch is the state of the accuracy-aware search: the nodes in
// the order they are kept float, the best trial and how many nodes it
// keeps float, and the first count that met the gates (-1: none).
type accuracySearch struct {
	order []LayerError
	best  trial
	bestK int
	found int
}

// names are the first k nodes of the search order.
func (s *accuracySearch) names(k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = s.order[i].Node
	}
	return out
}

// searchAccuracy is the accuracy-aware search: it keeps the most damaging
// nodes float, worst layer first, one at a time for the first few, then
// by bisection over how many of the ranked nodes stay float, and keeps
// the best model found (GateMet false when none met the gates). first is
// the model with nothing kept float.
func (j *job) searchAccuracy(first trial) error {
	s := &accuracySearch{order: searchOrder(j.res.Layers, j.res.Nodes), best: first, found: -1}
	if err := j.searchLinear(s); err != nil {
		return err
	}
	if s.found < 0 && len(s.order) > linearTrials {
		if err := j.searchBisect(s); err != nil {
			return err
		}
	}
	j.res.KeptFloat = j.res.KeptFloat[:min(len(j.res.KeptFloat), s.bestK)]
	j.q, j.ev = s.best.q, s.best.ev
	j.accExcl = s.names(s.bestK)
	j.res.GateMet, j.res.GateSummary = s.found >= 0, s.best.sum
	// Report the decisions of the model that was kept.
	_, err := j.build(s.names(s.bestK))
	return err
}

// searchOrder ranks the quantized nodes for the accuracy search: those in
// the layer table worst first, then the quantized nodes whose output the
// table cannot show (a MatMul read only by a rescaled Mul writes no float
// value of its own), so that the search can reach an all-float model.
func searchOrder(layers []LayerError, ds []NodeDecision) []LayerError {
	var order []LayerError
	for _, le := range layers {
		if le.Node != "" && quantizedNode(ds, le.Node) && !containsLayer(order, le.Node) {
			order = append(order, le)
		}
	}
	for _, d := range ds {
		if d.Quantized && d.Name != "" && !containsLayer(order, d.Name) {
			order = append(order, LayerError{Node: d.Name, OpType: d.OpType, SQNR: Finite(math.NaN())})
		}
	}
	return order
}

// try builds and evaluates the model with the first k nodes of the search
// order kept float.
func (j *job) try(s *accuracySearch, k int) (trial, error) {
	cand, err := j.build(s.names(k))
	if err != nil {
		return trial{}, err
	}
	cev, err := j.evaluate(cand)
	if err != nil {
		return trial{}, err
	}
	m, ok, sum := j.gate(cev)
	return trial{cand, cev, m, ok, sum}, nil
}

// searchLinear keeps the worst nodes float one more at a time, up to
// linearTrials, recording each in KeptFloat, and stops at the first that
// meets the gates.
func (j *job) searchLinear(s *accuracySearch) error {
	for k := 1; k <= min(linearTrials, len(s.order)); k++ {
		tr, err := j.try(s, k)
		if err != nil {
			return err
		}
		le := s.order[k-1]
		j.res.KeptFloat = append(j.res.KeptFloat, KeptFloat{Node: le.Node, OpType: le.OpType, SQNR: le.SQNR, Metric: Finite(tr.metric)})
		if j.opts.Gate.Better(tr.metric, s.best.metric) || tr.ok {
			s.best, s.bestK = tr, k
		}
		if tr.ok {
			s.found = k
			return nil
		}
	}
	return nil
}

// searchBisect finds by bisection the fewest ranked nodes beyond
// linearTrials that, kept float, meet the gates, and records the nodes
// the best trial keeps float (the metric only for the last: the others
// were not measured alone).
func (j *job) searchBisect(s *accuracySearch) error {
	lo, hi := linearTrials+1, len(s.order)
	for lo < hi {
		mid := (lo + hi) / 2
		tr, err := j.try(s, mid)
		if err != nil {
			return err
		}
		j.res.Notes = append(j.res.Notes, fmt.Sprintf("bisection: %d nodes float → %s", mid, tr.sum))
		if tr.ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	tr, err := j.try(s, lo)
	if err != nil {
		return err
	}
	if tr.ok || j.opts.Gate.Better(tr.metric, s.best.metric) {
		s.best, s.bestK = tr, lo
		if tr.ok {
			s.found = lo
		}
	}
	for k := linearTrials + 1; k <= s.bestK; k++ {
		le := s.order[k-1]
		kf := KeptFloat{Node: le.Node, OpType: le.OpType, SQNR: le.SQNR, Metric: Finite(math.NaN())}
		if k == s.bestK {
			kf.Metric = Finite(tr.metric)
		}
		j.res.KeptFloat = append(j.res.KeptFloat, kf)
	}
	return nil
}

// keepFloat maps the nodes the searches keep float to their reason.
func keepFloat(exclude []string, why map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range exclude {
		if r := why[n]; r != "" {
			out[n] = r
		} else {
			out[n] = "kept float by the accuracy search (its layer error was among the worst)"
		}
	}
	return out
}

// containsLayer reports whether s has a row for node.
func containsLayer(s []LayerError, node string) bool {
	for _, x := range s {
		if x.Node == node {
			return true
		}
	}
	return false
}

// quantizedNode reports whether the node named name was quantized.
func quantizedNode(ds []NodeDecision, name string) bool {
	for _, d := range ds {
		if d.Name == name {
			return d.Quantized
		}
	}
	return false
}
