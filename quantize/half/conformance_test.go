package half

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// testInputs reads test_data_set_0 of an ONNX conformance model, or
// returns nil when it has none or it does not fit.
func testInputs(dir string, m *onnxpb.ModelProto) map[string]*tensor.Tensor {
	specs := dataset.SpecsFromGraph(m.GetGraph())
	feeds := map[string]*tensor.Tensor{}
	for k, s := range specs {
		b, err := os.ReadFile(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", k)))
		if err != nil {
			return nil
		}
		var tp onnxpb.TensorProto
		if proto.Unmarshal(b, &tp) != nil {
			return nil
		}
		x, err := tensor.FromProto(&tp)
		if err != nil {
			return nil
		}
		feeds[s.Name] = x
	}
	return feeds
}

// TestConformanceModels converts every ONNX conformance model (single
// operators, and old-opset PyTorch exports) three ways: to float16, to
// bfloat16 with CPUBlockOps, and to bfloat16 alone as for a GPU. Each
// conversion is refused for a stated reason, or gives a model that passes
// ONNX Runtime's type checks; the first two must run whenever the
// original runs, with finite float outputs within minConformanceSQNR of
// the original's (the models' own inputs, some large or on rounding
// boundaries).
func TestConformanceModels(t *testing.T) {
	testutil.InitORT(t)
	dirs := testutil.ConformanceDirs(t)
	type variant struct {
		name   string
		dt     tensor.DType
		cpu    bool // block what the CPU provider lacks, then run
		minDB  float64
		counts map[string]int
	}
	variants := []*variant{
		{name: "float16", dt: tensor.Float16, cpu: true, minDB: 30},
		{name: "bfloat16 on CPU", dt: tensor.BFloat16Type, cpu: true, minDB: 20},
		{name: "bfloat16 type checks", dt: tensor.BFloat16Type},
	}
	for _, v := range variants {
		v.counts = map[string]int{}
	}
	for _, d := range dirs {
		name := filepath.Base(d)
		lm, err := onnx.Load(filepath.Join(d, "model.onnx"), onnx.LoadOptions{})
		if err != nil {
			continue
		}
		m := lm.Proto
		feeds := testInputs(d, m)
		var want map[string]*tensor.Tensor
		if feeds != nil {
			want, _ = runQuiet(m, feeds)
		}
		for _, v := range variants {
			got := proto.Clone(m).(*onnxpb.ModelProto)
			opts := DefaultOptions(v.dt)
			if v.cpu {
				opts.BlockOps = CPUBlockOps(m, v.dt)
			}
			if _, err := Convert(got, opts); err != nil {
				reason := ""
				for _, key := range []string{"needs opset 6", "already fp16", "already bf16", "already quantized"} {
					if strings.Contains(err.Error(), key) {
						reason = key
					}
				}
				if reason == "" {
					t.Errorf("%s (%s): %v", name, v.name, err)
				}
				v.counts["refused: "+reason]++
				continue
			}
			v.counts["converted"]++
			if want == nil {
				continue
			}
			if !v.cpu {
				if err := sessionErr(got); err != nil && !strings.Contains(err.Error(), "Could not find an implementation") {
					t.Errorf("%s (%s): %v", name, v.name, err)
				}
				continue
			}
			have, err := runQuiet(got, feeds)
			if err != nil {
				t.Errorf("%s (%s): the original runs, the converted model does not: %v", name, v.name, err)
				continue
			}
			v.counts["compared"]++
			for out, w := range floatOnly(want) {
				if !finite(w) {
					continue
				}
				h, ok := have[out]
				if !ok || !h.DType().IsFloat() {
					t.Errorf("%s (%s): output %q lost", name, v.name, out)
					continue
				}
				db := sqnr(t, map[string]*tensor.Tensor{out: w}, map[string]*tensor.Tensor{out: h})
				if db < v.minDB || math.IsNaN(db) {
					t.Errorf("%s (%s): output %q: SQNR %.1f dB", name, v.name, out, db)
				}
			}
		}
	}
	for _, v := range variants {
		var cs []string
		for k, n := range v.counts {
			cs = append(cs, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(cs)
		t.Logf("%s, %d models: %s", v.name, len(dirs), strings.Join(cs, ", "))
		if v.counts["converted"] < 950 || (v.cpu && v.counts["compared"] < 850) {
			t.Errorf("%s: too few models converted or compared", v.name)
		}
	}
}

func finite(t *tensor.Tensor) bool {
	v, err := tensor.AsFloat64(t)
	if err != nil {
		return false
	}
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
