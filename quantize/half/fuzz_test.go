package half

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// FuzzConvert feeds arbitrary bytes that parse as a model to Convert,
// which must return an error or a model that passes graph.Validate,
// never panic.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testutil.Testdata(f, "."), "*.onnx"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, false)
		}
	}
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, bf16 bool) {
		var m onnxpb.ModelProto
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		dt := tensor.Float16
		if bf16 {
			dt = tensor.BFloat16Type
		}
		for _, keep := range []bool{true, false} {
			c := proto.Clone(&m).(*onnxpb.ModelProto)
			_, _ = Convert(c, Options{Type: dt, KeepIOTypes: keep, BlockNodes: []string{"Relu_0"}})
		}
	})
}
