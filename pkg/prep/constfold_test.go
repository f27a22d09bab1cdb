package prep_test

import (
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

// weight adds a seeded float32 initializer.
func weight(b *testmodels.Builder, name string, shape ...int64) string {
	return b.Initializer(name, shape, testmodels.NewRand(uint64(len(name))).Normal(shape, 1))
}

// ints adds a 1-D int64 initializer (a shape, axes).
func ints(b *testmodels.Builder, name string, v ...int64) string {
	return b.InitializerInt64(name, []int64{int64(len(v))}, v)
}

// typed adds an initializer of another element type, converted from
// seeded float32 values.
func typed(t *testing.T, b *testmodels.Builder, name string, d tensor.DType, shape ...int64) string {
	t.Helper()
	x, err := tensor.Cast(tensor.MustNew(shape, testmodels.NewRand(5).Normal(shape, 3)), d)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := tensor.ToProto(x, name)
	if err != nil {
		t.Fatal(err)
	}
	return b.AddTensor(tp)
}

// Each case computes a float32 constant of shape out from initializers;
// the model adds it to its input, so parity checks every value.
func TestFoldConstants(t *testing.T) {
	testutil.InitORT(t)
	cases := []struct {
		name   string
		opset  int64
		build  func(b *testmodels.Builder) string
		out    []int64
		folded map[string]int
	}{
		{"Reshape with 0 and -1", 17, func(b *testmodels.Builder) string {
			return b.Op("Reshape", []string{weight(b, "w", 2, 3, 4), ints(b, "shape", 0, -1)})
		}, []int64{2, 12}, map[string]int{"Reshape": 1}},
		{"Reshape with allowzero", 14, func(b *testmodels.Builder) string {
			return b.Op("Reshape", []string{weight(b, "w", 2, 3, 4), ints(b, "shape", -1, 4)}, testmodels.AttrInt("allowzero", 1))
		}, []int64{6, 4}, map[string]int{"Reshape": 1}},
		{"Flatten default axis", 17, func(b *testmodels.Builder) string {
			return b.Op("Flatten", []string{weight(b, "w", 2, 3, 4)})
		}, []int64{2, 12}, map[string]int{"Flatten": 1}},
		{"Flatten axis -1", 17, func(b *testmodels.Builder) string {
			return b.Op("Flatten", []string{weight(b, "w", 2, 3, 4)}, testmodels.AttrInt("axis", -1))
		}, []int64{6, 4}, map[string]int{"Flatten": 1}},
		{"Flatten axis 0", 17, func(b *testmodels.Builder) string {
			return b.Op("Flatten", []string{weight(b, "w", 2, 3, 4)}, testmodels.AttrInt("axis", 0))
		}, []int64{1, 24}, map[string]int{"Flatten": 1}},
		{"Squeeze axes input", 13, func(b *testmodels.Builder) string {
			return b.Op("Squeeze", []string{weight(b, "w", 1, 5, 1), ints(b, "axes", 0, -1)})
		}, []int64{5}, map[string]int{"Squeeze": 1}},
		{"Squeeze without axes", 13, func(b *testmodels.Builder) string {
			return b.Op("Squeeze", []string{weight(b, "w", 1, 5, 1, 2)})
		}, []int64{5, 2}, map[string]int{"Squeeze": 1}},
		{"Squeeze axes attribute", 11, func(b *testmodels.Builder) string {
			return b.Op("Squeeze", []string{weight(b, "w", 1, 5, 1)}, testmodels.AttrInts("axes", 0))
		}, []int64{5, 1}, map[string]int{"Squeeze": 1}},
		{"Unsqueeze axes input", 13, func(b *testmodels.Builder) string {
			return b.Op("Unsqueeze", []string{weight(b, "w", 5), ints(b, "axes", 0, -1)})
		}, []int64{1, 5, 1}, map[string]int{"Unsqueeze": 1}},
		{"Unsqueeze axes attribute", 11, func(b *testmodels.Builder) string {
			return b.Op("Unsqueeze", []string{weight(b, "w", 2, 3)}, testmodels.AttrInts("axes", 1))
		}, []int64{2, 1, 3}, map[string]int{"Unsqueeze": 1}},
		{"Identity", 17, func(b *testmodels.Builder) string {
			return b.Op("Identity", []string{weight(b, "w", 3)})
		}, []int64{3}, map[string]int{"Identity": 1}},
		{"Transpose default perm", 17, func(b *testmodels.Builder) string {
			return b.Op("Transpose", []string{weight(b, "w", 3, 4)})
		}, []int64{4, 3}, map[string]int{"Transpose": 1}},
		{"Transpose perm 1,2,0", 17, func(b *testmodels.Builder) string {
			return b.Op("Transpose", []string{weight(b, "w", 2, 3, 4)}, testmodels.AttrInts("perm", 1, 2, 0))
		}, []int64{3, 4, 2}, map[string]int{"Transpose": 1}},
		{"Transpose rank 4", 17, func(b *testmodels.Builder) string {
			return b.Op("Transpose", []string{weight(b, "w", 2, 3, 4, 5)}, testmodels.AttrInts("perm", 3, 1, 0, 2))
		}, []int64{5, 3, 2, 4}, map[string]int{"Transpose": 1}},
		{"Cast through float16", 17, func(b *testmodels.Builder) string {
			h := b.Op("Cast", []string{weight(b, "w", 64)}, testmodels.AttrInt("to", int64(tensor.Float16)))
			return b.Op("Cast", []string{h}, testmodels.AttrInt("to", int64(tensor.Float32)))
		}, []int64{64}, map[string]int{"Cast": 2}},
		{"Cast from float64", 17, func(b *testmodels.Builder) string {
			return b.Op("Cast", []string{typed(t, b, "w", tensor.Float64, 64)}, testmodels.AttrInt("to", int64(tensor.Float32)))
		}, []int64{64}, map[string]int{"Cast": 1}},
		{"Cast from float16", 17, func(b *testmodels.Builder) string {
			return b.Op("Cast", []string{typed(t, b, "w", tensor.Float16, 64)}, testmodels.AttrInt("to", int64(tensor.Float32)))
		}, []int64{64}, map[string]int{"Cast": 1}},
		{"chain", 17, func(b *testmodels.Builder) string {
			y := b.Op("Reshape", []string{weight(b, "w", 2, 3, 4), ints(b, "shape", 4, 6)})
			y = b.Op("Transpose", []string{y})
			return b.Op("Unsqueeze", []string{y, ints(b, "axes", 0)})
		}, []int64{1, 6, 4}, map[string]int{"Reshape": 1, "Transpose": 1, "Unsqueeze": 1}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("fold", c.opset)
			dims := make([]any, len(c.out))
			for i, d := range c.out {
				dims[i] = d
			}
			x := b.Input("x", tensor.Float32, dims...)
			y := c.build(b)
			b.Node("Add", []string{x, y}, []string{"output"})
			b.Output("output", tensor.Float32, dims...)
			orig := b.Model()
			orig.Graph.ValueInfo = append(orig.Graph.ValueInfo, testmodels.ValueInfo(y, tensor.Float32, dims...))
			m := clone(orig)

			counts, err := prep.FoldConstants(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(counts, c.folded) {
				t.Fatalf("folded %v, want %v", counts, c.folded)
			}
			if len(m.Graph.Node) != 1 || m.Graph.Node[0].OpType != "Add" {
				t.Fatalf("nodes left: %v", m.Graph.Node)
			}
			got := initializer(m.Graph, y)
			if got == nil || !slices.Equal(got.Dims, c.out) {
				t.Fatalf("initializer %q: %v, want dims %v", y, got, c.out)
			}
			if len(m.Graph.ValueInfo) != 0 {
				t.Fatalf("value_info of the folded value kept: %v", m.Graph.ValueInfo)
			}
			for _, old := range orig.Graph.Initializer {
				if !proto.Equal(old, initializer(m.Graph, old.Name)) {
					t.Fatalf("initializer %q changed", old.Name)
				}
			}
			validate(t, m)
			checkParity(t, m, orig, map[string]*tensor.Tensor{"x": randomInput(uint64(i), c.out...)}, exactTol)
		})
	}
}

// Nodes the pass does not understand, or must not fold, stay as they are.
func TestFoldConstantsSkips(t *testing.T) {
	model := func(opset int64, build func(b *testmodels.Builder, x string) string) *onnxpb.ModelProto {
		b := testmodels.NewBuilder("skip", opset)
		x := b.Input("x", tensor.Float32, 2, 3)
		b.Node("Identity", []string{build(b, x)}, []string{"output"})
		b.Output("output", tensor.Float32, "?")
		return b.Model()
	}
	cases := []skipCase{
		{"input is a graph input", func() *onnxpb.ModelProto {
			m := model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Reshape", []string{weight(b, "w", 2, 3), ints(b, "shape", 3, 2)})
			})
			m.Graph.Input = append(m.Graph.Input, testmodels.ValueInfo("w", tensor.Float32, 2, 3))
			return m
		}},
		{"output is a graph output", func() *onnxpb.ModelProto {
			b := testmodels.NewBuilder("skip", 17)
			b.Input("x", tensor.Float32, 2, 3)
			b.Node("Reshape", []string{weight(b, "w", 2, 3), ints(b, "shape", 3, 2)}, []string{"output"})
			b.Output("output", tensor.Float32, 3, 2)
			return b.Model()
		}},
		{"input is an activation", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, x string) string {
				return b.Op("Reshape", []string{x, ints(b, "shape", 3, 2)})
			})
		}},
		{"Reshape to another element count", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Reshape", []string{weight(b, "w", 2, 3), ints(b, "shape", 4, 2)})
			})
		}},
		{"Reshape with two -1", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Reshape", []string{weight(b, "w", 2, 3), ints(b, "shape", -1, -1)})
			})
		}},
		{"Reshape -1 next to an allowed 0", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Reshape", []string{weight(b, "w", 2, 3), ints(b, "shape", 0, -1)}, testmodels.AttrInt("allowzero", 1))
			})
		}},
		{"Squeeze of a dimension that is not 1", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Squeeze", []string{weight(b, "w", 1, 3), ints(b, "axes", 1)})
			})
		}},
		{"Unsqueeze with a repeated axis", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Unsqueeze", []string{weight(b, "w", 3), ints(b, "axes", 0, -3)})
			})
		}},
		{"Transpose with a bad perm", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Transpose", []string{weight(b, "w", 2, 3)}, testmodels.AttrInts("perm", 1, 1))
			})
		}},
		{"unknown attribute", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Transpose", []string{weight(b, "w", 2, 3)}, testmodels.AttrInt("fast", 1))
			})
		}},
		{"Cast to an integer", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Cast", []string{weight(b, "w", 2, 3)}, testmodels.AttrInt("to", int64(tensor.Int32)))
			})
		}},
		{"Cast float64 to float16", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Cast", []string{typed(t, b, "w", tensor.Float64, 2, 3)}, testmodels.AttrInt("to", int64(tensor.Float16)))
			})
		}},
		{"other operator", func() *onnxpb.ModelProto {
			return model(17, func(b *testmodels.Builder, _ string) string {
				return b.Op("Neg", []string{weight(b, "w", 2, 3)})
			})
		}},
	}
	checkSkips(t, cases, func(m *onnxpb.ModelProto) (int, error) {
		counts, err := prep.FoldConstants(m.Graph)
		return len(counts), err
	})
	if _, err := prep.FoldConstants(nil); err == nil {
		t.Fatal("nil graph accepted")
	}
}
