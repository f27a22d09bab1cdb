package quantize

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// typesAndRanges runs m once on inputs with every node output exposed,
// writes value_info element types, and returns each float tensor's range.
func typesAndRanges(t *testing.T, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor) map[string][2]float64 {
	t.Helper()
	var extra []string
	for _, n := range m.Graph.Node {
		extra = append(extra, n.Output...)
	}
	s, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: extra, OptLevel: ort.OptDisable})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string][2]float64{}
	for name, v := range out {
		m.Graph.ValueInfo = append(m.Graph.ValueInfo, &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(v.DType())}}}})
		if v.DType() == tensor.Float32 {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range tensor.Values[float32](v) {
				lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
			}
			ranges[name] = [2]float64{lo, hi}
		}
	}
	for name, v := range inputs {
		vals, _ := tensor.AsFloat64(v)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range vals {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		ranges[name] = [2]float64{lo, hi}
	}
	return ranges
}

func p50(t *testing.T, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor, optPath string) float64 {
	s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 1, OptimizedModelPath: optPath})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Prepare(inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 5; i++ {
		p.Run()
	}
	var lat []float64
	for i := 0; i < 30; i++ {
		t0 := time.Now()
		p.Run()
		lat = append(lat, float64(time.Since(t0))/1e6)
	}
	sort.Float64s(lat)
	return lat[len(lat)/2]
}

func countOps(t *testing.T, path string) map[string]int {
	m, err := onnx.Load(path, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]int{}
	for _, n := range m.Proto.Graph.Node {
		c[n.OpType]++
	}
	return c
}

func TestExperimentMLP(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.MLP(testmodels.MLPConfig{In: 1024, Hidden: []int64{1024, 1024, 1024}, Classes: 1024, Seed: 3})
	src, _ := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), dataset.Options{RandomSamples: 64, BatchSize: 64, Seed: 1})
	b, _ := src.Next()
	ranges := typesAndRanges(t, m, b.Inputs)
	dir := t.TempDir()
	fp := p50(t, m, b.Inputs, filepath.Join(dir, "f.onnx"))
	for _, pc := range []bool{false, true} {
		q := proto.Clone(m).(*onnxpb.ModelProto)
		plan, err := BuildPlan(q, PlanOptions{PerChannel: pc})
		if err != nil {
			t.Fatal(err)
		}
		st, err := Apply(q, plan, ranges)
		if err != nil {
			t.Fatal(err)
		}
		opt := filepath.Join(dir, fmt.Sprintf("q%v.onnx", pc))
		qp := p50(t, q, b.Inputs, opt)
		t.Logf("static perchannel=%v: %+v float %.3fms int8 %.3fms speedup %.2f ops %v", pc, st, fp, qp, fp/qp, countOps(t, opt))
	}
	d := proto.Clone(m).(*onnxpb.ModelProto)
	dec, _, err := ApplyDynamic(d, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = dec
	opt := filepath.Join(dir, "d.onnx")
	dp := p50(t, d, b.Inputs, opt)
	t.Logf("dynamic: %.3fms speedup %.2f ops %v", dp, fp/dp, countOps(t, opt))
}

func TestExperimentCNN(t *testing.T) {
	testutil.InitORT(t)
	m := testmodels.CNN(testmodels.CNN224Config())
	src, _ := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), dataset.Options{RandomSamples: 1, BatchSize: 1, Seed: 1})
	b, _ := src.Next()
	ranges := typesAndRanges(t, m, b.Inputs)
	dir := t.TempDir()
	fp := p50(t, m, b.Inputs, filepath.Join(dir, "f.onnx"))
	q := proto.Clone(m).(*onnxpb.ModelProto)
	plan, err := BuildPlan(q, PlanOptions{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range plan.Nodes {
		if !d.Quantized {
			t.Logf("float: %+v", d)
		}
	}
	st, err := Apply(q, plan, ranges)
	if err != nil {
		t.Fatal(err)
	}
	opt := filepath.Join(dir, "q.onnx")
	qp := p50(t, q, b.Inputs, opt)
	t.Logf("cnn static: %+v float %.3fms int8 %.3fms speedup %.2f ops %v", st, fp, qp, fp/qp, countOps(t, opt))
}
