package ort

import (
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The adapters' copy shares nodes and weights with the model (a deep copy
// held every weight twice) but not the lists or the inputs and outputs it
// edits.
func TestEditableCopySharesWeights(t *testing.T) {
	b := testmodels.NewBuilder("share", 17)
	x := b.Input("x", tensor.Float32, "N", 2)
	w := b.Initializer("w", []int64{2, 2}, []float32{1, 2, 3, 4})
	b.Node("MatMul", []string{x, w}, []string{"y"})
	b.Output("y", tensor.Float32, "N", 2)
	m := b.Model()
	c := editableCopy(m)
	if c == m || c.Graph == m.Graph {
		t.Fatal("not a copy")
	}
	if c.Graph.Initializer[0] != m.Graph.Initializer[0] || c.Graph.Node[0] != m.Graph.Node[0] {
		t.Fatal("weights or nodes were copied")
	}
	if c.Graph.Input[0] == m.Graph.Input[0] || c.Graph.Output[0] == m.Graph.Output[0] {
		t.Fatal("inputs or outputs are shared")
	}
	c.Graph.Node = append(c.Graph.Node, nil)
	c.Graph.Initializer[0] = nil
	if len(m.Graph.Node) != 1 || m.Graph.Initializer[0] == nil {
		t.Fatal("editing the copy's lists changed the model")
	}
	if c.GetIrVersion() != m.GetIrVersion() || len(c.GetOpsetImport()) != len(m.GetOpsetImport()) {
		t.Fatal("model fields lost")
	}
}
