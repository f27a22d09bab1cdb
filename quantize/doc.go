// Package quantize will hold int8 QDQ quantization with calibration,
// fp16/bf16 conversion and int4 weight-only quantization (`infer
// quantize`). It is empty until that issue lands; the folder exists so the
// layout shows the architecture.
package quantize
