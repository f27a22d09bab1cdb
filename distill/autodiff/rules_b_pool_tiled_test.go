package autodiff

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestMaxPoolTiledRule checks, by finite differences, the MaxPool
// gradient of non-overlapping windows (kernel = strides, no pads), which
// needs no Indices output: 2×2 on sizes the windows tile and on odd sizes
// (trailing rows no window reaches get 0), an uneven 3×2 kernel, 1-D,
// auto_pad VALID and 3-D.
func TestMaxPoolTiledRule(t *testing.T) {
	ai, ais := testmodels.AttrInts, testmodels.AttrString
	for _, c := range []struct {
		name  string
		x     []int64
		attrs []*onnxpb.AttributeProto
	}{
		{"k2s2_odd", []int64{2, 3, 7, 5}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2), ai("strides", 2, 2)}},
		{"k3x2", []int64{2, 2, 6, 6}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 2), ai("strides", 3, 2)}},
		{"valid_odd", []int64{1, 2, 8, 7}, []*onnxpb.AttributeProto{ai("kernel_shape", 3, 3), ai("strides", 3, 3), ais("auto_pad", "VALID")}},
		{"pool1d", []int64{2, 3, 10}, []*onnxpb.AttributeProto{ai("kernel_shape", 3), ai("strides", 3)}},
		{"pool3d", []int64{1, 2, 4, 4, 5}, []*onnxpb.AttributeProto{ai("kernel_shape", 2, 2, 2), ai("strides", 2, 2, 2)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := nnPoolModel("MaxPool", c.x, c.attrs...)
			feeds := map[string]*tensor.Tensor{"x": nnDistinct(1, c.x, 0.05)}
			nnFullCheck.run(t, m, feeds, "x")
		})
	}
}

// TestMaxPoolTiledTies checks that with tied maxima the whole gradient of
// a window goes to one element, the one ONNX Runtime's Indices name (the
// first in row-major window order), and that the forward MaxPool is left
// without its Indices output.
func TestMaxPoolTiledTies(t *testing.T) {
	testutil.InitORT(t)
	for _, c := range []struct {
		name string
		x    []int64
		k    []int64
	}{
		{"k2", []int64{2, 2, 4, 5}, []int64{2, 2}},
		{"k3x2", []int64{1, 3, 6, 4}, []int64{3, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Values in {0, 1, 2}: most windows hold tied maxima, and
			// the first windows are constant.
			n := testmodels.Numel(c.x)
			v := make([]float32, n)
			for i := range v {
				v[i] = float32((i*7 + i/5) % 3)
			}
			for i := range 8 {
				v[i] = 1
			}
			feeds := map[string]*tensor.Tensor{"x": tensor.MustNew(c.x, v)}
			ai := testmodels.AttrInts
			// The loss Σ y·w with w = 1, 2, 3, … tells the windows apart.
			b := testmodels.NewBuilder("ties", 17)
			b.Input("x", tensor.Float32, nnAny(c.x)...)
			b.Node("MaxPool", []string{"x"}, []string{"y"}, ai("kernel_shape", c.k...), ai("strides", c.k...))
			ys := []int64{c.x[0], c.x[1], c.x[2] / c.k[0], c.x[3] / c.k[1]}
			wv := make([]float32, testmodels.Numel(ys))
			for i := range wv {
				wv[i] = float32(i + 1)
			}
			b.Initializer("w", ys, wv)
			b.Node("Mul", []string{"y", "w"}, []string{"yw"})
			b.Node("ReduceSum", []string{"yw"}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
			b.Output("loss", tensor.Float32)
			m := b.Model()
			annotate(t, m, feeds)
			grads, err := Gradients(m, "loss", []string{"x"})
			if err != nil {
				t.Fatal(err)
			}
			for _, nd := range m.Graph.Node {
				if nd.OpType == "MaxPool" && nd.Name != "" && len(nd.Output) > 1 && nd.Output[1] != "" {
					t.Errorf("MaxPool %s has an Indices output", nd.Name)
				}
			}
			m.Graph.Output = append(m.Graph.Output, valueInfoUnknownShape(grads["x"]))
			s, err := ort.NewSessionFromModel(m, ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := s.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			got := tensor.Values[float32](out[grads["x"]])
			// The reference: ONNX Runtime's own indices.
			rb := testmodels.NewBuilder("ref", 17)
			rb.Input("x", tensor.Float32, nnAny(c.x)...)
			rb.Node("MaxPool", []string{"x"}, []string{"y", "i"}, ai("kernel_shape", c.k...), ai("strides", c.k...))
			rb.Output("i", tensor.Int64)
			rs, err := ort.NewSessionFromModel(rb.Model(), ort.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			ro, err := rs.Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, n)
			for j, idx := range tensor.Values[int64](ro["i"]) {
				want[idx] += wv[j]
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("dx[%d] = %g, want %g (x %v)", i, got[i], want[i], v[i])
				}
			}
		})
	}
}
