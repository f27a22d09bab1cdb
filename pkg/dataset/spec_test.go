package dataset

import (
	"reflect"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

func tensorInput(name string, elem tensor.DType, dims ...any) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		case nil:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{})
		}
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(elem), Shape: sh}}}}
}

func TestSpecsFromGraph(t *testing.T) {
	g := &onnxpb.GraphProto{
		Input: []*onnxpb.ValueInfoProto{
			tensorInput("x", tensor.Float32, "N", 3, nil, 4),
			tensorInput("w", tensor.Float32, 3, 3),
			{Name: "noshape", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Int64)}}}},
			tensorInput("s", tensor.Bool),
			{Name: "seq", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{}}}},
		},
		Initializer: []*onnxpb.TensorProto{{Name: "w"}},
	}
	got := SpecsFromGraph(g)
	want := []InputSpec{
		{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 3, -1, 4}, DimParams: []string{"N", "", "", ""}},
		{Name: "noshape", DType: tensor.Int64},
		{Name: "s", DType: tensor.Bool, Shape: []int64{}, DimParams: []string{}},
		{Name: "seq"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SpecsFromGraph = %+v\nwant %+v", got, want)
	}
	if got[0].String() != "x float32[N 3 ? 4]" {
		t.Errorf("String = %q", got[0].String())
	}
	if SpecsFromGraph(nil) != nil {
		t.Error("nil graph has inputs")
	}
	_, err := Open("random", got, Options{Shapes: map[string][]int64{"noshape": {1, 2}}})
	if err == nil || !strings.Contains(err.Error(), `model input "seq" is not a tensor`) {
		t.Errorf("Open with a sequence input: %v", err)
	}
}

func TestParseShape(t *testing.T) {
	name, shape, err := ParseShape("input:0=1x3x224x224")
	if err != nil || name != "input:0" || !reflect.DeepEqual(shape, []int64{1, 3, 224, 224}) {
		t.Fatalf("ParseShape = %q %v %v", name, shape, err)
	}
	for _, bad := range []string{"x", "=1x2", "x=", "x=1x0", "x=1x-2", "x=1xa", "x=1x2x"} {
		if _, _, err := ParseShape(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseShape(%q) = %v", bad, err)
		}
	}
	m, err := ParseShapes([]string{"a=1x2", "b=3"})
	if err != nil || !reflect.DeepEqual(m, map[string][]int64{"a": {1, 2}, "b": {3}}) {
		t.Fatalf("ParseShapes = %v, %v", m, err)
	}
	if _, err := ParseShapes([]string{"a=1", "a=2"}); err == nil {
		t.Error("a name given twice gave no error")
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		total       int
		frac        float64
		calib, eval Range
	}{
		{100, 0.2, Range{0, 80}, Range{80, 20}},
		{10, 0.01, Range{0, 9}, Range{9, 1}},
		{10, 0.99, Range{0, 1}, Range{1, 9}},
		{7, 0, Range{0, 7}, Range{7, 0}},
	}
	for _, c := range cases {
		calib, eval, err := Split(c.total, c.frac)
		if err != nil || calib != c.calib || eval != c.eval {
			t.Errorf("Split(%d, %v) = %v %v %v, want %v %v", c.total, c.frac, calib, eval, err, c.calib, c.eval)
		}
	}
	for _, bad := range []struct {
		total int
		frac  float64
	}{{-1, 0.2}, {10, 1}, {10, -0.1}, {1, 0.5}} {
		if _, _, err := Split(bad.total, bad.frac); err == nil {
			t.Errorf("Split(%d, %v) gave no error", bad.total, bad.frac)
		}
	}
}
