// Package distill will hold reverse-mode differentiation over ONNX graphs,
// losses, optimizers and the training loop (`infer distill`). It is empty
// until that issue lands.
package distill
