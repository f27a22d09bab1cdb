package quantize

import (
	"math"
	"reflect"
	"testing"
)

// TestSearchOrder checks the accuracy search's ranking: the layer table's
// quantized nodes in its order (once each, unnamed and float rows left
// out), then the quantized nodes the table cannot show, with a NaN SQNR.
func TestSearchOrder(t *testing.T) {
	ds := []NodeDecision{
		{Name: "conv1", OpType: "Conv", Quantized: true},
		{Name: "relu", OpType: "Relu"},
		{Name: "mm", OpType: "MatMul", Quantized: true},
		{Name: "conv2", OpType: "Conv", Quantized: true},
		{Name: "", OpType: "Conv", Quantized: true},
	}
	layers := []LayerError{
		{Node: "conv2", OpType: "Conv", SQNR: 5},
		{Node: "relu", OpType: "Relu", SQNR: 6},
		{Node: "", SQNR: 7},
		{Node: "conv2", OpType: "Conv", SQNR: 8},
		{Node: "conv1", OpType: "Conv", SQNR: 9},
	}
	got := searchOrder(layers, ds)
	var names []string
	for _, le := range got {
		names = append(names, le.Node)
	}
	if want := []string{"conv2", "conv1", "mm"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
	if got[0].SQNR != 5 || got[1].SQNR != 9 || !math.IsNaN(float64(got[2].SQNR)) || got[2].OpType != "MatMul" {
		t.Errorf("rows %+v: want the table's SQNR for table rows, NaN and the op type for the others", got)
	}
	s := &accuracySearch{order: got}
	if n := s.names(2); !reflect.DeepEqual(n, []string{"conv2", "conv1"}) {
		t.Errorf("names(2) = %v", n)
	}
}
