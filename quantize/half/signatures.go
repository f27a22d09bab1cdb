package half

// The ONNX signatures of a few operators leave out the half types, or add
// them only at some opset; ONNX Runtime then refuses the model ("Type
// Error: Type 'tensor(float16)' of input parameter ... is invalid"). The
// tables give the first opset whose signature accepts the type; 0 means
// none does (up to opset 23). They come from loading one-node models in
// ONNX Runtime 1.30 at opsets 7 to 23 (TestSchemaCoverage) and from the
// ONNX operator changelog.

// fp16Since lists the operators whose float16 support is late or absent;
// all others accept float16 at every opset.
var fp16Since = map[string]int64{
	"Equal":             11,
	"CumSum":            14,
	"IsInf":             20,
	"Range":             0,
	"NonMaxSuppression": 0,
	"Celu":              0,
}

// bf16Since lists the operators whose bfloat16 support comes later than
// opset 13, where ONNX added bfloat16 to most operators, or never.
var bf16Since = map[string]int64{
	// Opset 14 to 18.
	"CumSum": 14, "BatchNormalization": 15, "Pow": 15, "LeakyRelu": 16, "PRelu": 16,
	"Where": 16, "Clip": 17, "Mish": 22, "IsInf": 20,
	// Opset 22 added bfloat16 to these.
	"Acos": 22, "Acosh": 22, "Asin": 22, "Asinh": 22, "Atan": 22, "Atanh": 22, "AveragePool": 22,
	"Bernoulli": 22, "Conv": 22, "ConvTranspose": 22, "Cos": 22, "Cosh": 22, "DeformConv": 22,
	"Det": 22, "Elu": 22, "EyeLike": 22, "GRU": 22, "GlobalAveragePool": 22, "GlobalLpPool": 22,
	"GlobalMaxPool": 22, "GridSample": 22, "HardSigmoid": 22, "HardSwish": 22,
	"InstanceNormalization": 22, "LSTM": 22, "LpNormalization": 22, "LpPool": 22, "MaxPool": 22,
	"MaxRoiPool": 22, "MaxUnpool": 22, "Multinomial": 22, "NegativeLogLikelihoodLoss": 22,
	"RNN": 22, "RandomNormal": 22, "RandomNormalLike": 22, "RandomUniform": 22,
	"RandomUniformLike": 22, "RoiAlign": 22, "Round": 22, "Selu": 22, "Sin": 22, "Sinh": 22,
	"Softplus": 22, "Softsign": 22, "Tan": 22, "ThresholdedRelu": 22,
	// ONNX Runtime expands it into NegativeLogLikelihoodLoss.
	"SoftmaxCrossEntropyLoss": 22,
	// None yet.
	"Celu": 0, "Compress": 0, "Einsum": 0, "NonMaxSuppression": 0, "Range": 0, "Shrink": 0,
	"TopK": 0,
}

// hasHalfSignature reports whether op's signature at opset accepts t.
func hasHalfSignature(op string, opset int64, t int32) bool {
	table, general := fp16Since, int64(1)
	if t == tBF16 {
		table, general = bf16Since, 13
	}
	since, listed := table[op]
	if !listed {
		since = general
	}
	return since != 0 && opset >= since
}

// floatOnlyInput reports whether input i of op must stay float32 when the
// rest of the node goes to the half type t: Dropout's ratio has no
// bfloat16 signature.
func floatOnlyInput(op string, i int, t int32) bool {
	return op == "Dropout" && i == 1 && t == tBF16
}
