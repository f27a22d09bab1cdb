package testmodels_test

import (
	"fmt"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// A two-layer toy graph with seeded weights, as a quantize or prune test
// would build it.
func ExampleBuilder() {
	r := testmodels.NewRand(42)
	b := testmodels.NewBuilder("toy", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	w1 := b.Initializer("w1", []int64{4, 8}, r.He([]int64{4, 8}, 4))
	w2 := b.Initializer("w2", []int64{8, 2}, r.Xavier([]int64{8, 2}, 8, 2))
	h := b.Op("Relu", []string{b.Op("MatMul", []string{x, w1})})
	b.Node("MatMul", []string{h, w2}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 2)
	m := b.Model()

	for _, n := range m.Graph.Node {
		fmt.Println(n.Name, n.OpType, n.Input, "->", n.Output)
	}
	fmt.Println("IR", m.IrVersion, "opset", m.OpsetImport[0].Version)
	// Output:
	// MatMul_0 MatMul [x w1] -> [MatMul_0_out]
	// Relu_0 Relu [MatMul_0_out] -> [Relu_0_out]
	// MatMul_1 MatMul [Relu_0_out w2] -> [y]
	// IR 8 opset 17
}
