package ort

import (
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// ProviderStatus says whether a provider starts in this process.
type ProviderStatus struct {
	Name     string `json:"name"`     // cpu, cuda, tensorrt
	ORTName  string `json:"ort_name"` // CPUExecutionProvider, ...
	Compiled bool   `json:"compiled"` // in the library's provider list
	Starts   bool   `json:"starts"`   // a session on a one-node model ran
	Reason   string `json:"reason,omitempty"`
}

// ProbeProviders tries cpu, cuda and tensorrt on a one-node model and
// reports which start, with the reason for those that do not.
func ProbeProviders() ([]ProviderStatus, error) {
	compiled, err := CompiledProviders()
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, c := range compiled {
		has[c] = true
	}
	model, err := proto.Marshal(probeModel())
	if err != nil {
		return nil, err
	}
	var out []ProviderStatus
	for _, name := range []string{CPU, CUDA, TensorRT} {
		p := Provider{Name: name}
		st := ProviderStatus{Name: name, ORTName: p.ORTName(), Compiled: has[p.ORTName()]}
		s, err := NewSession(model, Options{Providers: []Provider{p}})
		if err == nil {
			x := tensor.MustNew([]int64{1}, []float32{1})
			_, err = s.Run(map[string]*tensor.Tensor{"x": x})
			s.Close()
		}
		if err != nil {
			st.Reason = err.Error()
		} else {
			st.Starts = true
		}
		out = append(out, st)
	}
	return out, nil
}

func probeModel() *onnxpb.ModelProto {
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}},
		Graph: &onnxpb.GraphProto{
			Name:   "probe",
			Node:   []*onnxpb.NodeProto{{OpType: "Relu", Name: "relu", Input: []string{"x"}, Output: []string{"y"}}},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}
