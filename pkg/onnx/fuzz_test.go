package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzLoadBytes checks that no input makes the loader panic; its seed corpus
// (valid models, their truncations and the committed testdata models) runs
// in every `go test`.
func FuzzLoadBytes(f *testing.F) {
	b, err := proto.Marshal(linearModel(4, 3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:len(b)-1])
	f.Add([]byte{})
	f.Add([]byte("\x08\x08\x3a\x00"))
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.onnx"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil && len(data) < 1<<20 {
			f.Add(data)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := LoadBytes(data, dir, LoadOptions{MaxModelBytes: 1 << 20, MaxExternalBytes: 1 << 20})
		if err != nil {
			return
		}
		if m.Proto.GetGraph() == nil {
			t.Fatal("loaded a model without a graph")
		}
		if _, err := proto.Marshal(m.Proto); err != nil {
			t.Fatalf("loaded model does not serialize: %v", err)
		}
	})
}
