package autodiff

import (
	"errors"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestCoreRules checks Add, Sub, Mul (with broadcasting), Sum, ReduceSum
// (keepdims 0 and 1, axes) and Identity against finite differences.
func TestCoreRules(t *testing.T) {
	b := testmodels.NewBuilder("core", 17)
	x := b.Input("x", tensor.Float32, 2, 3, 4)
	w := b.Initializer("w", []int64{3, 1}, []float32{0.5, -1, 2})
	c := b.Initializer("c", []int64{4}, []float32{1, 2, 3, -1})
	a := b.Op("Mul", []string{x, w})
	s := b.Op("Sub", []string{c, a})
	d := b.Op("Add", []string{s, x})
	e := b.Op("Sum", []string{d, w, c})
	f := b.Op("Identity", []string{e})
	r1 := b.Op("ReduceSum", []string{f, b.InitializerInt64("ax", []int64{1}, []int64{-2})}, testmodels.AttrInt("keepdims", 0))
	b.Node("Mul", []string{r1, r1}, []string{"y"})
	b.Output("y", tensor.Float32, 2, 4)
	b.Node("ReduceSum", []string{e}, []string{"z"}, testmodels.AttrInt("keepdims", 1))
	b.Output("z", tensor.Float32, 1, 1, 1)
	m := b.Model()
	feeds := map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3, 4}, 0, 0)}
	defaultCheck.run(t, m, feeds, "x", "w", "c")
}

func TestNoRuleNamesTheNode(t *testing.T) {
	b := testmodels.NewBuilder("norule", 17)
	x := b.Input("x", tensor.Float32, 2, 3)
	w := b.Initializer("w", []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	a := b.Op("Mul", []string{x, w})
	b.Node("Hardmax", []string{a}, []string{"h"})
	b.Node("ReduceSum", []string{"h"}, []string{"loss"}, testmodels.AttrInt("keepdims", 0))
	b.Output("loss", tensor.Float32)
	m := b.Model()
	annotate(t, m, map[string]*tensor.Tensor{"x": randTensor(1, []int64{2, 3}, 0, 0)})
	_, err := Gradients(m, "loss", []string{"w"})
	if !errors.Is(err, ErrNoRule) || !contains(err.Error(), "Hardmax") {
		t.Fatalf("got %v", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
