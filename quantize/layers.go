package quantize

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// LayerError is the error one quantized tensor carries: its SQNR against
// the same tensor of the float model on the same inputs.
type LayerError struct {
	Tensor string `json:"tensor"`
	Node   string `json:"node"` // producer in the float model
	OpType string `json:"op_type"`
	SQNR   Finite `json:"sqnr_db"` // null when the tensor came out identical
}

// Finite is a float64 that encodes as JSON null when it is not finite
// (JSON has no Inf or NaN).
type Finite float64

// MarshalJSON writes null for ±Inf and NaN.
func (f Finite) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// LayerErrors runs the float and the quantized model on src with tensors
// exposed (quantization keeps tensor names: each quantized activation is
// its DequantizeLinear's output) and returns their SQNR, worst first.
// At most maxSamples samples are used (0: all).
func LayerErrors(float, quant *onnxpb.ModelProto, tensors []string, src dataset.Source, so ort.Options, maxSamples int) ([]LayerError, error) {
	// A conversion's clean-up may remove a value (a Cast that became a
	// no-op): only values both models compute are compared.
	produced := graph.NewIndex(quant.GetGraph())
	tensors = slices.DeleteFunc(slices.Clone(tensors), func(name string) bool {
		n, _ := produced.Producer(name)
		return n == nil
	})
	if len(tensors) == 0 {
		return nil, nil
	}
	so.ExtraOutputs = tensors
	so.OptLevel = ort.OptDisable
	fs, err := ort.NewSessionFromModel(float, so)
	if err != nil {
		return nil, fmt.Errorf("float model: %w", err)
	}
	defer fs.Close()
	qs, err := ort.NewSessionFromModel(quant, so)
	if err != nil {
		return nil, fmt.Errorf("quantized model: %w", err)
	}
	defer qs.Close()
	signal := make(map[string]float64, len(tensors))
	noise := make(map[string]float64, len(tensors))
	if err := src.Reset(); err != nil {
		return nil, err
	}
	for seen := 0; maxSamples <= 0 || seen < maxSamples; {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			seen += b.N
		}
		if err != nil {
			return nil, err
		}
		fo, err := fs.Run(b.Inputs)
		if err != nil {
			return nil, fmt.Errorf("float model: %w", err)
		}
		qo, err := qs.Run(b.Inputs)
		if err != nil {
			return nil, fmt.Errorf("quantized model: %w", err)
		}
		for _, name := range tensors {
			f, q := fo[name], qo[name]
			if f == nil || q == nil || f.Len() != q.Len() {
				continue
			}
			fv, err1 := tensor.AsFloat64(f)
			qv, err2 := tensor.AsFloat64(q)
			if err1 != nil || err2 != nil {
				continue
			}
			for i := range fv {
				d := fv[i] - qv[i]
				signal[name] += fv[i] * fv[i]
				noise[name] += d * d
			}
		}
	}
	ix := graph.NewIndex(float.GetGraph())
	var out []LayerError
	for _, name := range tensors {
		le := LayerError{Tensor: name, SQNR: Finite(eval.SQNR(signal[name], noise[name]))}
		if p, _ := ix.Producer(name); p != nil {
			le.Node, le.OpType = p.GetName(), p.GetOpType()
		}
		out = append(out, le)
	}
	sort.SliceStable(out, func(i, j int) bool { return lessSQNR(float64(out[i].SQNR), float64(out[j].SQNR)) })
	return out, nil
}

// lessSQNR orders worst (lowest, NaN) first.
func lessSQNR(a, b float64) bool {
	if math.IsNaN(a) {
		return !math.IsNaN(b)
	}
	if math.IsNaN(b) {
		return false
	}
	return a < b
}

// quantizedTensors lists the activation tensors a plan quantizes that
// exist under the same name in the float model.
func (p *Plan) quantizedTensors(float *onnxpb.ModelProto) []string {
	ix := graph.NewIndex(float.GetGraph())
	var out []string
	for _, name := range sortedKeys(p.marks) {
		if mk := p.marks[name]; mk.kind == markActivation && mk.rangeOf == "" && producerExists(ix, name) {
			out = append(out, name)
		}
	}
	return out
}

func producerExists(ix *graph.Index, name string) bool {
	p, _ := ix.Producer(name)
	return p != nil
}
