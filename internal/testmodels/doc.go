// Package testmodels builds small, deterministic ONNX models in Go code for
// tests, benchmarks and the committed files under testdata/.
//
// A Builder assembles one graph: inputs and outputs with fixed or symbolic
// dimensions, float32/int64 initializers, and nodes in topological order.
// Rand draws seeded weights (He and Xavier scales) from math/rand/v2, so a
// model built twice from the same config is the same message, and
// Marshal turns it into the same bytes.
//
// Ready-made models: MLP, CNN (and the wider CNN224Config), Transformer
// (an encoder block), GRU, and "awkward" variants shaped like real exports:
// weights in Constant nodes (MLPConfig.WeightsAsConstants), an If whose
// branches carry Constant weights (IfConstantBranches), opset 7/9 ops with
// their old signatures (Legacy), and com.microsoft contrib ops over dynamic
// dimensions (Contrib). Every model has a symbolic batch dimension "N" on
// its inputs and outputs. Files lists the models committed to testdata/.
//
// Conventions: builder methods and model functions panic on programmer
// errors (a data length that does not match its shape, an unsupported
// dimension type, a node reading a value nothing defines), since their
// arguments are constants in test code. Tensors are stored in raw_data,
// little-endian, as exporters write them. Weight matrices follow the
// layouts of PyTorch's exporter: Gemm weights are [out, in] with transB=1,
// MatMul weights are [in, out], Conv weights are [out, in, kh, kw].
package testmodels
