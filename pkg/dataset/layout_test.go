package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/tensor"
)

// vadSpecs is a Silero-VAD-like signature: 2-D audio, a state batched on
// axis 1 and a scalar sample rate.
func vadSpecs(stateParam string) []InputSpec {
	return []InputSpec{
		{Name: "input", DType: tensor.Float32, Shape: []int64{-1, -1}, DimParams: []string{"batch", "samples"}},
		{Name: "state", DType: tensor.Float32, Shape: []int64{2, -1, 128}, DimParams: []string{"", stateParam, ""}},
		{Name: "sr", DType: tensor.Int64, Shape: []int64{}},
	}
}

func TestLayoutOf(t *testing.T) {
	cases := []struct {
		name  string
		specs []InputSpec
		axis  []int
		fixed int
	}{
		{"state named like the batch", vadSpecs("batch"), []int{0, 1, -1}, 0},
		{"state with an unnamed dynamic axis", vadSpecs(""), []int{0, 1, -1}, 0},
		{"state with another name", vadSpecs("other"), []int{0, -1, -1}, 0},
		{"fixed batch", []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{64, 1024}}}, []int{0}, 64},
		{"fixed batch with a state of another first dim", []InputSpec{
			{Name: "x", DType: tensor.Float32, Shape: []int64{1, 512}},
			{Name: "h", DType: tensor.Float32, Shape: []int64{2, 1, 64}},
		}, []int{0, -1}, 1},
		{"fixed input beside a dynamic batch", []InputSpec{
			{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 8}},
			{Name: "table", DType: tensor.Float32, Shape: []int64{4, 8}},
		}, []int{0, -1}, 0},
		{"unknown rank", []InputSpec{{Name: "u", DType: tensor.Float32}}, []int{0}, 0},
	}
	for _, c := range cases {
		l := LayoutOf(c.specs)
		if !slices.Equal(l.Axis, c.axis) || l.Fixed != c.fixed {
			t.Errorf("%s: axes %v fixed %d, want %v and %d", c.name, l.Axis, l.Fixed, c.axis, c.fixed)
		}
	}
}

func TestResolveShapesAreRealistic(t *testing.T) {
	specs := []InputSpec{
		{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 3, 48, -1}, DimParams: []string{"N", "", "", "W"}},
		{Name: "ids", DType: tensor.Int64, Shape: []int64{-1, -1}, DimParams: []string{"N", "S"}},
		{Name: "mask", DType: tensor.Int64, Shape: []int64{-1, -1}, DimParams: []string{"N", "S"}},
		{Name: "state", DType: tensor.Float32, Shape: []int64{2, -1, 16}, DimParams: []string{"", "N", ""}},
		{Name: "sr", DType: tensor.Int64, Shape: []int64{}},
	}
	a, err := ResolveShapes(specs, nil, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"x": {1, 3, 48, 224}, "ids": {1, 128}, "mask": {1, 128}, "state": {2, 1, 16}, "sr": {}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("shapes A %v, want %v", a, want)
	}
	b := AlternateShapes(specs, a, 0)
	wantB := map[string][]int64{"x": {2, 3, 48, 256}, "ids": {2, 192}, "mask": {2, 192}, "state": {2, 2, 16}, "sr": {}}
	if !reflect.DeepEqual(b, wantB) {
		t.Fatalf("shapes B %v, want %v", b, wantB)
	}
	for attempt := range Attempts {
		a, err := ResolveShapes(specs, nil, 1, attempt)
		if err != nil {
			t.Fatal(err)
		}
		b := AlternateShapes(specs, a, attempt)
		for name, sh := range a {
			for d, v := range sh {
				if v < 1 || (d > 0 && name != "state" && v == 1) {
					t.Errorf("attempt %d: %s dim %d is %d", attempt, name, d, v)
				}
				if specs[slices.IndexFunc(specs, func(s InputSpec) bool { return s.Name == name })].Shape[d] < 0 && b[name][d] == v {
					t.Errorf("attempt %d: %s dim %d is %d at both shapes", attempt, name, d, v)
				}
			}
		}
	}
	// The user's shape wins, its batch axis excepted; names carry it over.
	a, err = ResolveShapes(specs, map[string][]int64{"x": {7, 3, 48, 320}, "ids": {7, 64}}, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a["x"], []int64{2, 3, 48, 320}) || !reflect.DeepEqual(a["mask"], []int64{2, 64}) {
		t.Fatalf("user shapes: %v", a)
	}
	// A fully fixed model has one shape.
	fixed := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{64, 1024}}}
	fa, _ := ResolveShapes(fixed, nil, 0, 0)
	if fb := AlternateShapes(fixed, fa, 0); !reflect.DeepEqual(fa, fb) || !reflect.DeepEqual(fa["x"], []int64{64, 1024}) || Dynamic(fixed) {
		t.Fatalf("fixed model: %v and %v", fa, fb)
	}
}

