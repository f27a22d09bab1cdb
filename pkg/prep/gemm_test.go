package prep_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

// matmulAdd appends MatMul(x, a new [k, n] weight) → Add(·, bias) and
// returns the MatMul's and the Add's outputs.
func matmulAdd(b *testmodels.Builder, r *testmodels.Rand, prefix, x string, k, n int64, bias string, left bool) (string, string) {
	ws := []int64{k, n}
	y := b.Op("MatMul", []string{x, b.Initializer(prefix+".weight", ws, r.Xavier(ws, k, n))})
	if left {
		return y, b.Op("Add", []string{bias, y})
	}
	return y, b.Op("Add", []string{y, bias})
}

func TestFuseMatMulAdd(t *testing.T) {
	testutil.InitORT(t)
	vec := func(b *testmodels.Builder, r *testmodels.Rand, name string, shape ...int64) string {
		return b.Initializer(name, shape, r.Normal(shape, 0.5))
	}
	cases := []struct {
		name  string
		build func(b *testmodels.Builder, r *testmodels.Rand, x string) string
		fused int
		// shared names initializers that must keep their tensors.
		shared []string
	}{
		{"bias [N]", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			_, y := matmulAdd(b, r, "fc", x, 8, 5, vec(b, r, "fc.bias", 5), false)
			return b.Op("Relu", []string{y})
		}, 1, nil},
		{"bias [1,N] on the left", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			_, y := matmulAdd(b, r, "fc", x, 8, 5, vec(b, r, "fc.bias", 1, 5), true)
			return y
		}, 1, nil},
		{"bias [1,N] read by two Add and a Mul", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			c := vec(b, r, "c", 1, 5)
			_, y1 := matmulAdd(b, r, "fc1", x, 8, 5, c, false)
			_, y2 := matmulAdd(b, r, "fc2", x, 8, 5, c, false)
			return b.Op("Mul", []string{b.Op("Sub", []string{y1, y2}), c})
		}, 2, []string{"c"}},
		{"bias [1,N] read by two Add", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			c := vec(b, r, "c", 1, 5)
			_, y1 := matmulAdd(b, r, "fc1", x, 8, 5, c, false)
			_, y2 := matmulAdd(b, r, "fc2", x, 8, 5, c, true)
			return b.Op("Sub", []string{y1, y2})
		}, 2, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("gemm", 17)
			x := b.Input("input", tensor.Float32, "N", 8)
			y := c.build(b, testmodels.NewRand(uint64(i)), x)
			b.Output(y, tensor.Float32, "N", 5)
			orig := b.Model()
			// Declared types of every MatMul output, as infer-shapes writes.
			for _, n := range orig.Graph.Node {
				if n.OpType == "MatMul" {
					orig.Graph.ValueInfo = append(orig.Graph.ValueInfo, testmodels.ValueInfo(n.Output[0], tensor.Float32, "N", 5))
				}
			}
			m := clone(orig)

			n, err := prep.FuseMatMulAdd(m)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.fused || countOps(m.Graph, "Gemm") != c.fused || countOps(m.Graph, "MatMul") != 0 {
				t.Fatalf("fused %d, want %d: %v", n, c.fused, m.Graph.Node)
			}
			if got, want := countOps(m.Graph, "Add"), countOps(orig.Graph, "Add")-c.fused; got != want {
				t.Fatalf("%d Add left, want %d", got, want)
			}
			for _, node := range m.Graph.Node {
				if node.OpType == "Gemm" {
					if bias := initializer(m.Graph, node.Input[2]); !slices.Equal(bias.GetDims(), []int64{5}) {
						t.Fatalf("Gemm %v: bias %v, want dims [5]", node.Input, bias)
					}
				}
			}
			if len(m.Graph.ValueInfo) != 0 {
				t.Fatalf("value_info of the MatMul output kept: %v", m.Graph.ValueInfo)
			}
			for _, s := range c.shared {
				if !proto.Equal(initializer(m.Graph, s), initializer(orig.Graph, s)) {
					t.Fatalf("shared initializer %q changed", s)
				}
			}
			validate(t, m)
			checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(uint64(i), 3, 8)}, exactTol)
		})
	}
}

