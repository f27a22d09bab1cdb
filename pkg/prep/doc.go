// Package prep brings a float ONNX model into the normal form that
// quantization and pruning work on, as a fixed sequence of graph passes each followed by a
// consistency check (graph.Validate), in the manner of tract's and the Go
// compiler's pass lists.
//
// The passes, in order, with the names errors carry:
//
//	constants          Constant nodes → initializers, subgraphs included
//	                   (graph.ConstantsToInitializers)
//	upgrade-opset      default-domain opset raised to Options.MinOpset when
//	                   lower (graph.UpgradeOpset)
//	initializer-inputs initializers dropped from the main graph's inputs
//	                   (skipped with Options.KeepInitializerInputs)
//	fold-constants     Reshape, Flatten, Squeeze, Unsqueeze, Identity,
//	                   Transpose and float Cast of initializers replaced
//	                   by their result (FoldConstants;
//	                   Options.FoldConstants)
//	fold-conv-add      constant per-channel Adds after a Conv or
//	                   ConvTranspose moved into its bias (FoldConvAdd;
//	                   Options.FoldConvAdd)
//	fold-batchnorm     BatchNormalization folded into the preceding Conv or
//	                   ConvTranspose (FoldBatchNorm; Options.FoldBatchNorm)
//	dead-code          graph.EliminateDeadCode
//	sort               graph.SortNodes
//	name-nodes         unnamed nodes named after their first output,
//	                   repeated names made unique (NameNodes)
//	infer-shapes       value_info from ONNX Runtime runs
//	                   (Options.InferShapes)
//	fuse-matmul-add    MatMul with a constant weight and a constant bias
//	                   Add rewritten as Gemm (FuseMatMulAdd;
//	                   Options.FuseMatMulAdd)
//
// The order matters. fold-constants comes before the other rewrites, so
// a weight an exporter stores reshaped or transposed is an initializer
// when they look for one, and before dead-code, which removes the
// initializers it leaves unused. A bias Add moves into its convolution before
// BatchNormalization folds, so Conv → Add → BatchNormalization folds
// whole. MatMul+Add fuses last because it needs the rank of the MatMul's
// input, which infer-shapes records.
//
// The rewrites exist for int8 quantization: a weight computed from an
// initializer is an activation to a quantizer, so it stays float; a bias
// held by a separate Add stays float next to a quantized convolution; and
// ONNX Runtime fuses a quantized Gemm with its bias (QGemm) where a
// quantized MatMul leaves the Add in float. Each pass skips what it does
// not understand, and none changes what the model computes beyond float32
// rounding.
//
// # Conventions
//
// Run rewrites the model it is given; callers that need the original pass
// a clone (proto.Clone). Tensors are never modified in place: a pass that
// changes weights makes new TensorProto messages, so a clone that shares
// tensors with the original, or a model whose graph was replaced by
// graph.UpgradeOpset, leaves the original's weights intact.
//
// Initializers that are also graph inputs are defaults a caller may
// override, not constants: ONNX Runtime does not constant-fold them or
// fuse QDQ around them, and the folding and fusing passes leave them
// alone. IR 3 models (which must list every initializer as an input)
// reach that state; the initializer-inputs pass turns them into plain
// weights (raising the IR version to at least 4, which only lifts that
// rule).
//
// # Shape completion
//
// Quantization needs to know which values are float, so infer-shapes gives
// every intermediate value of the main graph that lacks one a value_info
// with element type and shape. It asks ONNX Runtime rather than
// reimplementing ONNX shape inference: the model runs twice (graph
// optimizations off) with those values exposed as outputs, on random
// inputs at two realistic input shapes that differ in every dynamic
// dimension (Options.Shapes, else found by probe.Find: the user's --shape,
// else sizes such as 224 for images and 128 for sequences, never 1). A
// dimension both runs agree on is recorded as a dim_value; one that
// differs follows a dynamic input or the data and is recorded as unknown
// (no dim_value, no dim_param). If the model runs at one shape only, every
// dimension is recorded as unknown and a note says so; the rank and
// element type are still recorded. If it runs at no generated shape, the
// pass records nothing and a note says why. Existing entries are completed
// (a missing element type or shape), never overwritten. Values inside
// subgraphs, and sequences, maps and optionals, get no entry.
//
// Recorded shapes are for planning only: two runs cannot prove that a
// dimension is fixed, and a value_info that fixes one the source leaves
// dynamic breaks the model in ONNX Runtime at other sizes. Callers remove
// them with DropRecordedShapes before a model is written
// (Result.RecordedShapes lists them).
//
// # Errors
//
// Errors are *PassError values naming the pass; the wrapped error names
// the node and the reason. Nothing here panics on a malformed model.
package prep
