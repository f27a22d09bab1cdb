// Package int4 quantizes MatMul and Gemm weights to 4 bits, weight-only,
// as ONNX Runtime's com.microsoft MatMulNBits operator stores them.
//
// # What is rewritten
//
// MatMul(A, W) with W a float32 initializer [K, N], and Gemm(A, W, C) with
// transA = 0, W a float32 initializer ([K, N], or [N, K] with transB = 1)
// and C absent or a float32 initializer broadcast along rows ([N], [1, N],
// [1] or a scalar), become
//
//	MatMulNBits(A, B, scales[, zero_points][, bias])   domain com.microsoft
//
// with attributes K, N, bits = 4, block_size and accuracy_level. The node
// keeps its name and output; a Gemm's alpha is folded into the scales and
// beta·C becomes the bias input. A may have any rank, as for MatMul (ONNX
// Runtime reads it as [..., K]). The model gains the com.microsoft opset
// import (version 1) when it lacks one. Float weights and biases nothing
// reads any more are removed. Nodes inside If/Loop/Scan subgraphs are
// handled the same way, with weights of their own graph. A weight read by
// several rewritten nodes is packed once.
//
// # Layout (ONNX Runtime's contrib operator schema, checked against its
// CPU kernel by this package's tests)
//
// W is cut into blocks of block_size consecutive values along K, per output
// column n; k_blocks = ceil(K / block_size). Each block has a float32 scale
// and a 4-bit zero point zp, and each value a 4-bit code q in 0..15 with
//
//	w ≈ (q − zp) · scale
//
//	B            uint8 [N, k_blocks, block_size/2]: within a block, value
//	             2j is the low nibble of byte j and value 2j+1 its high
//	             nibble. Values past K in the last block hold the block's
//	             zero point, so they dequantize to exactly 0.
//	scales       float32 [N, k_blocks]
//	zero_points  uint8 [N, ceil(k_blocks/2)], two per byte, block 2i in the
//	             low nibble of byte i; an odd k_blocks leaves the last high
//	             nibble 8. Omitted for symmetric quantization, where ONNX
//	             Runtime uses zp = 8.
//
// Codes are rounded to nearest (half away from zero) and clamped to 0..15,
// as MLAS (ONNX Runtime's kernel library) quantizes:
//
//   - symmetric: m is the block's value of largest magnitude, sign kept;
//     scale = m / −8 and zp = 8, so m is exact (code 0) and the opposite
//     extreme −m maps to code 15, within |m|/8;
//   - asymmetric: lo = min(min, 0), hi = max(max, 0); scale = (hi − lo)/15
//     and zp = round(−lo/scale), so 0 is exact and both extremes are
//     within half a step.
//
// # What stays float
//
// Every MatMul and Gemm that is not rewritten is listed in Result.Skipped
// with the reason: a weight that is computed, a graph input (overridable),
// not float32, not a matrix, with non-finite values, shorter along K than
// one block or with fewer than MinElements values; a weight also read by a
// node that stays float (or by a subgraph, or that is a graph output); a
// Gemm with transA or a bias that depends on the batch; and nodes named in
// ExcludeNodes. Gather
// (embedding) weights are not quantized.
//
// # Bad input
//
// Quantize returns an error for a nil model or graph, a nil node and bad
// options; it never panics. A node it does not understand is skipped, not
// an error.
package int4
