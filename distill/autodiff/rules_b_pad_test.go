package autodiff

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestPadRule checks Pad in constant mode with positive pads, with crops
// (negative pads), with an axes input (opset 18), and with pads fed at
// run time (the scatter path), for X and the constant value; and the
// reflect, edge and wrap (opset 19) modes for X.
func TestPadRule(t *testing.T) {
	xs := []int64{2, 3, 4, 5}
	for _, c := range []struct {
		name    string
		opset   int64
		mode    string
		pads    []int64
		axes    []int64
		runtime bool // pads as a graph input
	}{
		{name: "constant", opset: 17, mode: "constant", pads: []int64{0, 0, 1, 2, 0, 1, 2, 0}},
		{name: "constant_crop", opset: 17, mode: "constant", pads: []int64{0, 0, -1, 2, 0, 0, 1, -2}},
		{name: "constant_axes", opset: 18, mode: "constant", pads: []int64{2, -1, 1, 3}, axes: []int64{-1, 1}},
		{name: "constant_runtime_pads", opset: 17, mode: "constant", pads: []int64{0, 1, -1, 2, 0, 0, 1, -2}, runtime: true},
		{name: "reflect", opset: 17, mode: "reflect", pads: []int64{0, 0, 2, 1, 0, 0, 1, 3}},
		{name: "edge", opset: 17, mode: "edge", pads: []int64{0, 1, 2, 1, 0, 0, 1, 3}},
		{name: "wrap", opset: 19, mode: "wrap", pads: []int64{0, 0, 2, 1, 0, 0, 1, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("pad_"+c.name, c.opset)
			x := b.Input("x", tensor.Float32, nnAny(xs)...)
			feeds := map[string]*tensor.Tensor{"x": randTensor(1, xs, 0, 0)}
			var pads string
			if c.runtime {
				pads = b.Input("pads", tensor.Int64, len(c.pads))
				feeds["pads"] = tensor.MustNew([]int64{int64(len(c.pads))}, c.pads)
			} else {
				pads = b.InitializerInt64("pads", []int64{int64(len(c.pads))}, c.pads)
			}
			in := []string{x, pads}
			wrt := []string{"x"}
			if c.mode == "constant" {
				in = append(in, b.Initializer("cval", nil, []float32{0.5}))
				wrt = append(wrt, "cval")
			}
			if c.axes != nil {
				if len(in) == 2 {
					in = append(in, "")
				}
				in = append(in, b.InitializerInt64("axes", []int64{int64(len(c.axes))}, c.axes))
			}
			b.Node("Pad", in, []string{"y"}, testmodels.AttrString("mode", c.mode))
			b.Output("y", tensor.Float32)
			nnFullCheck.run(t, b.Model(), feeds, wrt...)
		})
	}
}

// TestResizeNearestRule checks Resize in nearest mode: integer
// upsampling (each input read by four outputs), downsampling by sizes
// with asymmetric coordinates and floor rounding, and a non-integer scale
// with half_pixel coordinates.
func TestResizeNearestRule(t *testing.T) {
	as := testmodels.AttrString
	for _, c := range []struct {
		name   string
		xs     []int64
		scales []float32
		sizes  []int64
		attrs  []*onnxpb.AttributeProto
	}{
		{name: "up2", xs: []int64{2, 2, 3, 3}, scales: []float32{1, 1, 2, 2}},
		{name: "down_sizes", xs: []int64{2, 2, 5, 7}, sizes: []int64{2, 2, 2, 3},
			attrs: []*onnxpb.AttributeProto{as("coordinate_transformation_mode", "asymmetric"), as("nearest_mode", "floor")}},
		{name: "up1_5", xs: []int64{2, 1, 4, 3}, scales: []float32{1, 1, 1.5, 2.5},
			attrs: []*onnxpb.AttributeProto{as("coordinate_transformation_mode", "half_pixel"), as("nearest_mode", "round_prefer_ceil")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testmodels.NewBuilder("resize_"+c.name, 17)
			x := b.Input("x", tensor.Float32, nnAny(c.xs)...)
			in := []string{x, ""}
			if c.scales != nil {
				in = append(in, b.Initializer("scales", []int64{4}, c.scales))
			} else {
				in = append(in, "", b.InitializerInt64("sizes", []int64{4}, c.sizes))
			}
			attrs := append([]*onnxpb.AttributeProto{as("mode", "nearest")}, c.attrs...)
			b.Node("Resize", in, []string{"y"}, attrs...)
			b.Output("y", tensor.Float32)
			nnFullCheck.run(t, b.Model(), map[string]*tensor.Tensor{"x": randTensor(1, c.xs, 0, 0)}, "x")
		})
	}
}
