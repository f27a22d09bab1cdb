package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// deepIfModel nests depth If nodes, each in the then-branch of the one
// before; the innermost branch holds tensor, when given, as a Constant.
func deepIfModel(depth int, tensor *onnxpb.TensorProto) *onnxpb.ModelProto {
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1}}}}
	}
	inner := &onnxpb.NodeProto{OpType: "Identity", Input: []string{"x"}, Output: []string{"y"}}
	if tensor != nil {
		inner = &onnxpb.NodeProto{OpType: "Constant", Name: "deepest", Output: []string{"y"},
			Attribute: []*onnxpb.AttributeProto{{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: tensor}}}
	}
	g := &onnxpb.GraphProto{Name: "g", Node: []*onnxpb.NodeProto{inner}, Output: []*onnxpb.ValueInfoProto{vi("y")}}
	for level := range depth {
		branch := func(name string, body *onnxpb.GraphProto) *onnxpb.AttributeProto {
			return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_GRAPH, G: body}
		}
		other := &onnxpb.GraphProto{Name: "e", Node: []*onnxpb.NodeProto{{OpType: "Identity", Input: []string{"x"}, Output: []string{"y"}}}, Output: []*onnxpb.ValueInfoProto{vi("y")}}
		g = &onnxpb.GraphProto{Name: "g", Node: []*onnxpb.NodeProto{{OpType: "If", Name: fmt.Sprint("if", level), Input: []string{"c"}, Output: []string{"y"},
			Attribute: []*onnxpb.AttributeProto{branch("then_branch", g), branch("else_branch", other)}}}, Output: []*onnxpb.ValueInfoProto{vi("y")}}
	}
	g.Input = []*onnxpb.ValueInfoProto{
		{Name: "c", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: 9}}}}, vi("x")}
	return &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Walking a model's tensors no longer spells out the place of every
// subgraph level (a string growing with the depth, built at each level):
// a 3,000-deep nest costs a few hundred bytes per level, not the
// quadratic ~180 MB it cost before, and places are spelt out only when
// asked for.
func TestTensorsAtLocationIsLazy(t *testing.T) {
	const depth = 3000
	m := deepIfModel(depth, nil)
	calls := 0
	walk := func() {
		if err := TensorsAt(m, func(*onnxpb.TensorProto, *Location) error { calls++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if b := allocated(walk); b > 1000*depth {
		t.Errorf("walking a %d-deep nest allocated %d bytes, want at most %d (linear in the depth)", depth, b, 1000*depth)
	}
	if calls != 0 {
		t.Errorf("fn called %d times for a model without tensors", calls)
	}
	if b := allocated(func() { _ = Tensors(m, func(*onnxpb.TensorProto, string) error { return nil }) }); b > 1000*depth {
		t.Errorf("Tensors on a %d-deep nest without tensors allocated %d bytes, want at most %d", depth, b, 1000*depth)
	}
	// The place, when asked for, reads as before.
	var where string
	deep := deepIfModel(2, &onnxpb.TensorProto{Name: "k", DataType: 1})
	if err := TensorsAt(deep, func(_ *onnxpb.TensorProto, loc *Location) error { where = loc.String(); return nil }); err != nil {
		t.Fatal(err)
	}
	want := `node "if1" attribute "then_branch" subgraph: node "if0" attribute "then_branch" subgraph: node "deepest" attribute "value"`
	if where != want {
		t.Errorf("location %q, want %q", where, want)
	}
}

// A model nested 3,000 Ifs deep loads with work linear in its depth
// (1,600 levels took 2 s before) and is then refused by graph validation for its depth;
// a broken tensor at the bottom is named with its full place.
func TestLoadDeepNesting(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, m *onnxpb.ModelProto) string {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const depth = 3000
	path := save("deep.onnx", deepIfModel(depth, nil))
	var model *Model
	var err error
	// Parsing takes about 3 kB per level; spelling out every level's place
	// took about 45·depth²/2 bytes more (200 MB).
	if b := allocated(func() { model, err = Load(path, LoadOptions{}) }); err != nil || b > 10000*depth {
		t.Fatalf("load: %v; allocated %d bytes, want at most %d (linear in the depth)", err, b, 10000*depth)
	}
	verr := graph.Validate(model.Proto)
	if verr == nil || !strings.Contains(verr.Error(), fmt.Sprintf("subgraph nesting depth %d exceeds the limit of %d", depth, graph.MaxSubgraphDepth)) {
		t.Fatalf("validate: %v", verr)
	}
	bad := save("bad.onnx", deepIfModel(depth, &onnxpb.TensorProto{Name: "k", DataType: 1, Dims: []int64{2}, RawData: []byte{1, 2, 3}}))
	_, err = Load(bad, LoadOptions{})
	if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), `node "if0" attribute "then_branch" subgraph: node "deepest" attribute "value"): raw_data has 3 bytes`) ||
		strings.Count(err.Error(), "subgraph:") != depth {
		t.Fatalf("load of a broken tensor %d levels deep: %.300v", depth, err)
	}
}
