package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// startRuntime starts ONNX Runtime on opts's providers with a one-node
// model and runs it once, so that what the runtime sets up on first use
// (its kernel registry, a GPU context, its code paged in) is not counted in
// the peak RSS growth and session creation time of whichever model is
// measured first. Errors are left for the measurement to report.
func startRuntime(opts ort.Options) {
	s, err := ort.NewSessionFromModel(oneNodeModel(), opts)
	if err != nil {
		return
	}
	defer s.Close()
	if x, err := tensor.New([]int64{1}, []float32{1}); err == nil {
		s.Run(map[string]*tensor.Tensor{"x": x})
	}
}

// oneNodeModel is y = x + x on a float [1].
func oneNodeModel() *onnxpb.ModelProto {
	vi := func(name string) *onnxpb.ValueInfoProto {
		dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: int32(tensor.Float32), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{dim}},
		}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}},
		Graph: &onnxpb.GraphProto{
			Name:   "start",
			Node:   []*onnxpb.NodeProto{{OpType: "Add", Input: []string{"x", "x"}, Output: []string{"y"}}},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}

// rssMeter measures peak resident memory growth on Linux: writing "5" to
// /proc/self/clear_refs resets the peak (VmHWM) to the current RSS.
type rssMeter struct {
	before int64
	ok     bool
}

func startRSS() *rssMeter {
	m := &rssMeter{}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return m
	}
	rss, _, err := readStatus()
	if err != nil {
		return m
	}
	m.before, m.ok = rss, true
	return m
}

// growth returns peak RSS since start minus RSS at start, or -1.
func (m *rssMeter) growth() int64 {
	if !m.ok {
		return -1
	}
	_, hwm, err := readStatus()
	if err != nil {
		return -1
	}
	if g := hwm - m.before; g > 0 {
		return g
	}
	return 0
}

// readStatus returns VmRSS and VmHWM in bytes.
func readStatus() (rss, hwm int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"VmRSS:", "VmHWM:"} {
			if strings.HasPrefix(line, k) {
				fields := strings.Fields(line[len(k):])
				if len(fields) > 0 {
					v, _ := strconv.ParseInt(fields[0], 10, 64)
					if k == "VmRSS:" {
						rss = v * 1024
					} else {
						hwm = v * 1024
					}
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}
