// Package quantize turns float ONNX models into int8 models that ONNX
// Runtime runs with integer kernels.
//
// Static quantization writes QDQ format: QuantizeLinear/DequantizeLinear
// pairs around the tensors of quantized nodes, int8 weights (per-channel
// symmetric by default) with a DequantizeLinear, and int32 biases whose
// scale is input scale × weight scale. Placement follows what ORT fuses:
// a quantized node gets QDQ on its inputs AND its output (DQ→MatMul→Q
// becomes QLinearMatMul; with DQ on the inputs only, ORT keeps a float
// MatMul and the model gets slower). A Relu or Clip right after a
// quantized node carries the range instead of that node's output, so ORT
// can drop it; shape ops (Reshape, Transpose, Flatten, Squeeze, Unsqueeze)
// and max-pooling reuse their input's scale so ORT can run them on int8.
//
// One registry maps op type → handler; handlers only mark tensors
// (activation, weight with channel axis, bias with its input and weight);
// one place (Apply) materialises the Q/DQ nodes and int8 initializers.
//
// Dynamic quantization (no calibration data) rewrites MatMul/Gemm with
// constant weights to DynamicQuantizeLinear → MatMulInteger → scale, the
// pattern ORT fuses into its dynamic-quantized MatMul kernels.
package quantize
