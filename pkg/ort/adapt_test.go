package ort_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Adapting a model for ONNX Runtime (extra outputs, a scalar input with a
// default, fed and not) edits a copy: the caller's model is unchanged.
func TestAdaptLeavesCallerModel(t *testing.T) {
	testutil.InitORT(t)
	m := defaultsModel()
	before := proto.Clone(m).(*onnxpb.ModelProto)
	sum := m.Graph.Node[0].Output[0]
	s, err := ort.NewSessionFromModel(m, ort.Options{ExtraOutputs: []string{sum}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, err := tensor.New([]int64{1, 2}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	k, err := tensor.New([]int64{}, []float32{2})
	if err != nil {
		t.Fatal(err)
	}
	for _, feeds := range []map[string]*tensor.Tensor{{"x": x}, {"x": x, "k": k}} {
		out, err := s.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		if got := out[sum].Data().([]float32); got[0] != 2 || got[1] != 3 {
			t.Fatalf("extra output %v, want [2 3]", got)
		}
	}
	if !proto.Equal(before, m) {
		t.Fatal("creating the session changed the caller's model")
	}
}
