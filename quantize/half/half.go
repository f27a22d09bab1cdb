package half

import (
	"fmt"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Options configure Convert.
type Options struct {
	// Type is the target: tensor.Float16 or tensor.BFloat16Type.
	Type tensor.DType
	// KeepIOTypes keeps float32 graph inputs and outputs float32, with one
	// Cast after each such input and one before each such output.
	KeepIOTypes bool
	// BlockOps lists operator types kept float32, in addition to
	// DefaultBlockOps.
	BlockOps []string
	// BlockNodes lists node names kept float32.
	BlockNodes []string
}

// DefaultBlockOps are the operator types Convert always keeps float32
// (wrapped by Casts). See the package documentation for why each is here.
var DefaultBlockOps = []string{
	// ONNX defines no half signature: ONNX Runtime refuses the model.
	"Range", "NonMaxSuppression", "Celu",
	// Their scales input is float32 whatever the data type.
	"Resize", "Upsample",
	// Half kernels missing or misbehaving in ONNX Runtime providers (the
	// list the Python converters keep float).
	"TopK", "RoiAlign", "CumSum", "Min", "Max",
	// ONNX Runtime has no half kernel and expands the ONNX function,
	// whose float32 constants then clash with half inputs (opset 13).
	"MeanVarianceNormalization",
	// The output's element type comes from an attribute or is always
	// float32: kept as is, with a Cast after.
	"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
	"Bernoulli", "Multinomial", "EyeLike", "HannWindow", "HammingWindow",
	"BlackmanWindow", "MelWeightMatrix", "TfIdfVectorizer",
}

// DefaultOptions returns the options for converting to t: graph inputs and
// outputs stay float32 and only DefaultBlockOps are kept float32.
func DefaultOptions(t tensor.DType) Options {
	return Options{Type: t, KeepIOTypes: true}
}

// Result says what Convert changed.
type Result struct {
	// Converted counts the float32 tensors stored in the half type:
	// initializers (dense and sparse) and Constant node values.
	Converted int
	// Clamped counts weight elements whose magnitude exceeded the half
	// type's largest finite value and were set to it (they would have
	// become ±Inf).
	Clamped int
	// Blocked names the nodes kept float32 that read or write float32
	// values: by op type, name or domain, for want of a half signature at
	// the model's opset, or for their link to float32 sequences (Notes
	// say which). Nodes inside a blocked node's subgraphs are not listed.
	// Unnamed nodes are shown by op type.
	Blocked []string
	// CastsAdded counts the Cast nodes Convert inserted; CastsRemoved the
	// Cast nodes its clean-up removed (redundant round trips and casts to
	// the type a value already has, inserted or pre-existing).
	CastsAdded, CastsRemoved int
	// Notes are human-readable lines about choices made.
	Notes []string
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// quantOps are operators that mark a model as quantized already.
var quantOps = setOf("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
	"MatMulInteger", "ConvInteger", "MatMulNBits", "MatMulIntegerToFloat",
	"DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "QGemm", "QAttention",
	"GatherBlockQuantized", "MatMulBnb4", "MatMulFpQ4")

func isQuantOp(op string) bool {
	return quantOps[op] || strings.HasPrefix(op, "QLinear") || strings.HasPrefix(op, "QOrdered")
}

// Convert rewrites m in place so that its float32 computation runs in
// opts.Type: float32 initializers and Constant values are stored in the
// half type (magnitudes beyond its range clamped to its largest finite
// value), every float32 value becomes a half value, Cast nodes that
// produced float32 produce the half type, and subgraphs of If, Loop and
// Scan are converted alike. Blocked nodes keep float32 inputs and outputs,
// with Casts where they meet half values; initializers read only by them
// stay float32. Float64, integer and other tensors are untouched. Casts
// that undo each other and casts to a value's own type are removed, then
// dead code, and the nodes are sorted; the result passes graph.Validate.
// Callers that need the original pass a clone. Weights are converted in
// place one at a time, each dropping its float32 data once its half copy
// exists, and freed memory goes back to the operating system as it goes:
// beyond the model, converting needs about the half copy of its largest
// weight.
//
// It returns an error, leaving m unchanged, if opts.Type is not a half
// type, m fails graph.Validate, already holds float16 or bfloat16 values
// ("the model is already fp16") or quantization operators ("already
// quantized"), a float32 weight cannot be read (external data not loaded),
// the element type of a value that matters cannot be inferred (give it a
// value_info entry), or a sequence or optional value would need a Cast.
// Errors name the node or tensor and the reason.
func Convert(m *onnxpb.ModelProto, opts Options) (*Result, error) {
	if opts.Type != tensor.Float16 && opts.Type != tensor.BFloat16Type {
		return nil, fmt.Errorf("half conversion: target type %s is not float16 or bfloat16", opts.Type)
	}
	c := &converter{
		m:          m,
		opts:       opts,
		half:       int32(opts.Type),
		blockOps:   setOf(DefaultBlockOps...),
		blockNodes: setOf(opts.BlockNodes...),
		ours:       make(map[*onnxpb.NodeProto]bool),
		blocked:    make(map[*onnxpb.NodeProto]bool),
		wants:      make(map[*scope]map[string][]int32),
		res:        &Result{},
	}
	for _, op := range opts.BlockOps {
		c.blockOps[op] = true
	}
	if err := c.plan(); err != nil {
		return nil, fmt.Errorf("%s conversion: %w", c.short(), err)
	}
	if err := c.apply(); err != nil {
		return nil, fmt.Errorf("%s conversion: %w", c.short(), err)
	}
	return c.res, nil
}
