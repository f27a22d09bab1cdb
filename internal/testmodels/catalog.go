package testmodels

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// A File is a model committed under testdata/ and rebuilt by
// `go run ./internal/tools/fixtures gen`.
type File struct {
	Name  string // file name inside testdata/
	Build func() *onnxpb.ModelProto
}

// Files lists the committed models, in a fixed order.
func Files() []File {
	return []File{
		{"mlp.onnx", func() *onnxpb.ModelProto { return MLP(MLPConfig{}) }},
		{"cnn.onnx", func() *onnxpb.ModelProto { return CNN(CNNConfig{}) }},
		{"transformer.onnx", func() *onnxpb.ModelProto { return Transformer(TransformerConfig{}) }},
		{"gru.onnx", func() *onnxpb.ModelProto { return GRU(GRUConfig{}) }},
		{"mlp_constants.onnx", func() *onnxpb.ModelProto { return MLP(MLPConfig{WeightsAsConstants: true}) }},
		{"if_constant_branches.onnx", IfConstantBranches},
		{"legacy_opset7.onnx", func() *onnxpb.ModelProto { return Legacy(7) }},
		{"legacy_opset9.onnx", func() *onnxpb.ModelProto { return Legacy(9) }},
		{"contrib.onnx", Contrib},
		{"mnist_student.onnx", MNISTStudent},
	}
}

// WriteFiles builds every model of Files and writes it into dir, each
// atomically (temporary file, then rename); files whose bytes are already
// right are left alone. It returns the names it wrote.
func WriteFiles(dir string) ([]string, error) {
	var written []string
	for _, f := range Files() {
		data, err := Marshal(f.Build())
		if err != nil {
			return written, fmt.Errorf("marshal %s: %w", f.Name, err)
		}
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := writeAtomic(path, data); err != nil {
			return written, err
		}
		written = append(written, f.Name)
	}
	return written, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