func TestFuseMatMulAddSkips(t *testing.T) {
	// model builds x [N, 8] (the rank declared) → MatMul → Add(bias).
	model := func(opset int64, build func(b *testmodels.Builder, r *testmodels.Rand, x string) string) *onnxpb.ModelProto {
		b := testmodels.NewBuilder("skip", opset)
		r := testmodels.NewRand(1)
		x := b.Input("input", tensor.Float32, "N", 8)
		b.Output(build(b, r, x), tensor.Float32, "?")
		return b.Model()
	}
	bias := func(b *testmodels.Builder, shape ...int64) string {
		return b.Initializer("bias", shape, make([]float32, testmodels.Numel(shape)))
	}
	cases := []skipCase{
		{"A of rank 3", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("skip", 17)
			x := b.Input("input", tensor.Float32, "N", 4, 8)
			_, y := matmulAdd(b, testmodels.NewRand(1), "fc", x, 8, 5, bias(b, 5), false)
			b.Output(y, tensor.Float32, "N", 4, 5)
			return b.Model()
		}},
		{"A of undeclared rank", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				_, y := matmulAdd(b, r, "fc", b.Op("Relu", []string{x}), 8, 5, bias(b, 5), false)
				return y
			})
		}},
		{"MatMul output read twice", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				mm, y := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 5), false)
				return b.Op("Mul", []string{y, mm})
			})
		}},
		{"MatMul output is a graph output", func() *onnxpb.ModelProto {
			m := model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				mm, _ := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 5), false)
				return mm
			})
			add := m.Graph.Node[1]
			m.Graph.Output = append(m.Graph.Output, testmodels.ValueInfo(add.Output[0], tensor.Float32, "N", 5))
			return m
		}},
		{"bias [2,N]", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				_, y := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 2, 5), false)
				return y
			})
		}},
		{"bias [N,1]", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				_, y := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 5, 1), false)
				return y
			})
		}},
		{"bias is an activation", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				mm := b.Op("MatMul", []string{x, b.Initializer("w", []int64{8, 8}, r.Normal([]int64{8, 8}, 1))})
				return b.Op("Add", []string{mm, x})
			})
		}},
		{"weight is a graph input", func() *onnxpb.ModelProto {
			m := model(17, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				_, y := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 5), false)
				return y
			})
			m.Graph.Input = append(m.Graph.Input, testmodels.ValueInfo("fc.weight", tensor.Float32, 8, 5))
			return m
		}},
		{"opset 6", func() *onnxpb.ModelProto {
			m := model(6, func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
				b.SetIRVersion(4)
				_, y := matmulAdd(b, r, "fc", x, 8, 5, bias(b, 5), false)
				return y
			})
			return m
		}},
	}
	checkSkips(t, cases, prep.FuseMatMulAdd)
	if _, err := prep.FuseMatMulAdd(nil); err == nil {
		t.Fatal("nil model accepted")
	}
}

// The rank of a MatMul input that only ONNX Runtime knows comes from
// infer-shapes, which Run places first.
func TestRunFusesAfterInferShapes(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(4)
	b := testmodels.NewBuilder("mlp", 17)
	x := b.Input("input", tensor.Float32, "N", 8)
	_, y := matmulAdd(b, r, "fc", b.Op("Relu", []string{x}), 8, 5, b.Initializer("fc.bias", []int64{1, 5}, r.Normal([]int64{1, 5}, 1)), false)
	b.Node("Relu", []string{y}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 5)
	orig := b.Model()

	opts := prep.DefaultOptions()
	opts.InferShapes = false
	m := clone(orig)
	if res, err := prep.Run(m, opts); err != nil || res.MatMulAddsFused != 0 {
		t.Fatalf("without infer-shapes: fused %+v, %v; want none", res, err)
	}

	m = clone(orig)
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.MatMulAddsFused != 1 || !slices.Contains(res.Notes, "fused 1 MatMul+Add into Gemm") {
		t.Fatalf("result %+v", res)
	}
	for _, vi := range m.Graph.ValueInfo {
		if initializer(m.Graph, vi.GetName()) == nil && !slices.ContainsFunc(m.Graph.Node, func(n *onnxpb.NodeProto) bool { return slices.Contains(n.Output, vi.GetName()) }) {
			t.Fatalf("value_info %q describes nothing", vi.GetName())
		}
	}
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(6, 4, 8)}, exactTol)
}
