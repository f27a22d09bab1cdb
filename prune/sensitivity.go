package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/progress"
)

// Point is one layer pruned on its own to one sparsity, compared with the
// original on the analysis data.
type Point struct {
	Sparsity float64 `json:"sparsity"`
	// Accuracy is top-1 in percent (labelled data); Agreement the top-1
	// agreement with the original in percent (classification outputs).
	Accuracy  *float64 `json:"accuracy,omitempty"`
	Agreement *float64 `json:"agreement,omitempty"`
	SQNR      *float64 `json:"sqnr_db,omitempty"`
	// Loss is the analysis metric in points (see Sensitivity.Metric).
	Loss float64 `json:"loss"`
}

// LayerSensitivity is one layer's (or channel group's) curve.
type LayerSensitivity struct {
	Name   string `json:"name"`
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Params int64  `json:"params"`
	// FLOPs is a channel group's work per sample (ChannelGroup.FLOPs).
	FLOPs  int64   `json:"flops,omitempty"`
	Points []Point `json:"points"`
}

// ChannelFLOPs is the share of a model's work that channel pruning can
// reach: the FLOPs per sample of the nodes that at least one prunable
// group changes, of all counted FLOPs, and the groups left alone that
// hold work, the largest first.
type ChannelFLOPs struct {
	Total    int64          `json:"total"`
	Prunable int64          `json:"prunable"`
	Refused  []ChannelGroup `json:"refused,omitempty"`
}

// Share is Prunable / Total (0 without a total).
func (c *ChannelFLOPs) Share() float64 {
	if c == nil || c.Total == 0 {
		return 0
	}
	return float64(c.Prunable) / float64(c.Total)
}

// Sensitivity is the result of --analyze.
type Sensitivity struct {
	// Metric names Loss: "accuracy drop" (points of top-1, labelled data),
	// "disagreement" (percent of samples whose top-1 changes) or "noise"
	// (100 × error power / signal power, other outputs).
	Metric      string             `json:"metric"`
	Samples     int                `json:"samples"`
	RefAccuracy *float64           `json:"original_accuracy,omitempty"`
	Layers      []LayerSensitivity `json:"layers"`
	// FLOPs is, for channel pruning, the share of the work it can reach.
	FLOPs *ChannelFLOPs `json:"channel_flops,omitempty"`
}

// analyze prunes each unit on its own at every level and compares the
// result with the original (refS) on opts.AnalysisData.
func analyze(float *onnxpb.ModelProto, refS *ort.Session, units []unit, opts Options) (*Sensitivity, error) {
	levels := opts.Levels
	if opts.Pattern.Kind == "nm" {
		levels = []float64{opts.Pattern.Sparsity()}
	}
	sens := &Sensitivity{}
	total := len(units) * len(levels)
	opts.Progress.Start("sensitivity", int64(total), progress.Steps)
	defer opts.Progress.Done()
	for _, u := range units {
		ls := LayerSensitivity{Name: u.Name, Node: u.Node, OpType: u.OpType, Params: u.Params, FLOPs: u.FLOPs}
		for _, s := range levels {
			opts.Progress.Step(fmt.Sprintf("%s at %g%%", u.Name, 100*s))
			q := graph.CloneSharingInitializers(float)
			scratch := &Result{}
			o := opts
			o.Global = false
			if err := apply(q, scratch, o, map[string]float64{u.Name: s}); err != nil {
				return nil, fmt.Errorf("sensitivity of %s at %.2f: %w", u.Name, s, err)
			}
			cs, err := ort.NewSessionFromModel(q, opts.Session)
			if err != nil {
				return nil, fmt.Errorf("sensitivity of %s at %.2f: ONNX Runtime cannot load the pruned model: %w", u.Name, s, err)
			}
			if err := opts.AnalysisData.Reset(); err != nil {
				cs.Close()
				return nil, err
			}
			ev, err := eval.Compare(refS, cs, opts.AnalysisData, eval.Options{})
			cs.Close()
			if err != nil {
				return nil, err
			}
			p := Point{Sparsity: s}
			o1 := ev.Primary()
			sens.Samples = ev.Samples
			if q := o1.SQNR(); !math.IsInf(q, 0) && !math.IsNaN(q) {
				p.SQNR = &q
			}
			switch {
			case o1.Classified && o1.Labelled > 0:
				a, r, g := 100*o1.CandAccuracy(), 100*o1.RefAccuracy(), 100*o1.Agreement()
				p.Accuracy, p.Agreement, sens.RefAccuracy = &a, &g, &r
				p.Loss, sens.Metric = r-a, "accuracy drop"
			case o1.Classified:
				g := 100 * o1.Agreement()
				p.Agreement = &g
				p.Loss, sens.Metric = 100-g, "disagreement"
			default:
				sq := o1.SQNR()
				p.Loss, sens.Metric = 100*math.Pow(10, -sq/10), "noise"
				if math.IsInf(sq, 1) {
					p.Loss = 0
				}
			}
			ls.Points = append(ls.Points, p)
		}
		sens.Layers = append(sens.Layers, ls)
	}
	return sens, nil
}

// chooseSparsities picks a sparsity per layer so that the share of pruned
// weights over all analysed layers reaches target, spending the least
// measured loss: starting from nothing pruned, it repeatedly moves the
// layer whose next measured level costs the least loss per weight removed,
// and ends with the last move interpolated so the total is exact. Losses
// are made non-decreasing in sparsity (noise in a small analysis set can
// make a higher sparsity look better than a lower one).
func chooseSparsities(s *Sensitivity, target float64) (map[string]float64, string) {
	type layer struct {
		name   string
		params float64
		levels []float64 // sparsities, starting with 0
		loss   []float64
		at     int
	}
	var ls []*layer
	var total float64
	for _, l := range s.Layers {
		x := &layer{name: l.Name, params: float64(l.Params), levels: []float64{0}, loss: []float64{0}}
		pts := append([]Point{}, l.Points...)
		sort.Slice(pts, func(i, j int) bool { return pts[i].Sparsity < pts[j].Sparsity })
		for _, p := range pts {
			x.levels = append(x.levels, p.Sparsity)
			x.loss = append(x.loss, math.Max(x.loss[len(x.loss)-1], math.Max(0, p.Loss)))
		}
		ls = append(ls, x)
		total += x.params
	}
	out := map[string]float64{}
	need := target * total
	removed := 0.0
	for removed < need {
		var best *layer
		bestCost := math.Inf(1)
		for _, l := range ls {
			if l.at+1 >= len(l.levels) || l.params == 0 {
				continue
			}
			dp := (l.levels[l.at+1] - l.levels[l.at]) * l.params
			cost := (l.loss[l.at+1] - l.loss[l.at]) / dp
			if cost < bestCost || (cost == bestCost && best != nil && l.params > best.params) {
				best, bestCost = l, cost
			}
		}
		if best == nil {
			break
		}
		step := (best.levels[best.at+1] - best.levels[best.at]) * best.params
		if removed+step > need {
			// Interpolate the last move to land on the target.
			frac := (need - removed) / best.params
			out[best.name] = best.levels[best.at] + frac
			removed = need
			break
		}
		best.at++
		removed += step
		out[best.name] = best.levels[best.at]
	}
	note := ""
	if removed < need-1e-9 {
		note = fmt.Sprintf("automatic sparsities: the analysed levels reach only %.1f%% overall, short of the %.1f%% asked", 100*removed/total, 100*target)
	}
	for _, l := range ls {
		if _, ok := out[l.name]; !ok {
			out[l.name] = 0
		}
	}
	return out, note
}
