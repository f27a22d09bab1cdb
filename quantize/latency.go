package quantize

import (
	"fmt"
	"sort"

	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Region is a class of quantized nodes the latency-aware search decided on
// as one: kept int8 or kept float, and why.
type Region struct {
	// Name says what the nodes are, e.g. "depthwise Conv".
	Name  string   `json:"region"`
	Nodes []string `json:"nodes"`
	// Decision is "int8" or "float".
	Decision string `json:"decision"`
	// Why: "speed" (the model ran faster with the region float), "kept
	// int8" (float was not faster), "fallback" (no int8 placement beat the
	// float model).
	Why string `json:"why"`
	// Speed compares the model with this region float against the model
	// with it int8 (above 1: float was faster); nil when not measured.
	Speed *eval.Speed `json:"speed_with_region_float,omitempty"`
}

// Fallback records that no int8 placement was faster than float: the
// written model is the original float model (or its pre-processed form
// where the original does not run in ONNX Runtime).
type Fallback struct {
	Reason string `json:"reason"`
	// Best is the fastest int8 candidate's speed against the original.
	Best *eval.Speed `json:"best_int8"`
}

// regionOf names the class of a quantized node for the latency search.
// Nodes of one class behave alike in ONNX Runtime (one kernel, similar
// shapes), so a class is timed as one: a model has a handful of classes
// and hundreds of nodes.
func regionOf(n *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto) string {
	switch n.GetOpType() {
	case "Conv":
		var w []int64
		if len(n.GetInput()) > 1 {
			if t := inits[n.GetInput()[1]]; t != nil {
				w = t.GetDims()
			}
		}
		group := int64(1)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "group" {
				group = a.GetI()
			}
		}
		switch {
		case len(w) == 4 && group > 1 && w[1] == 1:
			return "depthwise Conv"
		case len(w) == 4 && w[2] == 1 && w[3] == 1:
			return "pointwise (1×1) Conv"
		case len(w) == 4 && w[1] < smallConvChannels:
			return "Conv on few input channels"
		}
		return "Conv"
	case "MatMul":
		if len(n.GetInput()) > 1 && inits[n.GetInput()[1]] == nil {
			return "MatMul of two activations"
		}
		return "MatMul"
	case "Gemm":
		return "Gemm"
	case "Add", "Mul":
		return "elementwise Add/Mul"
	case "Concat":
		return "Concat"
	case "AveragePool", "GlobalAveragePool", "MaxPool":
		return "pooling"
	case "Relu", "Clip", "Softmax":
		return "activations"
	case "Resize":
		return "Resize"
	}
	return shapeOps
}

// shapeOps is the class of the data-movement ops (Reshape, Transpose,
// Flatten, Squeeze, Unsqueeze): they take their input's scale and cost the
// same in int8 as in float, so the search does not time them.
const shapeOps = "shape ops"

// regions groups the quantized nodes of decisions by class, biggest class
// first.
func regions(float *onnxpb.ModelProto, ds []NodeDecision) []Region {
	g := float.GetGraph()
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	byName := map[string]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		byName[n.GetName()] = n
	}
	idx := map[string]int{}
	var out []Region
	for _, d := range ds {
		n := byName[d.Name]
		if !d.Quantized || n == nil || d.Name == "" {
			continue
		}
		r := regionOf(n, inits)
		i, ok := idx[r]
		if !ok {
			i = len(out)
			idx[r] = i
			out = append(out, Region{Name: r, Decision: "int8"})
		}
		out[i].Nodes = append(out[i].Nodes, d.Name)
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Nodes) > len(out[j].Nodes) })
	return out
}

// trialRuns is the timed runs per model (over all rounds) when the search
// compares two candidates: 25 (fewer than the final comparison, which the
// written result is reported with), down to 15 for a model whose two runs
// take over trialBudgetMS/25, so that a class costs about a second.
func trialRuns(sp *eval.Speed) int {
	per := sp.RefP50MS + sp.CandP50MS
	if per <= 0 {
		return 25
	}
	return max(15, min(25, int(trialBudgetMS/per)))
}

const trialBudgetMS = 1000

// clearGain is the speedup a class kept float must bring, in every round
// and at the median of 1.05 or more, when the int8 model is already
// faster than float.
const clearGain = 1.05

// searchLatency keeps float, class by class, the nodes whose int8 form
// does not pay on the session's provider. best is the int8 model found so
// far (exclude its float nodes) and speed its speed against the original.
// Each class is timed by building the model with it float and comparing it
// with best in alternating rounds; it stays float only when that model was
// faster in every round (and by clearGain at the median when best is
// already faster than float: faster). It returns the model kept, its exclusions and the
// regions with their decisions.
func searchLatency(float *onnxpb.ModelProto, best *onnxpb.ModelProto, ds []NodeDecision, exclude []string, so ort.Options,
	inputs map[string]*tensor.Tensor, provider string, why map[string]string, runs int, faster bool, build func([]string) (*onnxpb.ModelProto, error)) (*onnxpb.ModelProto, []string, []Region, error) {
	rs := regions(float, ds)
	// In a model already faster than float, a class goes back to float
	// only for a clear gain: its int8 weights keep the file small.
	minGain := 1.0
	if faster {
		minGain = clearGain
	}
	for i := range rs {
		r := &rs[i]
		if r.Name == shapeOps {
			r.Why = "not timed: data movement follows its input's type"
			continue
		}
		for _, n := range r.Nodes {
			why[n] = fmt.Sprintf("kept float by the latency search: the model ran faster on %s with its %s float", provider, r.Name)
		}
		excl := append(append([]string{}, exclude...), r.Nodes...)
		cand, err := build(excl)
		if err != nil {
			return nil, nil, nil, err
		}
		sp, err := eval.CompareSpeedOn(best, cand, so, inputs, runs)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("time the model with %s float: %w", r.Name, err)
		}
		r.Speed = sp
		if sp.Faster() && sp.Speedup >= minGain {
			r.Decision, r.Why = "float", "speed"
			best, exclude = cand, excl
			continue
		}
		for _, n := range r.Nodes {
			delete(why, n)
		}
		r.Why = "kept int8: float was not faster"
	}
	return best, exclude, rs, nil
}

// searchTensors adds to tensors every float value of rank 2 or more that a
// node of the main graph writes: the ranges any placement of the latency
// search may need.
func searchTensors(float *onnxpb.ModelProto, tensors []string) []string {
	g := float.GetGraph()
	types, ranks := valueTypes(g), valueRanks(g)
	seen := map[string]bool{}
	for _, t := range tensors {
		seen[t] = true
	}
	out := append([]string{}, tensors...)
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" || seen[o] || types[o] != tensor.Float32 || ranks[o] < 2 {
				continue
			}
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// RegionSummary is one line per region for the human table.
func RegionSummary(r Region) string {
	s := fmt.Sprintf("%s (%d): %s", r.Name, len(r.Nodes), r.Decision)
	switch {
	case r.Why == "speed" && r.Speed != nil:
		s += fmt.Sprintf(", %.2f× faster with it float", r.Speed.Speedup)
	case r.Speed != nil:
		s += fmt.Sprintf(", float %.2f× (not faster in every round)", r.Speed.Speedup)
	case r.Why != "":
		s += ", " + r.Why
	}
	return s
}
