package tensor_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// The ONNX conformance cases (make fixtures) hold TensorProtos written by
// the ONNX Python tooling, and the Cast cases hold its reference results.
// This is an external test package because testutil imports pkg/ort, which
// imports this package.

func conformanceCases(t *testing.T) []string {
	t.Helper()
	root := testutil.Fixture(t, "onnx-node")
	cases, _ := filepath.Glob(filepath.Join(root, "test_*"))
	if len(cases) == 0 {
		t.Fatalf("no ONNX conformance cases in %s: run `make fixtures`", root)
	}
	return cases
}

func readProtoFile(t *testing.T, path string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// caseTensors decodes every tensor input and output of a case's first test
// set, by position, skipping values that are not tensors.
func caseTensors(t *testing.T, dir string) (inputs, outputs map[int]*tensor.Tensor) {
	t.Helper()
	var model onnxpb.ModelProto
	readProtoFile(t, filepath.Join(dir, "model.onnx"), &model)
	set := filepath.Join(dir, "test_data_set_0")
	decode := func(kind string, vis []*onnxpb.ValueInfoProto) map[int]*tensor.Tensor {
		out := map[int]*tensor.Tensor{}
		for k, vi := range vis {
			path := filepath.Join(set, fmt.Sprintf("%s_%d.pb", kind, k))
			if vi.GetType().GetTensorType() == nil {
				continue
			}
			if _, err := os.Stat(path); err != nil {
				continue // optional inputs may be left out
			}
			var tp onnxpb.TensorProto
			readProtoFile(t, path, &tp)
			x, err := tensor.FromProto(&tp)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			want := tensor.DType(vi.GetType().GetTensorType().GetElemType())
			if want == tensor.BFloat16Type && x.DType() == tensor.Uint16 {
				// Older ONNX test data stores bfloat16 bits as uint16
				// tensors, NumPy having no bfloat16.
				bits := make([]tensor.BFloat16, x.Len())
				for i, b := range tensor.Values[uint16](x) {
					bits[i] = tensor.BFloat16(b)
				}
				x = tensor.MustNew(x.Shape(), bits)
			}
			if x.DType() != want {
				t.Fatalf("%s: decoded %s, the model says %s", path, x.DType(), want)
			}
			out[k] = x
		}
		return out
	}
	return decode("input", model.GetGraph().GetInput()), decode("output", model.GetGraph().GetOutput())
}

func TestConformanceTensorsRoundTrip(t *testing.T) {
	seen := map[tensor.DType]int{}
	for _, dir := range conformanceCases(t) {
		ins, outs := caseTensors(t, dir)
		for _, x := range append(mapValues(ins), mapValues(outs)...) {
			seen[x.DType()]++
			tp, err := tensor.ToProto(x, "t")
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			back, err := tensor.FromProto(tp)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			if x.DType() == tensor.String {
				if back.DType() != tensor.String || !slices.Equal(back.Shape(), x.Shape()) ||
					!slices.Equal(tensor.Values[string](back), tensor.Values[string](x)) {
					t.Fatalf("%s: %v changed in a round trip to %v", dir, x, back)
				}
				continue
			}
			b1, _ := tensor.Bytes(x)
			b2, _ := tensor.Bytes(back)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("%s: %v changed in a round trip", dir, x)
			}
		}
	}
	t.Logf("tensors by dtype: %v", seen)
}

func mapValues(m map[int]*tensor.Tensor) []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestConformanceCasts checks Cast between float widths against ONNX's
// reference outputs, bit for bit.
func TestConformanceCasts(t *testing.T) {
	root := testutil.Fixture(t, "onnx-node")
	names := map[string]tensor.DType{"FLOAT": tensor.Float32, "DOUBLE": tensor.Float64, "FLOAT16": tensor.Float16, "BFLOAT16": tensor.BFloat16Type}
	checked := 0
	for from, fd := range names {
		for to, td := range names {
			dir := filepath.Join(root, fmt.Sprintf("test_cast_%s_to_%s", from, to))
			if _, err := os.Stat(dir); err != nil || fd == td {
				continue
			}
			if td == tensor.BFloat16Type {
				// This case's reference data (IR 7, ONNX 1.8 era) truncates
				// to bfloat16; ONNX Runtime and later ONNX round to nearest
				// even, as Cast does (TestCastFromFloat64RoundsOnce).
				continue
			}
			ins, outs := caseTensors(t, dir)
			got, err := tensor.Cast(ins[0], td)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			g, _ := tensor.AsFloat64(got)
			w, _ := tensor.AsFloat64(outs[0])
			src, _ := tensor.AsFloat64(ins[0])
			for i := range w {
				if g[i] != w[i] && !(math.IsNaN(g[i]) && math.IsNaN(w[i])) {
					t.Errorf("%s: element %d: %v cast to %v, ONNX says %v", filepath.Base(dir), i, src[i], g[i], w[i])
					break
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("no float Cast cases among the fixtures in %s: run `make fixtures`", root)
	}
	t.Logf("%d Cast cases agree with ONNX", checked)
}

func TestFromProtoErrorWrapsName(t *testing.T) {
	_, err := tensor.FromProto(&onnxpb.TensorProto{Name: "conv.weight", DataType: 1, Dims: []int64{4}, RawData: []byte{1}})
	if err == nil || !strings.HasPrefix(err.Error(), `decode tensor "conv.weight": `) || errors.Unwrap(err) == nil {
		t.Fatalf("error %v does not wrap with the tensor name", err)
	}
}
