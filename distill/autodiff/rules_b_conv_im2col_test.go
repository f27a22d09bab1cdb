package autodiff

import "testing"

// TestConvWeightGradIm2col checks dW of group-1 convolutions (the
// im2col + GEMM forms) and dX of stride-1 ones (a Conv with the flipped
// kernel) in cases TestConvRule leaves out: 3-D convolutions (plain, and
// with strides, dilations and asymmetric pads), a 1×1 kernel with stride
// 2, a kernel as large as the padded input, a batch of 1, a dilated
// stride-1 convolution with asymmetric pads and a stride-1 1-D one.
func TestConvWeightGradIm2col(t *testing.T) {
	for _, c := range []nnConvCase{
		{name: "conv3d", x: []int64{2, 2, 4, 5, 4}, m: 3, k: []int64{2, 3, 2}, group: 1, bias: true},
		{name: "conv3d_stride_dilation", x: []int64{1, 2, 6, 5, 7}, m: 2, k: []int64{2, 2, 3}, group: 1, strides: []int64{2, 1, 2}, dilation: []int64{2, 1, 1}, pads: []int64{1, 0, 1, 0, 2, 1}},
		{name: "k1_stride2", x: []int64{2, 3, 5, 6}, m: 4, k: []int64{1, 1}, group: 1, strides: []int64{2, 2}},
		{name: "kernel_covers_input", x: []int64{2, 2, 3, 4}, m: 3, k: []int64{5, 4}, group: 1, pads: []int64{1, 0, 1, 0}},
		{name: "stride1_dilated_asym", x: []int64{2, 2, 7, 6}, m: 3, k: []int64{3, 2}, group: 1, dilation: []int64{2, 1}, pads: []int64{3, 0, 1, 1}, bias: true},
		{name: "conv1d_stride1", x: []int64{2, 3, 9}, m: 2, k: []int64{3}, group: 1, pads: []int64{0, 2}},
		{name: "batch1", x: []int64{1, 4, 6, 6}, m: 5, k: []int64{3, 3}, group: 1, pads: []int64{1, 1, 1, 1}, bias: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, feeds := c.model()
			wrt := []string{"x", "w"}
			if c.bias {
				wrt = append(wrt, "bias")
			}
			nnFullCheck.run(t, m, feeds, wrt...)
		})
	}
}
