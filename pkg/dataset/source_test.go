package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

type named struct {
	name string
	t    *tensor.Tensor
}

func writeNPZ(t *testing.T, path string, arrays ...named) {
	t.Helper()
	w, err := tensor.CreateNPZ(path, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arrays {
		if err := w.Add(a.name, a.t); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// rowsF64 returns n rows of width w whose first element is first+i, so
// each sample can be recognised after shuffling.
func rowsF64(n, w int, first float64) *tensor.Tensor {
	v := make([]float64, n*w)
	for i := range n {
		for j := range w {
			v[i*w+j] = first + float64(i) + float64(j)/10
		}
	}
	return tensor.MustNew([]int64{int64(n), int64(w)}, v)
}

// drain reads a whole pass and returns the batches.
func drain(t *testing.T, src Source) []*Batch {
	t.Helper()
	var out []*Batch
	for {
		b, err := src.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// sampleIDs lists the first element of every sample of input name.
func sampleIDs(t *testing.T, batches []*Batch, name string) []float64 {
	t.Helper()
	var ids []float64
	for _, b := range batches {
		v, err := tensor.AsFloat64(b.Inputs[name])
		if err != nil {
			t.Fatal(err)
		}
		w := len(v) / b.N
		for i := range b.N {
			ids = append(ids, v[i*w])
		}
	}
	return ids
}

func seq(lo, hi int) []float64 {
	var out []float64
	for i := lo; i < hi; i++ {
		out = append(out, float64(i))
	}
	return out
}

var xSpec = []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 3}, DimParams: []string{"N", ""}}}

func TestNPZBatchesConvertsAndLabels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.npz")
	writeNPZ(t, path,
		named{"x", rowsF64(10, 3, 0)},
		named{"labels", tensor.MustNew([]int64{10, 1}, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})},
		named{"extra", tensor.MustNew([]int64{2}, []int8{1, 2})},
	)
	src, err := Open(path, xSpec, Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Len() != 10 {
		t.Fatalf("Len = %d", src.Len())
	}
	bs := drain(t, src)
	if len(bs) != 3 || bs[0].N != 4 || bs[2].N != 2 || bs[1].Index != 4 || bs[2].Index != 8 {
		t.Fatalf("batches: %d, sizes %d/%d, indices %d/%d", len(bs), bs[0].N, bs[2].N, bs[1].Index, bs[2].Index)
	}
	x := bs[2].Inputs["x"]
	if x.DType() != tensor.Float32 || !reflect.DeepEqual(x.Shape(), []int64{2, 3}) {
		t.Fatalf("last batch x = %v", x)
	}
	if got := tensor.Values[float32](x); !reflect.DeepEqual(got, []float32{8, 8.1, 8.2, 9, 9.1, 9.2}) {
		t.Fatalf("last batch values %v", got)
	}
	if !reflect.DeepEqual(bs[1].Labels, []int64{4, 5, 6, 7}) {
		t.Fatalf("labels %v", bs[1].Labels)
	}

	// A second pass after Reset delivers the same data.
	if err := src.Reset(); err != nil {
		t.Fatal(err)
	}
	if again := sampleIDs(t, drain(t, src), "x"); !reflect.DeepEqual(again, seq(0, 10)) {
		t.Fatalf("after Reset: %v", again)
	}
	src.Close()
	if _, err := src.Next(); err == nil {
		t.Fatal("Next after Close gave no error")
	}
}

func TestNPZValidationErrors(t *testing.T) {
	dir := t.TempDir()
	f32 := func(shape []int64, v ...float32) *tensor.Tensor {
		n, _ := tensor.NumElements(shape)
		if len(v) == 0 {
			v = make([]float32, n)
		}
		return tensor.MustNew(shape, v)
	}
	cases := []struct {
		name   string
		arrays []named
		specs  []InputSpec
		want   string
	}{
		{"missing input", []named{{"a", f32([]int64{2, 3})}, {"b", f32([]int64{2, 3})}}, xSpec,
			`data.npz has no array for model input "x" (arrays: a, b)`},
		{"float into int", []named{{"ids", f32([]int64{2, 3})}},
			[]InputSpec{{Name: "ids", DType: tensor.Int64, Shape: []int64{-1, 3}}},
			`array "ids" is float32, but model input "ids" is int64 (floats are not converted to integers)`},
		{"int into float", []named{{"x", tensor.MustNew([]int64{1, 3}, []uint8{1, 2, 3})}}, xSpec,
			`array "x" is uint8, but model input "x" is float32 (integers are not converted to floats`},
		{"fixed dim", []named{{"x", f32([]int64{2, 4})}}, xSpec,
			`array "x" has shape [2 4], but model input "x" takes [N 3]: dimension 1 is 4, want 3`},
		{"rank", []named{{"x", f32([]int64{3})}}, xSpec,
			`array "x" has shape [3], but model input "x" takes [N 3]: rank 1, want 2 (the first axis counts samples)`},
		{"sample counts", []named{{"x", f32([]int64{2, 3})}, {"y", f32([]int64{3, 3})}},
			append(slices.Clone(xSpec), InputSpec{Name: "y", DType: tensor.Float32, Shape: []int64{-1, 3}}),
			`arrays have different sample counts: "x" has 2, "y" has 3`},
		{"label not integer", []named{{"x", f32([]int64{2, 3})}, {"label", f32([]int64{2})}}, xSpec,
			`label array "label" is float32; labels must be integers`},
		{"two label arrays", []named{{"x", f32([]int64{2, 3})}, {"label", tensor.MustNew([]int64{2}, []int64{0, 1})}, {"labels", tensor.MustNew([]int64{2}, []int64{0, 1})}}, xSpec,
			`has both "label" and "labels" arrays`},
		{"label count", []named{{"x", f32([]int64{2, 3})}, {"labels", tensor.MustNew([]int64{3}, []int64{0, 1, 2})}}, xSpec,
			`label array "labels" has 3 samples, "x" has 2`},
		{"shared dim param", []named{{"a", f32([]int64{2, 5})}, {"b", f32([]int64{2, 6})}},
			[]InputSpec{
				{Name: "a", DType: tensor.Float32, Shape: []int64{-1, -1}, DimParams: []string{"", "seq"}},
				{Name: "b", DType: tensor.Float32, Shape: []int64{-1, -1}, DimParams: []string{"", "seq"}},
			},
			`model inputs "a" and "b" share dimension "seq", but their arrays have 5 and 6 there`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "data.npz")
			writeNPZ(t, path, c.arrays...)
			_, err := Open(path, c.specs, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant one containing %s", err, c.want)
			}
			if !strings.Contains(err.Error(), "data.npz") {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func TestNonFiniteAndRangeErrorsNameTheSample(t *testing.T) {
	dir := t.TempDir()
	x := rowsF64(6, 3, 0)
	tensor.Values[float64](x)[4*3+1] = math.NaN()
	path := filepath.Join(dir, "nan.npz")
	writeNPZ(t, path, named{"x", x})
	src, err := Open(path, xSpec, Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(); err != nil {
		t.Fatalf("first batch (no NaN): %v", err)
	}
	_, err = src.Next()
	if err == nil || !strings.Contains(err.Error(), `nan.npz: array "x", sample 4: NaN`) {
		t.Fatalf("NaN error: %v", err)
	}
	if _, again := src.Next(); again == nil || again.Error() != err.Error() {
		t.Fatalf("source did not stay failed: %v", again)
	}

	// Shuffled and offset, the message still gives the row in the file.
	shuffled, err := Open(path, xSpec, Options{BatchSize: 6, Offset: 1, Shuffle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shuffled.Next(); err == nil || !strings.Contains(err.Error(), `array "x", sample 4: NaN`) {
		t.Fatalf("shuffled NaN error: %v", err)
	}

	allow, err := Open(path, xSpec, Options{BatchSize: 4, AllowNonFinite: true})
	if err != nil {
		t.Fatal(err)
	}
	if bs := drain(t, allow); len(bs) != 2 {
		t.Fatalf("AllowNonFinite gave %d batches", len(bs))
	}

	big := rowsF64(3, 3, 0)
	tensor.Values[float64](big)[2*3] = 1e300
	writeNPZ(t, path, named{"x", big})
	src, err = Open(path, xSpec, Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(); err == nil || !strings.Contains(err.Error(), `array "x", sample 2: value 1e+300 does not fit model input "x" (float32)`) {
		t.Fatalf("overflow error: %v", err)
	}

	ids := []InputSpec{{Name: "ids", DType: tensor.Int32, Shape: []int64{-1}}}
	writeNPZ(t, path, named{"ids", tensor.MustNew([]int64{3}, []int64{1, 2, 1 << 40})})
	src, err = Open(path, ids, Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(); err == nil || !strings.Contains(err.Error(), `array "ids", sample 2: value 1.099511627776e+12 does not fit model input "ids" (int32)`) {
		t.Fatalf("int range error: %v", err)
	}
}

func TestNPZFolderOffsetLimitAndBoundaries(t *testing.T) {
	dir := t.TempDir()
	writeNPZ(t, filepath.Join(dir, "b.npz"), named{"x", rowsF64(4, 3, 3)}, named{"label", tensor.MustNew([]int64{4}, []int64{3, 4, 5, 6})})
	writeNPZ(t, filepath.Join(dir, "a.npz"), named{"x", rowsF64(3, 3, 0)}, named{"label", tensor.MustNew([]int64{3}, []int64{0, 1, 2})})
	writeNPZ(t, filepath.Join(dir, "c.npz"), named{"x", rowsF64(5, 3, 7)}, named{"label", tensor.MustNew([]int64{5}, []int64{7, 8, 9, 10, 11})})
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o644)

	src, err := Open(dir, xSpec, Options{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	bs := drain(t, src)
	if got := sampleIDs(t, bs, "x"); !reflect.DeepEqual(got, seq(0, 12)) {
		t.Fatalf("folder order %v", got)
	}
	if len(bs) != 3 || bs[0].N != 5 || !reflect.DeepEqual(bs[0].Labels, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("first batch crossing files: %d batches, N %d, labels %v", len(bs), bs[0].N, bs[0].Labels)
	}

	part, err := Open(dir, xSpec, Options{BatchSize: 2, Offset: 2, Limit: 6})
	if err != nil {
		t.Fatal(err)
	}
	if part.Len() != 6 {
		t.Fatalf("Len with offset/limit = %d", part.Len())
	}
	if got := sampleIDs(t, drain(t, part), "x"); !reflect.DeepEqual(got, seq(2, 8)) {
		t.Fatalf("offset 2 limit 6: %v", got)
	}

	if _, err := Open(dir, xSpec, Options{Offset: 13}); err == nil || !strings.Contains(err.Error(), "offset 13 is past the end of the data (12 samples)") {
		t.Fatalf("offset past end: %v", err)
	}
	os.Remove(filepath.Join(dir, "c.npz"))
	writeNPZ(t, filepath.Join(dir, "c.npz"), named{"x", rowsF64(5, 3, 7)})
	if _, err := Open(dir, xSpec, Options{}); err == nil || !strings.Contains(err.Error(), "has a label array but") {
		t.Fatalf("labels in some files only: %v", err)
	}
}

func TestNPZFolderDifferentDynamicShapesCutBatches(t *testing.T) {
	dir := t.TempDir()
	spec := []InputSpec{{Name: "tok", DType: tensor.Int64, Shape: []int64{-1, -1}, DimParams: []string{"batch", "seq"}}}
	writeNPZ(t, filepath.Join(dir, "1.npz"), named{"tok", tensor.MustNew([]int64{3, 2}, []int64{0, 0, 1, 1, 2, 2})})
	writeNPZ(t, filepath.Join(dir, "2.npz"), named{"tok", tensor.MustNew([]int64{2, 4}, []int64{3, 3, 3, 3, 4, 4, 4, 4})})
	src, err := Open(dir, spec, Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var shapes [][]int64
	for _, b := range drain(t, src) {
		shapes = append(shapes, b.Inputs["tok"].Shape())
	}
	if want := [][]int64{{2, 2}, {1, 2}, {2, 4}}; !reflect.DeepEqual(shapes, want) {
		t.Fatalf("batch shapes %v, want %v", shapes, want)
	}

	fixed := []InputSpec{{Name: "tok", DType: tensor.Int64, Shape: []int64{2, -1}}}
	if _, err := Open(dir, fixed, Options{}); err == nil || !strings.Contains(err.Error(), "every file must have the same shapes") {
		t.Fatalf("fixed batch with differing shapes: %v", err)
	}
}

func TestShuffleIsSeededAndSplitDoesNotOverlap(t *testing.T) {
	dir := t.TempDir()
	writeNPZ(t, filepath.Join(dir, "a.npz"), named{"x", rowsF64(7, 3, 0)})
	writeNPZ(t, filepath.Join(dir, "b.npz"), named{"x", rowsF64(9, 3, 7)})
	pass := func(opts Options) []float64 {
		src, err := Open(dir, xSpec, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		return sampleIDs(t, drain(t, src), "x")
	}
	a := pass(Options{BatchSize: 3, Shuffle: true, Seed: 42})
	b := pass(Options{BatchSize: 5, Shuffle: true, Seed: 42})
	c := pass(Options{BatchSize: 3, Shuffle: true, Seed: 43})
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different orders:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, c) || reflect.DeepEqual(a, seq(0, 16)) {
		t.Fatalf("shuffle did not change the order: %v / %v", a, c)
	}
	if sorted := slices.Sorted(slices.Values(a)); !reflect.DeepEqual(sorted, seq(0, 16)) {
		t.Fatalf("shuffled pass is not a permutation: %v", a)
	}

	calib, eval, err := Split(16, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{BatchSize: 4, Shuffle: true, Seed: 7}
	cp, ep := pass(calib.Apply(opts)), pass(eval.Apply(opts))
	if len(cp) != 12 || len(ep) != 4 {
		t.Fatalf("split sizes %d/%d", len(cp), len(ep))
	}
	all := slices.Sorted(slices.Values(append(cp, ep...)))
	if !reflect.DeepEqual(all, seq(0, 16)) {
		t.Fatalf("calibration and evaluation overlap or miss samples: %v + %v", cp, ep)
	}
	for _, id := range ep {
		if id < 12 {
			t.Fatalf("evaluation part holds sample %v from the calibration range", id)
		}
	}

	// Epochs differ from each other, reproducibly.
	epochs := func() [][]float64 {
		src, err := Open(dir, xSpec, Options{BatchSize: 4, Shuffle: true, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		first := sampleIDs(t, drain(t, src), "x")
		src.Reset()
		return [][]float64{first, sampleIDs(t, drain(t, src), "x")}
	}
	e1, e2 := epochs(), epochs()
	if !reflect.DeepEqual(e1, e2) || reflect.DeepEqual(e1[0], e1[1]) {
		t.Fatalf("epochs: %v then %v", e1, e2)
	}
}

func TestFixedBatchAndScalarInputs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.npz")
	writeNPZ(t, path, named{"x", rowsF64(5, 3, 0)}, named{"temp", tensor.MustNew([]int64{5}, []float32{1, 2, 3, 4, 5})})
	fixed := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{2, 3}}}
	src, err := Open(path, fixed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 4 {
		t.Fatalf("Len with fixed batch 2 of 5 samples = %d", src.Len())
	}
	bs := drain(t, src)
	if len(bs) != 2 || bs[1].N != 2 {
		t.Fatalf("fixed batches: %d, last N %d", len(bs), bs[len(bs)-1].N)
	}
	if _, err := Open(path, fixed, Options{BatchSize: 4}); err == nil || !strings.Contains(err.Error(), `batch size 4 does not fit: model input "x" has a fixed batch dimension of 2`) {
		t.Fatalf("batch size against fixed dim: %v", err)
	}

	scalar := []InputSpec{
		{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 3}},
		{Name: "temp", DType: tensor.Float32, Shape: []int64{}},
	}
	src, err = Open(path, scalar, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	if tt := b.Inputs["temp"]; len(tt.Shape()) != 0 || tensor.Values[float32](tt)[0] != 1 || b.Inputs["x"].Shape()[0] != 1 {
		t.Fatalf("scalar batch: temp %v, x %v", tt, b.Inputs["x"])
	}
	if _, err := Open(path, scalar, Options{BatchSize: 2}); err == nil || !strings.Contains(err.Error(), "scalar") {
		t.Fatalf("batch size 2 with a scalar input: %v", err)
	}
}

func writePB(t *testing.T, path string, x *tensor.Tensor, name string) {
	t.Helper()
	tp, err := tensor.ToProto(x, name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(tp)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestONNXTestDataFolder(t *testing.T) {
	dir := t.TempDir()
	specs := []InputSpec{
		{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 2}},
		{Name: "mask", DType: tensor.Int64, Shape: []int64{-1}},
	}
	for i, set := range []int{0, 2, 10} {
		d := filepath.Join(dir, fmt.Sprintf("test_data_set_%d", set))
		v := float32(i * 10)
		writePB(t, filepath.Join(d, "input_0.pb"), tensor.MustNew([]int64{2, 2}, []float32{v, v, v + 1, v + 1}), "x")
		writePB(t, filepath.Join(d, "input_1.pb"), tensor.MustNew([]int64{2}, []int64{int64(i), int64(i)}), "")
		writePB(t, filepath.Join(d, "output_0.pb"), tensor.MustNew([]int64{1}, []float32{0}), "y")
	}
	src, err := Open(dir, specs, Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 6 {
		t.Fatalf("Len = %d", src.Len())
	}
	bs := drain(t, src)
	if got := sampleIDs(t, bs, "x"); !reflect.DeepEqual(got, []float64{0, 1, 10, 11, 20, 21}) {
		t.Fatalf("test sets read out of order: %v", got)
	}
	if bs[0].Labels != nil || !reflect.DeepEqual(tensor.Values[int64](bs[1].Inputs["mask"]), []int64{1, 2, 2}) {
		t.Fatalf("batch 2: labels %v, mask %v", bs[0].Labels, bs[1].Inputs["mask"].Data())
	}

	one, err := Open(filepath.Join(dir, "test_data_set_2"), specs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if one.Len() != 2 {
		t.Fatalf("single set Len = %d", one.Len())
	}

	os.Remove(filepath.Join(dir, "test_data_set_2", "input_1.pb"))
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), `test_data_set_2 has no input_1.pb for model input 1 "mask"`) {
		t.Fatalf("missing input file: %v", err)
	}
	writePB(t, filepath.Join(dir, "test_data_set_2", "input_1.pb"), tensor.MustNew([]int64{2, 2}, []float32{0, 0, 0, 0}), "x")
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), `holds tensor "x", but model input 1 is "mask"`) {
		t.Fatalf("swapped inputs: %v", err)
	}
	writePB(t, filepath.Join(dir, "test_data_set_2", "input_1.pb"), tensor.MustNew([]int64{3}, []int64{0, 0, 0}), "")
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), `arrays have different sample counts: "input_0.pb" has 2, "input_1.pb" has 3`) {
		t.Fatalf("count mismatch: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "test_data_set_2", "input_1.pb"), []byte("\xff\xff garbage"), 0o644)
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), "input_1.pb: not a serialized TensorProto") {
		t.Fatalf("garbage file: %v", err)
	}
	writePB(t, filepath.Join(dir, "test_data_set_0", "input_2.pb"), tensor.MustNew([]int64{1}, []int64{0}), "")
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), "input_2.pb has no model input to feed") {
		t.Fatalf("extra input file: %v", err)
	}
}

func TestRandom(t *testing.T) {
	specs := []InputSpec{
		{Name: "img", DType: tensor.Float16, Shape: []int64{-1, 3, -1, -1}, DimParams: []string{"N", "", "H", "W"}},
		{Name: "mask", DType: tensor.Int64, Shape: []int64{-1, -1}, DimParams: []string{"N", "H"}},
		{Name: "flag", DType: tensor.Bool, Shape: []int64{-1}},
	}
	opts := Options{BatchSize: 4, Seed: 3, RandomSamples: 10, Shapes: map[string][]int64{"img": {1, 3, 8, 5}}}
	src, err := Open("random", specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	bs := drain(t, src)
	if len(bs) != 3 || src.Len() != 10 {
		t.Fatalf("%d batches, Len %d", len(bs), src.Len())
	}
	if got := bs[0].Inputs["img"].Shape(); !reflect.DeepEqual(got, []int64{4, 3, 8, 5}) {
		t.Fatalf("img shape %v", got)
	}
	if got := bs[0].Inputs["mask"].Shape(); !reflect.DeepEqual(got, []int64{4, 8}) {
		t.Fatalf("mask shape %v (H should follow img)", got)
	}
	vals, _ := tensor.AsFloat64(bs[0].Inputs["img"])
	for _, v := range vals {
		if v < 0 || v >= 1 {
			t.Fatalf("uniform value %v outside [0, 1)", v)
		}
	}
	for _, v := range tensor.Values[int64](bs[1].Inputs["mask"]) {
		if v < 0 || v >= 10 {
			t.Fatalf("random int %d outside [0, 10)", v)
		}
	}

	// Sample 5 is the same whatever the batch size or offset.
	sample5 := func(o Options) []float64 {
		s, err := Open("random", specs, o)
		if err != nil {
			t.Fatal(err)
		}
		for {
			b, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if b.Index+b.N > 5-o.Offset {
				r, _ := b.Inputs["img"].Rows(5-o.Offset-b.Index, 5-o.Offset-b.Index+1)
				v, _ := tensor.AsFloat64(r)
				return v
			}
		}
	}
	o2 := opts
	o2.BatchSize, o2.Offset = 3, 2
	if !reflect.DeepEqual(sample5(opts), sample5(o2)) {
		t.Fatal("random sample 5 changed with batch size and offset")
	}
	o3 := opts
	o3.Seed = 4
	if reflect.DeepEqual(sample5(opts), sample5(o3)) {
		t.Fatal("random data ignores the seed")
	}

	bad := []struct {
		specs []InputSpec
		opts  Options
		want  string
	}{
		{[]InputSpec{{Name: "s", DType: tensor.String, Shape: []int64{-1}}}, Options{}, `cannot generate string values for model input "s"`},
		{[]InputSpec{{Name: "u", DType: tensor.Float32}}, Options{}, `model input "u" has no shape in the model`},
		{specs, Options{Shapes: map[string][]int64{"img": {1, 4, 8, 8}}}, "dimension 1 is 4, the model fixes it to 3"},
		{specs, Options{Shapes: map[string][]int64{"img": {1, 3, 8}}}, `has 3 dimensions, the model's [N 3 H W] has 4`},
		{specs, Options{Shapes: map[string][]int64{"img": {1, 3, 8, 8}, "mask": {1, 9}}}, `disagree on dimension "H" (8 and 9)`},
		{specs, Options{Shapes: map[string][]int64{"image": {1, 3, 8, 8}}}, `a shape is given for "image", which is not a model input (inputs: img, mask, flag)`},
		{specs, Options{BatchSize: -1}, "batch size -1 is negative"},
	}
	for _, c := range bad {
		if _, err := Open("random", c.specs, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(random) error %v, want %q", err, c.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "nope.npz"), xSpec, Options{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	txt := filepath.Join(dir, "data.csv")
	os.WriteFile(txt, []byte("1,2"), 0o644)
	if _, err := Open(txt, xSpec, Options{}); err == nil || !strings.Contains(err.Error(), `not an .npz file, a folder, or "random"`) {
		t.Errorf("csv: %v", err)
	}
	if _, err := Open(dir, xSpec, Options{}); err == nil || !strings.Contains(err.Error(), "has no .npz files") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Open("random", nil, Options{}); err == nil || !strings.Contains(err.Error(), "no inputs") {
		t.Errorf("no specs: %v", err)
	}
}
