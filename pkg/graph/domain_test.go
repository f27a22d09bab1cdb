package graph_test

import (
	"testing"

	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

func TestIsDefaultDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"": true, "ai.onnx": true,
		"ai.onnx.ml": false, "com.microsoft": false, "AI.ONNX": false, "onnx": false,
	} {
		if got := graph.IsDefaultDomain(d); got != want {
			t.Errorf("IsDefaultDomain(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestDefaultOpset(t *testing.T) {
	imp := func(domain string, v int64) *onnxpb.OperatorSetIdProto {
		return &onnxpb.OperatorSetIdProto{Domain: domain, Version: v}
	}
	for _, c := range []struct {
		name    string
		imports []*onnxpb.OperatorSetIdProto
		want    int64
	}{
		{"none", nil, 0},
		{"other domains only", []*onnxpb.OperatorSetIdProto{imp("com.microsoft", 1), imp("ai.onnx.ml", 3)}, 0},
		{"empty domain", []*onnxpb.OperatorSetIdProto{imp("com.microsoft", 1), imp("", 17)}, 17},
		{"ai.onnx alias", []*onnxpb.OperatorSetIdProto{imp("ai.onnx.ml", 3), imp("ai.onnx", 11)}, 11},
		{"first of two", []*onnxpb.OperatorSetIdProto{imp("", 13), imp("ai.onnx", 9)}, 13},
	} {
		if got := graph.DefaultOpset(&onnxpb.ModelProto{OpsetImport: c.imports}); got != c.want {
			t.Errorf("%s: DefaultOpset = %d, want %d", c.name, got, c.want)
		}
	}
	if got := graph.DefaultOpset(nil); got != 0 {
		t.Errorf("nil model: DefaultOpset = %d, want 0", got)
	}
}