func TestRandomFeedsStateScalarAndValues(t *testing.T) {
	specs := vadSpecs("")
	src, err := Open("random", specs, Options{BatchSize: 4, RandomSamples: 6, Values: map[string]float64{"sr": 16000}})
	if err != nil {
		t.Fatal(err)
	}
	bs := drain(t, src)
	if len(bs) != 2 {
		t.Fatalf("%d batches", len(bs))
	}
	b := bs[0]
	if got := b.Inputs["input"].Shape(); !slices.Equal(got, []int64{4, 128}) {
		t.Fatalf("input shape %v", got)
	}
	if got := b.Inputs["state"].Shape(); !slices.Equal(got, []int64{2, 4, 128}) {
		t.Fatalf("state shape %v", got)
	}
	if sr := b.Inputs["sr"]; len(sr.Shape()) != 0 || tensor.Values[int64](sr)[0] != 16000 {
		t.Fatalf("sr %v", sr)
	}
	if got := bs[1].Inputs["state"].Shape(); !slices.Equal(got, []int64{2, 2, 128}) {
		t.Fatalf("last state shape %v", got)
	}
	// Sample 1's state is the same at batch 4 and batch 1: samples are
	// laid on axis 1.
	one, err := Open("random", specs, Options{BatchSize: 1, Offset: 1, Limit: 1, RandomSamples: 6})
	if err != nil {
		t.Fatal(err)
	}
	b1 := drain(t, one)[0]
	s1 := tensor.Values[float32](b1.Inputs["state"])
	s4 := tensor.Values[float32](b.Inputs["state"])
	for layer := range 2 {
		if !slices.Equal(s1[layer*128:(layer+1)*128], s4[(layer*4+1)*128:(layer*4+2)*128]) {
			t.Fatalf("layer %d of sample 1 differs between batch sizes", layer)
		}
	}
	// Without a value the scalar is random but one value for all batches.
	src, err = Open("random", specs, Options{BatchSize: 2, RandomSamples: 4})
	if err != nil {
		t.Fatal(err)
	}
	bs = drain(t, src)
	if a, b := tensor.Values[int64](bs[0].Inputs["sr"]), tensor.Values[int64](bs[1].Inputs["sr"]); a[0] != b[0] {
		t.Fatalf("unbatched sr changed between batches: %v, %v", a, b)
	}
	for _, c := range []struct {
		values map[string]float64
		want   string
	}{
		{map[string]float64{"rate": 1}, `a value is given for "rate", which is not a model input`},
		{map[string]float64{"sr": 0.5}, `value 0.5 is not an integer`},
	} {
		s, err := Open("random", specs, Options{Values: c.values})
		if err == nil {
			_, err = s.Next()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %v: %v, want %q", c.values, err, c.want)
		}
	}
}

func TestFilesFeedStateAndValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vad.npz")
	// 3 samples; each sample's state is [2, 128] and holds its index.
	state := make([]float32, 3*2*128)
	for i := range state {
		state[i] = float32(i / 256)
	}
	writeNPZ(t, path, named{"input", rowsF64(3, 64, 0)}, named{"state", tensor.MustNew([]int64{3, 2, 128}, state)})
	specs := vadSpecs("batch")
	if _, err := Open(path, specs, Options{}); err == nil || !strings.Contains(err.Error(), `has no array for model input "sr"`) {
		t.Fatalf("missing scalar: %v", err)
	}
	src, err := Open(path, specs, Options{BatchSize: 3, Values: map[string]float64{"sr": 8000}})
	if err != nil {
		t.Fatal(err)
	}
	b := drain(t, src)[0]
	st := b.Inputs["state"]
	if !slices.Equal(st.Shape(), []int64{2, 3, 128}) {
		t.Fatalf("state shape %v", st.Shape())
	}
	v := tensor.Values[float32](st)
	for layer := range 2 {
		for i := range 3 {
			if got := v[(layer*3+i)*128]; got != float32(i) {
				t.Fatalf("state[%d][%d] holds sample %v", layer, i, got)
			}
		}
	}
	if sr := b.Inputs["sr"]; len(sr.Shape()) != 0 || tensor.Values[int64](sr)[0] != 8000 {
		t.Fatalf("sr %v", sr)
	}
	// A state stored as the model takes it (batch on axis 1) is refused
	// with the layout in the message.
	writeNPZ(t, path, named{"input", rowsF64(3, 64, 0)}, named{"state", tensor.MustNew([]int64{2, 3, 128}, state)})
	if _, err := Open(path, specs, Options{Values: map[string]float64{"sr": 8000}}); err == nil || !strings.Contains(err.Error(), "dimension") {
		t.Fatalf("state laid out as the model takes it: %v", err)
	}

	// Test data holds each input as the model takes it.
	set := filepath.Join(dir, "set", "test_data_set_0")
	if err := os.MkdirAll(set, 0o755); err != nil {
		t.Fatal(err)
	}
	writePB(t, filepath.Join(set, "input_0.pb"), rowsF64(3, 64, 0), "input")
	st3, _ := tensor.MoveFirstAxis(tensor.MustNew([]int64{3, 2, 128}, state), 1)
	writePB(t, filepath.Join(set, "input_1.pb"), st3, "state")
	src, err = Open(filepath.Dir(set), specs, Options{BatchSize: 3, Values: map[string]float64{"sr": 16000}})
	if err != nil {
		t.Fatal(err)
	}
	b = drain(t, src)[0]
	if !reflect.DeepEqual(tensor.Values[float32](b.Inputs["state"]), tensor.Values[float32](st3)) {
		t.Fatal("test-data state does not round-trip")
	}
}

func TestFixedBatchIsTheDefault(t *testing.T) {
	specs := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{64, 1024}}}
	src, err := Open("random", specs, Options{RandomSamples: 128})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	if b.N != 64 || !slices.Equal(b.Inputs["x"].Shape(), []int64{64, 1024}) {
		t.Fatalf("batch of %d, shape %v", b.N, b.Inputs["x"].Shape())
	}
	// Fewer samples asked than the fixed batch: one full batch, not none.
	src, err = Open("random", specs, Options{RandomSamples: 16})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 64 {
		t.Fatalf("16 random samples at a fixed batch of 64: Len %d", src.Len())
	}
}

// Random data fills an integer attention mask with ones (every position
// attended) and leaves other integer inputs random.
func TestRandomMaskIsOnes(t *testing.T) {
	specs := []InputSpec{
		{Name: "input_ids", DType: tensor.Int64, Shape: []int64{-1, -1}},
		{Name: "attention_mask", DType: tensor.Int64, Shape: []int64{-1, -1}},
	}
	src, err := Open("random", specs, Options{Shapes: map[string][]int64{"input_ids": {1, 16}, "attention_mask": {1, 16}}, RandomSamples: 2, BatchSize: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	ones, others := 0, 0
	for _, v := range tensor.Values[int64](b.Inputs["attention_mask"]) {
		if v == 1 {
			ones++
		}
	}
	for _, v := range tensor.Values[int64](b.Inputs["input_ids"]) {
		if v != 1 {
			others++
		}
	}
	if ones != 32 || others == 0 {
		t.Fatalf("mask ones %d of 32, ids not 1: %d", ones, others)
	}
}
