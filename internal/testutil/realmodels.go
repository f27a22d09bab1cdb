package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvRealModels turns the real-model tests on when set to 1 (make
// realmodels-test does).
const EnvRealModels = "INFER_REALMODELS"

// RealModel is one model of the public corpus that `make realmodels`
// fetches into testdata/fixtures/realmodels/ (docs/realmodels.md lists
// their sources, checksums and signatures).
type RealModel struct {
	Name    string // "embedding_model", ...
	File    string // base name under testdata/fixtures/realmodels/
	License string // per its package
	// ShapeA, ShapeB: two realistic full input shapes (name → dims) at
	// which the model runs in ORT, B different from A in at least one dim
	// where the model allows it (where every dim is fixed they are equal).
	ShapeA, ShapeB map[string][]int64
	Slow           bool // a run takes over ~0.5 s at ShapeA on 2 cores
}

const (
	openWakeWordLicense = "MIT (upstream openWakeWord models CC BY-NC-SA: test use only)"
	isnetLicense        = "AGPL-3.0 (package; ISNet model MIT per its ThirdPartyLicenses.json: test use only)"
)

// RealModels lists the corpus: openWakeWord's audio front end, feature
// extractor and two wake-word heads (small, fast, converted from
// TensorFlow and PyTorch) and ISNet background removal in fp16 and
// dynamically quantized int8 (1024×1024 images, seconds per run).
func RealModels() []RealModel {
	return []RealModel{
		{
			// CNN from TensorFlow (tf2onnx), channels-last, dynamic batch.
			Name: "embedding_model", File: "embedding_model.onnx", License: openWakeWordLicense,
			ShapeA: map[string][]int64{"input_1": {1, 76, 32, 1}},
			ShapeB: map[string][]int64{"input_1": {8, 76, 32, 1}},
		},
		{
			// Audio (16 kHz samples) to mel frames; both dims symbolic.
			Name: "melspectrogram", File: "melspectrogram.onnx", License: openWakeWordLicense,
			ShapeA: map[string][]int64{"input": {1, 1280}},
			ShapeB: map[string][]int64{"input": {4, 16000}},
		},
		{
			// Fixed shape; the body is also inside an If branch that
			// reads outer initializers.
			Name: "hey_jarvis_v0.1", File: "hey_jarvis_v0.1.onnx", License: openWakeWordLicense,
			ShapeA: map[string][]int64{"x.1": {1, 16, 96}},
			ShapeB: map[string][]int64{"x.1": {1, 16, 96}},
		},
		{
			// Fixed shape; its output's name is a JSON object.
			Name: "timer_v0.1", File: "timer_v0.1.onnx", License: openWakeWordLicense,
			ShapeA: map[string][]int64{"onnx::Flatten_0": {1, 34, 96}},
			ShapeB: map[string][]int64{"onnx::Flatten_0": {1, 34, 96}},
		},
		{
			// fp16 weights, fp32 IO through Casts, nodes not in
			// topological order; the input is fixed at 1024×1024.
			Name: "isnet_medium", File: "isnet_medium.onnx", License: isnetLicense,
			ShapeA: map[string][]int64{"input": {1, 3, 1024, 1024}},
			ShapeB: map[string][]int64{"input": {1, 3, 1024, 1024}},
			Slow:   true,
		},
		{
			// The same net dynamically quantized (ConvInteger).
			Name: "isnet_small", File: "isnet_small.onnx", License: isnetLicense,
			ShapeA: map[string][]int64{"input": {1, 3, 1024, 1024}},
			ShapeB: map[string][]int64{"input": {1, 3, 1024, 1024}},
			Slow:   true,
		},
	}
}

// RealModelPath returns the path of the fetched model. It skips the test,
// saying why, unless INFER_REALMODELS=1 and the file is there (`make
// realmodels` fetches it, which needs the npm registry).
func RealModelPath(t testing.TB, m RealModel) string {
	t.Helper()
	if os.Getenv(EnvRealModels) != "1" {
		t.Skipf("real-model tests are off: set %s=1 (make realmodels-test)", EnvRealModels)
	}
	name := filepath.Join("testdata", "fixtures", "realmodels", m.File)
	p := filepath.Join(RepoRoot(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real-model corpus absent (no %s): run `make realmodels` (needs the npm registry)", name)
	}
	return p
}
