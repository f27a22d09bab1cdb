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

// conv appends a 3×3 Conv with padding 1 (bias optional) and returns its
// output.
func conv(b *testmodels.Builder, r *testmodels.Rand, prefix, x string, cin, cout int64, bias bool) string {
	shape := []int64{cout, cin, 3, 3}
	in := []string{x, b.Initializer(prefix+".weight", shape, r.He(shape, cin*9))}
	if bias {
		in = append(in, b.Initializer(prefix+".bias", []int64{cout}, r.Normal([]int64{cout}, 0.1)))
	}
	return b.Op("Conv", in, testmodels.AttrInts("pads", 1, 1, 1, 1))
}

// addBias appends Add(x, a new initializer of shape), the initializer
// first when left is set.
func addBias(b *testmodels.Builder, r *testmodels.Rand, name, x string, left bool, shape ...int64) string {
	c := b.Initializer(name, shape, r.Normal(shape, 0.5))
	if left {
		return b.Op("Add", []string{c, x})
	}
	return b.Op("Add", []string{x, c})
}

// convs returns the Conv and ConvTranspose nodes of g.
func convs(g *onnxpb.GraphProto) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range g.Node {
		if n.OpType == "Conv" || n.OpType == "ConvTranspose" {
			out = append(out, n)
		}
	}
	return out
}

func TestFoldConvAdd(t *testing.T) {
	testutil.InitORT(t)
	cases := []struct {
		name  string
		build func(b *testmodels.Builder, r *testmodels.Rand, x string) string
		input []int64 // without the batch
		// folded is how many Adds go; shared names initializers that must
		// keep their tensors.
		folded int
		shared []string
	}{
		{"[C,1,1] on a Conv without bias", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			return b.Op("Relu", []string{addBias(b, r, "b", conv(b, r, "conv", x, 3, 4, false), false, 4, 1, 1)})
		}, []int64{3, 6, 6}, 1, nil},
		{"[1,C,1,1] on the left, Conv with bias", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			return addBias(b, r, "b", conv(b, r, "conv", x, 3, 4, true), true, 1, 4, 1, 1)
		}, []int64{3, 6, 6}, 1, nil},
		{"scalar", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			return b.Op("Relu", []string{addBias(b, r, "b", conv(b, r, "conv", x, 3, 4, true), false)})
		}, []int64{3, 6, 6}, 1, nil},
		{"chain of two", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			y := addBias(b, r, "b1", conv(b, r, "conv", x, 3, 4, false), false, 4, 1, 1)
			return addBias(b, r, "b2", y, true, 1)
		}, []int64{3, 6, 6}, 2, nil},
		{"grouped ConvTranspose", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			ws := []int64{4, 3, 3, 3} // group 2 → 6 outputs
			y := b.Op("ConvTranspose", []string{x, b.Initializer("deconv.weight", ws, r.He(ws, 9))}, testmodels.AttrInt("group", 2))
			return addBias(b, r, "b", y, false, 6, 1, 1)
		}, []int64{4, 5, 5}, 1, nil},
		{"1-D Conv", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			ws := []int64{4, 3, 3}
			y := b.Op("Conv", []string{x, b.Initializer("w", ws, r.He(ws, 9))})
			return addBias(b, r, "b", y, false, 4, 1)
		}, []int64{3, 8}, 1, nil},
		{"bias read elsewhere too", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			y := b.Op("Add", []string{conv(b, r, "conv", x, 3, 4, true), b.Initializer("b", []int64{4, 1, 1}, r.Normal([]int64{4, 1, 1}, 1))})
			return b.Op("Mul", []string{y, "b"})
		}, []int64{3, 6, 6}, 1, []string{"b"}},
		{"one bias for two Conv", func(b *testmodels.Builder, r *testmodels.Rand, x string) string {
			y := addBias(b, r, "b", conv(b, r, "conv1", x, 3, 4, false), false, 4, 1, 1)
			z := b.Op("Add", []string{conv(b, r, "conv2", x, 3, 4, false), "b"})
			return b.Op("Sub", []string{y, z})
		}, []int64{3, 6, 6}, 2, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("convadd", 17)
			in := append([]any{"N"}, anys(c.input)...)
			x := b.Input("input", tensor.Float32, in...)
			y := c.build(b, testmodels.NewRand(uint64(i)), x)
			b.Output(y, tensor.Float32, "?")
			orig := b.Model()
			m := clone(orig)

			n, err := prep.FoldConvAdd(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.folded {
				t.Fatalf("folded %d, want %d", n, c.folded)
			}
			if got, want := countOps(m.Graph, "Add"), countOps(orig.Graph, "Add")-c.folded; got != want {
				t.Fatalf("%d Add left, want %d", got, want)
			}
			for _, cv := range convs(m.Graph) {
				bias := initializer(m.Graph, cv.Input[len(cv.Input)-1])
				if len(cv.Input) != 3 || bias == nil || len(bias.Dims) != 1 {
					t.Fatalf("%s inputs %v, want a 1-D bias", cv.Name, cv.Input)
				}
			}
			for _, s := range c.shared {
				if !proto.Equal(initializer(m.Graph, s), initializer(orig.Graph, s)) {
					t.Fatalf("shared initializer %q changed", s)
				}
			}
			validate(t, m)
			feeds := map[string]*tensor.Tensor{"input": randomInput(uint64(i), append([]int64{2}, c.input...)...)}
			checkParity(t, m, orig, feeds, exactTol)
		})
	}
}

