// Package prep brings a float ONNX model into the form int8 quantization
// works on, as a fixed sequence of graph passes each followed by a
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
//	fold-batchnorm     BatchNormalization folded into the preceding Conv or
//	                   ConvTranspose (FoldBatchNorm; Options.FoldBatchNorm)
//	dead-code          graph.EliminateDeadCode
//	sort               graph.SortNodes
//	infer-shapes       value_info from ONNX Runtime runs
//	                   (Options.InferShapes)
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
// fuse QDQ around them, and FoldBatchNorm leaves them alone. IR 3 models
// (which must list every initializer as an input) reach that state; the
// initializer-inputs pass turns them into plain weights (raising the IR
// version to at least 4, which only lifts that rule).
//
// # Shape completion
//
// Quantization needs to know which values are float, so infer-shapes gives
// every intermediate value of the main graph that lacks one a value_info
// with element type and shape. It asks ONNX Runtime rather than
// reimplementing ONNX shape inference: the model runs twice (graph
// optimizations off) with those values exposed as outputs, first on zeros
// with every dynamic input dimension 1, then on seeded random floats
// (other inputs zero) with every dynamic dimension 2. A dimension both runs
// agree on is recorded as a dim_value; one that differs follows a dynamic
// input or the data and is recorded as unknown (no dim_value, no
// dim_param). If the second run fails, as for a model that only accepts
// size 1, every dimension is recorded as unknown and a note says so; the
// rank and element type are still recorded. Existing entries are completed
// (a missing element type or shape), never overwritten. Values inside
// subgraphs, and sequences, maps and optionals, get no entry.
//
// # Errors
//
// Errors are *PassError values naming the pass; the wrapped error names
// the node and the reason. Nothing here panics on a malformed model.
package prep
