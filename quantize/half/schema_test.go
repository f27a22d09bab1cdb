package half

import (
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestSchemaCoverage loads each one-node model in float16 and bfloat16 at
// opsets 7 to 23: whenever ONNX Runtime rejects a half input as the wrong
// type, hasHalfSignature must say so, so that Convert blocks the node.
func TestSchemaCoverage(t *testing.T) {
	testutil.InitORT(t)
	for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16Type} {
		for _, c := range opCases() {
			for _, opset := range []int64{7, 9, 11, 13, 17, 18, 20, 21, 22, 23} {
				c.opset = opset
				m, feeds := buildOp(c, dt)
				_, err := runQuiet(m, feeds)
				if err == nil || !strings.Contains(err.Error(), "Type Error: Type 'tensor(") {
					continue
				}
				if hasHalfSignature(c.op, opset, int32(dt)) && !slices.Contains(DefaultBlockOps, c.op) {
					t.Errorf("%s at opset %d: ORT rejects %s but hasHalfSignature accepts it", c.op, opset, dt)
				}
			}
		}
	}
}
