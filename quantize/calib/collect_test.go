package calib

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/progress"
	"github.com/infer-ml/infer/pkg/tensor"
)

// mlpTensors are the input, the hidden activations and the logits of
// testmodels.MLP with its default widths.
var mlpTensors = []string{"input", "Gemm_0_out", "Relu_0_out", "Gemm_1_out", "Relu_1_out", "logits"}

func randomSource(t *testing.T, m *onnxpb.ModelProto) dataset.Source {
	t.Helper()
	src, err := dataset.Open("random", dataset.SpecsFromGraph(m.GetGraph()), dataset.Options{RandomSamples: 32, BatchSize: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// directMinMax runs the model itself on the first n samples of src and
// returns each tensor's extremes.
func directMinMax(t *testing.T, m *onnxpb.ModelProto, src dataset.Source, n int) map[string][2]float64 {
	t.Helper()
	sess, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: mlpTensors[1:5], OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := map[string][2]float64{}
	for seen := 0; seen < n; {
		b, err := src.Next()
		if err != nil {
			t.Fatal(err)
		}
		in := b.Inputs
		if k := min(b.N, n-seen); k < b.N {
			x, _ := in["input"].Rows(0, k)
			in = map[string]*tensor.Tensor{"input": x}
		}
		res, err := sess.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		res["input"] = in["input"]
		for name, v := range res {
			mm, ok := out[name]
			if !ok {
				mm = [2]float64{math.Inf(1), math.Inf(-1)}
			}
			for _, x := range tensor.Values[float32](v) {
				mm[0], mm[1] = min(mm[0], float64(x)), max(mm[1], float64(x))
			}
			out[name] = mm
		}
		seen += b.N
	}
	return out
}

type countingReporter struct {
	total, added int64
	started      int
}

func (r *countingReporter) Start(_ string, total int64, _ progress.Unit) {
	r.total = total
	r.started++
}
func (r *countingReporter) Add(n int64) { r.added += n }
func (r *countingReporter) Step(string) {}
func (r *countingReporter) Done()       {}

func TestCollectMLP(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	for _, limit := range []int{0, 20} {
		rep := &countingReporter{}
		st, err := Collect(m, mlpTensors, randomSource(t, m), CollectOptions{Config: Config{Method: Entropy}, Samples: limit, Progress: rep})
		if err != nil {
			t.Fatal(err)
		}
		want := 32
		if limit > 0 {
			want = limit
		}
		if st.Samples != int64(want) || rep.added != int64(want) || rep.total != int64(want) || rep.started != 1 {
			t.Fatalf("limit %d: %d samples, progress %+v", limit, st.Samples, rep)
		}
		direct := directMinMax(t, m, randomSource(t, m), want)
		widths := map[string]int64{"input": 64, "Gemm_0_out": 128, "Relu_0_out": 128, "Gemm_1_out": 64, "Relu_1_out": 64, "logits": 10}
		for _, name := range mlpTensors {
			ts := st.Tensors[name]
			if ts == nil {
				t.Fatalf("no statistics for %s", name)
			}
			if ts.Min != direct[name][0] || ts.Max != direct[name][1] {
				t.Errorf("limit %d: %s: [%v, %v], direct run [%v, %v]", limit, name, ts.Min, ts.Max, direct[name][0], direct[name][1])
			}
			if ts.Count != int64(want)*widths[name] || ts.Histogram.total() != ts.Count {
				t.Errorf("limit %d: %s: count %d, histogram %d", limit, name, ts.Count, ts.Histogram.total())
			}
		}
		if st.Tensors["Relu_0_out"].Min != 0 {
			t.Errorf("a ReLU output has minimum %v", st.Tensors["Relu_0_out"].Min)
		}
		for _, cfg := range []Config{{}, {Method: Percentile, Percentile: 99.9}, {Method: Entropy, Symmetric: true}} {
			rs, err := st.Ranges(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for name, r := range rs {
				ts := st.Tensors[name]
				if r.Min > 0 || r.Max < 0 || r.Max <= r.Min || float64(r.Max) > math.Max(ts.Max, -ts.Min)*(1+1e-6) {
					t.Errorf("%s range of %s: %+v, data [%v, %v]", cfg.Method, name, r, ts.Min, ts.Max)
				}
			}
		}
	}
}

func TestCollectSaveMergeCheck(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	dir := t.TempDir()
	whole, err := Collect(m, mlpTensors, randomSource(t, m), CollectOptions{Config: Config{Method: Percentile}})
	if err != nil {
		t.Fatal(err)
	}
	// Two "machines", each with half the data.
	var paths []string
	for i, r := range []dataset.Range{{Offset: 0, Limit: 16}, {Offset: 16, Limit: 16}} {
		src, err := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), r.Apply(dataset.Options{RandomSamples: 32, BatchSize: 8, Seed: 1}))
		if err != nil {
			t.Fatal(err)
		}
		part, err := Collect(m, mlpTensors, src, CollectOptions{Config: Config{Method: Percentile}})
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, []string{"a.json", "b.json"}[i])
		if err := part.Save(p, false); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	merged, err := LoadAll(paths...)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Samples != whole.Samples {
		t.Errorf("merged %d samples, one pass %d", merged.Samples, whole.Samples)
	}
	for name, w := range whole.Tensors {
		g := merged.Tensors[name]
		if g.Min != w.Min || g.Max != w.Max || g.Count != w.Count || g.Histogram.Range != w.Histogram.Range {
			t.Errorf("%s: merged %v %v %v, one pass %v %v %v", name, g.Min, g.Max, g.Count, w.Min, w.Max, w.Count)
		}
		for i, c := range w.Histogram.Counts {
			if g.Histogram.Counts[i] != c {
				t.Errorf("%s: bin %d: merged %d, one pass %d", name, i, g.Histogram.Counts[i], c)
				break
			}
		}
	}
	if err := merged.CheckModel(m); err != nil {
		t.Error(err)
	}
	// Other weights, same structure: accepted.
	if err := merged.CheckModel(testmodels.MLP(testmodels.MLPConfig{Seed: 2})); err != nil {
		t.Errorf("same structure, other weights: %v", err)
	}
	other := testmodels.MLP(testmodels.MLPConfig{Seed: 1, Hidden: []int64{32}})
	one, _ := Load(paths[0])
	err = one.CheckModel(other)
	want := "calibration file " + paths[0] + " was made for another model (fingerprint " + short(Fingerprint(m)) + ", this model " + short(Fingerprint(other)) + ")"
	if err == nil || err.Error() != want {
		t.Errorf("other model: %v\nwant %s", err, want)
	}
	if err := merged.CheckModel(other); err == nil || !strings.Contains(err.Error(), "calibration files "+paths[0]+", "+paths[1]+" were made") {
		t.Errorf("other model, two files: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	fp := Fingerprint(m)
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q", fp)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var again onnxpb.ModelProto
	if err := proto.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	again.ProducerName, again.Graph.Node[0].Name = "resaved", "renamed"
	if Fingerprint(&again) != fp {
		t.Error("re-saving changed the fingerprint")
	}
	if Fingerprint(testmodels.MLP(testmodels.MLPConfig{Seed: 9})) != fp {
		t.Error("other weights changed the fingerprint")
	}
	for name, o := range map[string]*onnxpb.ModelProto{
		"widths":    testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{128, 32}}),
		"constants": testmodels.MLP(testmodels.MLPConfig{WeightsAsConstants: true}),
		"cnn":       testmodels.CNN(testmodels.CNNConfig{}),
	} {
		if Fingerprint(o) == fp {
			t.Errorf("%s: same fingerprint as the MLP", name)
		}
	}
	attr := proto.Clone(m).(*onnxpb.ModelProto)
	attr.Graph.Node[0].Attribute[0].I = 0 // transB
	if Fingerprint(attr) == fp {
		t.Error("an attribute change kept the fingerprint")
	}
	if Fingerprint(nil) == "" {
		t.Error("nil model has no fingerprint")
	}
}

func TestCollectErrors(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", what, err, want)
		}
	}
	_, err := Collect(m, []string{"nope"}, randomSource(t, m), CollectOptions{})
	check("unknown tensor", err, `"nope" is not a value of the main graph`)
	_, err = Collect(m, []string{"Relu_0_out", "Relu_0_out"}, randomSource(t, m), CollectOptions{})
	check("duplicate", err, `"Relu_0_out" is listed twice`)
	_, err = Collect(m, nil, randomSource(t, m), CollectOptions{})
	check("no tensors", err, "no tensors")
	_, err = Collect(m, mlpTensors, randomSource(t, m), CollectOptions{Config: Config{Bins: 300}})
	check("bins", err, "300")
	_, err = Collect(m, mlpTensors, randomSource(t, m), CollectOptions{Samples: -1})
	check("samples", err, "-1")

	// An integer tensor inside the graph: found out when ORT returns it.
	b := testmodels.NewBuilder("shape", 17)
	x := b.Input("x", tensor.Float32, "N", 4)
	shape := b.Op("Shape", []string{x})
	cast := b.Op("Cast", []string{shape}, testmodels.AttrInt("to", int64(tensor.Float32)))
	b.Node("Identity", []string{cast}, []string{"y"})
	b.Output("y", tensor.Float32, 2)
	im := b.Model()
	_, err = Collect(im, []string{"y", shape}, randomSource(t, im), CollectOptions{})
	check("int tensor", err, `tensor "Shape_0_out" is int64; only float tensors can be calibrated`)

	// A fixed batch of 8 cannot be cut to 5 samples.
	b = testmodels.NewBuilder("fixed", 17)
	x = b.Input("x", tensor.Float32, 8, 4)
	b.Node("Relu", []string{x}, []string{"y"})
	b.Output("y", tensor.Float32, 8, 4)
	fm := b.Model()
	src, err := dataset.Open("random", dataset.SpecsFromGraph(fm.Graph), dataset.Options{RandomSamples: 32, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Collect(fm, []string{"y"}, src, CollectOptions{Samples: 5})
	check("fixed batch", err, "sample limit 5 is below the model's fixed batch size 8")
	src.Reset()
	st, err := Collect(fm, []string{"y"}, src, CollectOptions{Samples: 12})
	if err != nil || st.Samples != 8 {
		t.Errorf("fixed batch, limit 12: %v samples, %v", st, err)
	}
	// Without data.
	src, _ = dataset.Open("random", dataset.SpecsFromGraph(fm.Graph), dataset.Options{RandomSamples: 32, Seed: 1})
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	_, err = Collect(fm, []string{"y"}, src, CollectOptions{})
	check("empty data", err, "no samples")
}