func anys(v []int64) []any {
	out := make([]any, len(v))
	for i, d := range v {
		out[i] = d
	}
	return out
}

func TestFoldConvAddSkips(t *testing.T) {
	model := func(build func(b *testmodels.Builder, r *testmodels.Rand, y string) string) *onnxpb.ModelProto {
		b := testmodels.NewBuilder("skip", 17)
		r := testmodels.NewRand(1)
		x := b.Input("input", tensor.Float32, "N", 3, 4, 4)
		b.Output(build(b, r, conv(b, r, "conv", x, 3, 4, false)), tensor.Float32, "N", 4, 4, 4)
		return b.Model()
	}
	cases := []skipCase{
		{"conv output read by another node", func() *onnxpb.ModelProto {
			return model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return b.Op("Mul", []string{addBias(b, r, "b", y, false, 4, 1, 1), b.Op("Relu", []string{y})})
			})
		}},
		{"conv output is a graph output", func() *onnxpb.ModelProto {
			m := model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				addBias(b, r, "b", y, false, 4, 1, 1)
				return y
			})
			// The Add's result is an output too, so it is not dead code.
			add := m.Graph.Node[len(m.Graph.Node)-1]
			m.Graph.Output = append(m.Graph.Output, testmodels.ValueInfo(add.Output[0], tensor.Float32, "N", 4, 4, 4))
			return m
		}},
		{"[C] broadcasts along the width", func() *onnxpb.ModelProto {
			return model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return addBias(b, r, "b", y, false, 4)
			})
		}},
		{"bias varies along the width", func() *onnxpb.ModelProto {
			return model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return addBias(b, r, "b", y, false, 4, 1, 4)
			})
		}},
		{"bias over the batch", func() *onnxpb.ModelProto {
			return model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return addBias(b, r, "b", y, false, 2, 4, 1, 1)
			})
		}},
		{"bias is a graph input", func() *onnxpb.ModelProto {
			m := model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return addBias(b, r, "b", y, false, 4, 1, 1)
			})
			m.Graph.Input = append(m.Graph.Input, testmodels.ValueInfo("b", tensor.Float32, 4, 1, 1))
			return m
		}},
		{"Add of two activations", func() *onnxpb.ModelProto {
			return model(func(b *testmodels.Builder, r *testmodels.Rand, y string) string {
				return b.Op("Add", []string{y, "input"})
			})
		}},
	}
	checkSkips(t, cases, func(m *onnxpb.ModelProto) (int, error) { return prep.FoldConvAdd(m.Graph) })
	if _, err := prep.FoldConvAdd(nil); err == nil {
		t.Fatal("nil graph accepted")
	}
}

// A bias Add between Conv and BatchNormalization goes first, so the
// BatchNormalization folds too.
func TestRunConvAddBatchNorm(t *testing.T) {
	testutil.InitORT(t)
	r := testmodels.NewRand(9)
	b := testmodels.NewBuilder("convaddbn", 17)
	x := b.Input("input", tensor.Float32, "N", 3, 6, 6)
	y := addBias(b, r, "b", conv(b, r, "conv", x, 3, 4, false), false, 4, 1, 1)
	b.Node("Relu", []string{batchNorm(b, r, "bn", y, 4)}, []string{"output"})
	b.Output("output", tensor.Float32, "N", 4, 6, 6)
	orig := b.Model()
	m := clone(orig)
	res, err := prep.Run(m, prep.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.ConvAddsFolded != 1 || res.Folded != 1 || !slices.Contains(res.Notes, "moved 1 Add bias into Conv") {
		t.Fatalf("result %+v", res)
	}
	if len(m.Graph.Node) != 2 {
		t.Fatalf("nodes %v, want Conv → Relu", m.Graph.Node)
	}
	checkParity(t, m, orig, map[string]*tensor.Tensor{"input": randomInput(3, 2, 3, 6, 6)}, foldTol)
}
