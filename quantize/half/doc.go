// Package half converts float32 ONNX models to float16 or bfloat16
// (Convert), avoiding the ways the Python converters
// (onnxconverter-common's float16 module and its copies) break models:
//
//   - Cast nodes that produced float32 produce the half type, so a Cast
//     from an integer does not feed float32 into half operators; a Cast
//     whose readers need float32 (a blocked node) keeps float32 instead.
//   - With KeepIOTypes the interface keeps its names and float32 types:
//     one Cast follows each float32 input and one precedes each float32
//     output (the producer's output is renamed), so initializers, value
//     infos and graph outputs never disagree on a type.
//   - Weights beyond the half type's range are clamped to its largest
//     finite value instead of becoming ±Inf (which Inf·0 or Inf−Inf turns
//     into NaN); bfloat16 clamps too, as float32's largest values round
//     to Inf in it. ±Inf and NaN weights stay as they are.
//   - Operators that have no half signature or kernel stay float32 with
//     Casts around them (DefaultBlockOps, plus the opset-dependent gaps in
//     the ONNX signatures, see below); initializers read only by them stay
//     float32, so Range's operands and Resize's scales are exact.
//   - No Cast pair is created: each value gets at most one Cast per target
//     type, placed in the graph that defines it and shared by every
//     reader, subgraphs included. A clean-up then removes Casts to a
//     value's own type and half→float32→half round trips already present.
//   - If, Loop, Scan and SequenceMap bodies are converted with their
//     node, or kept float32 entirely when the node is blocked; sequences
//     and optionals of float32 convert with the nodes that make and read
//     them, or all stay float32 when one of them must (a Cast cannot
//     convert a sequence).
//
// # Element types
//
// Convert infers every value's element type from declared types (inputs,
// outputs, value_info), initializers, Constant values and per-operator
// rules for the default domain. Operators of other domains (com.microsoft,
// ai.onnx.ml) are kept float32, and their outputs need declared types:
// Convert refuses, naming the value, when it cannot tell a type that
// matters. prep.Run's infer-shapes pass declares them for the main graph.
//
// # What ONNX Runtime 1.30's CPU provider runs in half types
//
// Measured with one-node models (TestCPUCoverage, TestSchemaCoverage) and
// the ONNX conformance models (TestConformanceModels):
//
//   - float16: every operator loads and runs, mostly in float32 between
//     Casts that ONNX Runtime inserts itself (its CPU provider has few
//     float16 kernels on x86), except where the ONNX signature has no
//     float16: Range, NonMaxSuppression, Celu, Resize's and Upsample's
//     scales, Equal before opset 11, CumSum before 14, IsInf before 20. At
//     run time ScatterND and ScatterElements with a reduction fail
//     ("MLFloat16 data type is not supported ... when reduction is 'add'"),
//     and MeanVarianceNormalization at opset 13 fails to load (ONNX
//     Runtime expands its function body, whose constants are float32).
//     Convert keeps all of these float32. TopK, RoiAlign, CumSum, Min and
//     Max do run in float16 on CPU; DefaultBlockOps keeps them float32
//     anyway, as the Python converters do, for providers that lack or
//     mishandle them.
//   - bfloat16: ONNX Runtime inserts no Casts for bfloat16, and the CPU
//     provider has bfloat16 kernels only for data movement (Reshape,
//     Transpose, Concat, Split, Slice, Gather*, Scatter*, Squeeze,
//     Unsqueeze, Flatten, Identity, Shape, Cast, ConstantOfShape),
//     LayerNormalization, Sign and IsNaN (opset 20+). Every arithmetic
//     operator fails to load ("Could not find an implementation"). Most
//     operators accept bfloat16 in ONNX from opset 13; convolutions,
//     pooling, most activations and the recurrent operators only from
//     opset 22, Einsum, TopK, Shrink and Compress never (bf16Since).
//     CPUBlockOps lists what to block so that a bfloat16 model runs on
//     CPU; it then computes in float32 and stores only the weights of
//     LayerNormalization and data-movement operators in bfloat16, so it
//     is barely smaller: bfloat16 is a target for GPUs.
//
// # Conventions
//
// Convert works in place; callers that need the original pass a clone
// (proto.Clone). Checks run before any change, so a refused model is left
// as it was. Nothing here panics on a malformed model.
package half
