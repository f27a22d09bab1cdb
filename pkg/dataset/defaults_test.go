package dataset

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// defaultsGraph has a required input x [N 4], an input s [N 3] with a
// default value (an initializer named s) and an IR 3-style weight w,
// listed as an input too.
func defaultsGraph() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Input:       []*onnxpb.ValueInfoProto{tensorInput("w", tensor.Float32, 4, 3), tensorInput("x", tensor.Float32, "N", 4), tensorInput("s", tensor.Float32, "N", 3)},
		Initializer: []*onnxpb.TensorProto{{Name: "w", DataType: 1, Dims: []int64{4, 3}}, {Name: "s", DataType: 1, Dims: []int64{1, 3}}},
	}
}

func specNameList(specs []InputSpec) []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		if s.Default {
			names[len(names)-1] += "(default)"
		}
	}
	return names
}

// SpecsFromGraph still lists only the inputs that must be fed;
// FeedSpecsFromGraph adds, marked Default, those with a default value.
func TestFeedSpecsFromGraphMarksDefaults(t *testing.T) {
	g := defaultsGraph()
	if got := specNameList(SpecsFromGraph(g)); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("SpecsFromGraph: %v", got)
	}
	feed := FeedSpecsFromGraph(g)
	if got := specNameList(feed); !reflect.DeepEqual(got, []string{"x", "w(default)", "s(default)"}) {
		t.Errorf("FeedSpecsFromGraph: %v", got)
	}
	if s := feed[2]; !reflect.DeepEqual(s.Shape, []int64{-1, 3}) || s.DimParams[0] != "N" || s.DType != tensor.Float32 {
		t.Errorf("spec of s: %+v", s)
	}
}

// Data feeds an input with a default value only when it holds an array
// for it (or --input-value gives one); random data never draws one. Before,
// a model whose only input had a default was refused with "the model has
// no inputs to feed"; that is now said only of a graph without inputs.
func TestOpenFeedsDefaultedInputsTheDataHolds(t *testing.T) {
	dir := t.TempDir()
	g := defaultsGraph()
	specs := FeedSpecsFromGraph(g)
	withS := filepath.Join(dir, "with_s.npz")
	writeNPZ(t, withS, named{"s", rowsF64(6, 3, 100)}, named{"x", rowsF64(6, 4, 0)})
	plain := filepath.Join(dir, "plain.npz")
	writeNPZ(t, plain, named{"x", rowsF64(6, 4, 0)})
	inputs := func(data string, specs []InputSpec, opts Options) ([]string, int) {
		t.Helper()
		batches := drainOpen(t, data, specs, opts)
		n := 0
		for _, b := range batches {
			n += b.N
		}
		return slices.Sorted(maps.Keys(batches[0].Inputs)), n
	}
	if got, _ := inputs(withS, specs, Options{BatchSize: 2}); !reflect.DeepEqual(got, []string{"s", "x"}) {
		t.Errorf("with_s.npz feeds %v, want s and x", got)
	}
	if ids := sampleIDs(t, drainOpen(t, withS, specs, Options{BatchSize: 4}), "s"); !reflect.DeepEqual(ids, seq(100, 106)) {
		t.Errorf("s samples %v", ids)
	}
	if got, _ := inputs(dir, specs, Options{}); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("the folder (plain.npz first) feeds %v, want x", got)
	}
	if got, _ := inputs("random", specs, Options{}); !reflect.DeepEqual(got, []string{"x"}) {
		t.Errorf("random data feeds %v, want x", got)
	}
	if got, _ := inputs("random", specs, Options{Values: map[string]float64{"s": 2}}); !reflect.DeepEqual(got, []string{"s", "x"}) {
		t.Errorf("random data with a value for s feeds %v, want s and x", got)
	}
	if got := FedDefaults(withS, g, nil); !reflect.DeepEqual(got, []string{"s"}) {
		t.Errorf("FedDefaults(with_s.npz) = %v", got)
	}
	if got := FedDefaults("random", g, nil); got != nil {
		t.Errorf("FedDefaults(random) = %v", got)
	}

	// Every input has a default: random data runs on them, 16 samples of
	// one run each; file data must hold one of them.
	only := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{tensorInput("x", tensor.Float32, 1, 4)}, Initializer: []*onnxpb.TensorProto{{Name: "x", DataType: 1, Dims: []int64{1, 4}}}}
	if got, n := inputs("random", FeedSpecsFromGraph(only), Options{}); len(got) != 0 || n != 16 {
		t.Errorf("random data on defaults: inputs %v, %d samples; want none, 16", got, n)
	}
	if _, err := Open("random", FeedSpecsFromGraph(only), Options{BatchSize: 4}); err == nil || !strings.Contains(err.Error(), "each sample is one run") {
		t.Errorf("batch size 4 on defaults: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "plain.npz"), FeedSpecsFromGraph(&onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{tensorInput("s", tensor.Float32, 1, 3)}, Initializer: []*onnxpb.TensorProto{{Name: "s"}}}), Options{}); err == nil ||
		!strings.Contains(err.Error(), "it holds no array for any model input (s, each with a default value)") {
		t.Errorf("file data holding no input: %v", err)
	}
	if _, err := Open("random", FeedSpecsFromGraph(&onnxpb.GraphProto{}), Options{}); err == nil || !strings.Contains(err.Error(), "the model has no inputs to feed") {
		t.Errorf("graph without inputs: %v", err)
	}
}

// drainOpen opens data and reads one pass.
func drainOpen(t *testing.T, data string, specs []InputSpec, opts Options) []*Batch {
	t.Helper()
	src, err := Open(data, specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return drain(t, src)
}
