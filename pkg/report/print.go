package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx"
)

// The Print functions write the shared sections as "name\tvalue" lines
// for a tabwriter, in the order the commands' tables show them.

// PrintFiles writes the inputs and the output, with the output's size
// relative to the first input.
func PrintFiles(w io.Writer, r *Report) {
	for _, f := range r.Inputs {
		fmt.Fprintf(w, "%s\t%s (%s)\n", f.Role, f.Path, onnx.HumanBytes(f.Bytes))
	}
	if o := r.Output; o != nil {
		ratio := ""
		if len(r.Inputs) > 0 && r.Inputs[0].Bytes > 0 {
			ratio = fmt.Sprintf(", %.2f× the %s", float64(o.Bytes)/float64(r.Inputs[0].Bytes), r.Inputs[0].Role)
		}
		fmt.Fprintf(w, "output\t%s (%s%s)\n", o.Path, onnx.HumanBytes(o.Bytes), ratio)
	}
	for _, n := range r.Preprocessing {
		fmt.Fprintf(w, "pre-processing\t%s\n", n)
	}
}

// PrintValidation writes the comparison with the reference; nil writes
// nothing.
func PrintValidation(w io.Writer, v *Validation) {
	if v == nil {
		return
	}
	what := ""
	if v.Optimistic {
		what = " (calibration data, optimistic)"
	}
	fmt.Fprintf(w, "validation\t%s%s, %d samples, against the %s\n", v.Data, what, v.Samples, v.Reference)
	if v.AccuracyDrop != nil {
		fmt.Fprintf(w, "  top-1 accuracy\t%.2f%% → %.2f%% (drop %.2f points)\n", *v.ReferenceAccuracy, *v.CandidateAccuracy, *v.AccuracyDrop)
	}
	if v.Agreement != nil {
		fmt.Fprintf(w, "  top-1 agreement\t%.2f%%\n", *v.Agreement)
	}
	if v.SQNR != nil {
		fmt.Fprintf(w, "  output SQNR\t%.1f dB (cosine %.5f)\n", *v.SQNR, v.Cosine)
	}
	if sc := v.SecondShape; sc != nil {
		fmt.Fprintf(w, "  second shape\t%s\n", strings.TrimPrefix(strings.TrimPrefix(sc.String(), "also checked at "), "not checked at a second shape: "))
	}
}

// PrintLatency writes the latency comparison; nil writes nothing.
func PrintLatency(w io.Writer, l *Latency) {
	if l == nil || l.Speed == nil {
		return
	}
	fmt.Fprintf(w, "latency (%s, p50)\t%.3f ms → %.3f ms (speedup %s, %s)\n", l.Provider, l.RefP50MS, l.CandP50MS, l.Speed, l.Verdict())
}

// PrintGates writes one line per gate set.
func PrintGates(w io.Writer, r *Report) {
	for _, v := range r.Gates {
		state := "met"
		if !v.Met {
			state = "NOT MET"
		}
		fmt.Fprintf(w, "gate\t%s: %s\n", state, v.Summary)
	}
}
