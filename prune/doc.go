// Package prune implements magnitude pruning of ONNX models (`infer
// prune`): it takes typed Options and returns a typed Result; only cmd/
// knows about flags.
//
// Three patterns, with honest consequences:
//
//   - Unstructured (magnitude.go): the smallest |w| of each selected
//     weight (layer scope) or of all of them (global scope) become zero,
//     exactly round(s·n) of them, ties broken by index so the result
//     depends only on the weights. The file keeps its size and ONNX
//     Runtime runs no faster on CPU; the gzip size shrinks.
//   - N:M (magnitude.go): of every M consecutive input channels (the
//     reduction axis: 1 for Conv, K for Gemm and MatMul) N keep their
//     weight; the pattern NVIDIA sparse tensor cores run faster. Every
//     group is verified afterwards.
//   - Channel (channel*.go): whole output channels and neurons with the
//     smallest L1/L2 norm are removed and the graph is rewritten, so the
//     model is smaller and faster everywhere. A producer (Conv with group
//     1, Gemm or MatMul with a constant weight) opens a channel space that
//     flows forward through operators that treat channels apart
//     (activations, pooling, BatchNormalization, Pad, per-channel
//     constants, Flatten and Reshape that keep each channel's values
//     contiguous, depthwise Conv) and ends at consumers whose weights lose
//     the matching input channels. Residual Adds merge spaces into one
//     group, pruned together. A space that reaches a graph output, a
//     subgraph or an operator not understood (Concat, Transpose, Softmax,
//     a Reshape that mixes channels) is left alone, with the reason.
//
// Prune pre-processes a copy of the model (pkg/prep: Constant weights to
// initializers, folded weight reshapes, Conv bias Adds; shapes from an ORT
// run for channel pruning), optionally measures each layer's sensitivity
// (sensitivity.go: every layer pruned alone at several sparsities,
// compared with the original on data) and picks per-layer sparsities from
// it (--auto), prunes, then loads the result in ONNX Runtime and compares
// it with the original: accuracy, agreement, SQNR, parameters, FLOPs,
// sizes and latency. Tensors are never modified in place: pruning makes
// new TensorProto messages, so a clone sharing initializers with the
// original leaves the original intact.
package prune
