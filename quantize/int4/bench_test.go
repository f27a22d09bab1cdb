package int4

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// BenchmarkMatMul times one [rows, 1024] × [1024, 4096] product on one
// thread: float32 MatMul against symmetric MatMulNBits at accuracy levels
// 0 and 4, blocks of 32 and 128. Compare with benchstat; nothing is
// asserted.
func BenchmarkMatMul(b *testing.B) {
	testutil.InitORT(b)
	float := matmulModel(1024, 4096, 19)
	for _, rows := range []int64{1, 64} {
		x := randomInput([]int64{rows, 1024}, 20)
		for _, c := range []struct {
			name         string
			level, block int
			int4         bool
		}{
			{"float32", 0, 0, false},
			{"int4_level0_block32", 0, 32, true},
			{"int4_level4_block32", 4, 32, true},
			{"int4_level4_block128", 4, 128, true},
		} {
			b.Run(fmt.Sprintf("rows%d/%s", rows, c.name), func(b *testing.B) {
				m := proto.Clone(float).(*onnxpb.ModelProto)
				if c.int4 {
					if _, err := Quantize(m, Options{AccuracyLevel: c.level, BlockSize: c.block, Symmetric: true}); err != nil {
						b.Fatal(err)
					}
				}
				s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				in := map[string]*tensor.Tensor{"x": x}
				for b.Loop() {
					if _, err := s.Run(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
