package testmodels

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

var update = flag.Bool("update", false, "rewrite the models in testdata/ from their generators")

// The committed models must be exactly what the generators build now.
func TestGoldenFiles(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata")
	if *update {
		written, err := WriteFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range written {
			t.Logf("wrote testdata/%s", name)
		}
	}
	for _, f := range Files() {
		want, err := Marshal(f.Build())
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%v; run: go run ./internal/tools/fixtures gen", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s (%d bytes) differs from what its generator builds (%d bytes); run: go run ./internal/tools/fixtures gen", f.Name, len(got), len(want))
		}
		if len(want) > 1<<20 {
			t.Errorf("testdata/%s is %d bytes; keep committed models under 1 MiB", f.Name, len(want))
		}
	}
}

func TestBuildsAreDeterministic(t *testing.T) {
	builds := map[string]func() *onnxpb.ModelProto{
		"cnn224":      func() *onnxpb.ModelProto { return CNN(CNN224Config()) },
		"transformer": func() *onnxpb.ModelProto { return Transformer(TransformerConfig{D: 128, Opset: 17}) },
	}
	for _, f := range Files() {
		builds[f.Name] = f.Build
	}
	for name, build := range builds {
		a, err := Marshal(build())
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(build())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", name)
		}
	}
}

func TestSeedChangesWeights(t *testing.T) {
	a, _ := Marshal(MLP(MLPConfig{Seed: 1}))
	b, _ := Marshal(MLP(MLPConfig{Seed: 2}))
	if bytes.Equal(a, b) {
		t.Error("MLP seeds 1 and 2 built the same model")
	}
}

func TestModelShapes(t *testing.T) {
	opsets := map[string]int64{}
	for _, f := range Files() {
		m := f.Build()
		opsets[f.Name] = m.OpsetImport[0].Version
		in := m.Graph.Input[0].Type.GetTensorType().Shape.Dim
		out := m.Graph.Output[0].Type.GetTensorType().Shape.Dim
		batchAxis := 0
		if f.Name == "gru.onnx" {
			batchAxis = 1 // [S, N, features] in, [1, N, hidden] out
		}
		if in[batchAxis].GetDimParam() != "N" || out[batchAxis].GetDimParam() != "N" {
			t.Errorf("%s: batch axis %d is not the symbolic N on input and output", f.Name, batchAxis)
		}
	}
	want := map[string]int64{"mlp.onnx": 17, "cnn.onnx": 17, "transformer.onnx": 20, "gru.onnx": 17,
		"legacy_opset7.onnx": 7, "legacy_opset9.onnx": 9, "contrib.onnx": 17}
	for name, v := range want {
		if opsets[name] != v {
			t.Errorf("%s: opset %d, want %d", name, opsets[name], v)
		}
	}
}

func TestWeightsAsConstantsLeavesNoInitializers(t *testing.T) {
	m := MLP(MLPConfig{WeightsAsConstants: true})
	if n := len(m.Graph.Initializer); n != 0 {
		t.Errorf("%d initializers, want 0", n)
	}
	constants := 0
	for _, n := range m.Graph.Node {
		if n.OpType == "Constant" {
			constants++
		}
	}
	if constants != 6 {
		t.Errorf("%d Constant nodes, want 6 (3 weights, 3 biases)", constants)
	}
}

func TestIRVersion3ListsInitializersAsInputs(t *testing.T) {
	m := Legacy(7)
	if m.IrVersion != 3 {
		t.Fatalf("IR %d, want 3", m.IrVersion)
	}
	if got, want := len(m.Graph.Input), 1+len(m.Graph.Initializer); got != want {
		t.Errorf("%d graph inputs, want %d (input + initializers)", got, want)
	}
	if m9 := Legacy(9); len(m9.Graph.Input) != 1 || m9.IrVersion != 4 {
		t.Errorf("opset 9: IR %d with %d inputs, want IR 4 with 1", m9.IrVersion, len(m9.Graph.Input))
	}
}

func TestBuilderPanics(t *testing.T) {
	cases := []struct {
		name  string
		build func()
		want  string
	}{
		{"undefined input", func() {
			b := NewBuilder("g", 17)
			b.Input("x", tensor.Float32, "N")
			b.Node("Add", []string{"x", "nope"}, []string{"y"})
			b.Output("y", tensor.Float32, "N")
			b.Model()
		}, `reads "nope"`},
		{"undefined output", func() {
			b := NewBuilder("g", 17)
			b.Input("x", tensor.Float32, "N")
			b.Output("y", tensor.Float32, "N")
			b.Model()
		}, `output "y" is never defined`},
		{"redefined value", func() {
			b := NewBuilder("g", 17)
			b.Input("x", tensor.Float32, "N")
			b.Node("Relu", []string{"x"}, []string{"x"})
			b.Model()
		}, `already defined`},
		{"data length", func() { FloatTensor("w", []int64{2, 3}, make([]float32, 5)) }, "5 values for shape [2 3]"},
		{"dim type", func() { ValueInfo("x", tensor.Float32, 1.5) }, "dimension 1.5 has type float64"},
		{"subgraph model", func() { NewSubgraph("s").Model() }, "use Graph"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), c.want) {
					t.Errorf("panic %v, want one containing %q", r, c.want)
				}
			}()
			c.build()
		})
	}
}

func TestSubgraphNamesArePrefixed(t *testing.T) {
	g := NewSubgraph("body")
	out := g.Op("Relu", []string{"x"})
	if out != "body/Relu_0_out" {
		t.Errorf("subgraph value %q, want body/Relu_0_out", out)
	}
}
