package prep_test

import (
	"fmt"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
)

func TestZZDump(t *testing.T) {
	loaded, err := onnx.Load(testutil.Fixture(t, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := loaded.Proto.Graph
	fmt.Println("ir", loaded.Proto.IrVersion, loaded.Proto.OpsetImport)
	for _, n := range g.Node {
		fmt.Println(n.OpType, n.Name, n.Input, n.Output, n.Attribute)
	}
	for _, i := range g.Initializer {
		fmt.Println("init", i.Name, i.Dims, i.DataType)
	}
	for _, i := range g.Input {
		fmt.Println("in", i.Name, i.Type)
	}
	for _, i := range g.Output {
		fmt.Println("out", i.Name, i.Type)
	}
	for _, i := range g.ValueInfo {
		fmt.Println("vi", i.Name, i.Type)
	}
}
