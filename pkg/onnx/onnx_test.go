package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// linearModel builds y = x·W + b with W [k,n] float32 initializers.
func linearModel(k, n int) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, 4*k*n)
	for i := 0; i < k*n; i++ {
		binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(r.NormFloat64())))
	}
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(i)))
	}
	dim := func(v int64) *onnxpb.TensorShapeProto_Dimension {
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	batch := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	vi := func(name string, d ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1, Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}},
		Graph: &onnxpb.GraphProto{
			Name: "linear",
			Node: []*onnxpb.NodeProto{
				{OpType: "MatMul", Name: "mm", Input: []string{"x", "W"}, Output: []string{"xw"}},
				{OpType: "Add", Name: "add", Input: []string{"xw", "b"}, Output: []string{"y"}},
			},
			Initializer: []*onnxpb.TensorProto{
				{Name: "W", DataType: 1, Dims: []int64{int64(k), int64(n)}, RawData: w},
				{Name: "b", DataType: 1, Dims: []int64{int64(n)}, RawData: b},
			},
			Input:  []*onnxpb.ValueInfoProto{vi("x", batch, dim(int64(k)))},
			Output: []*onnxpb.ValueInfoProto{vi("y", batch, dim(int64(n)))},
		},
	}
}

func writeModel(t *testing.T, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir, "m.onnx", linearModel(8, 4))
	m, err := Load(in, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.SHA256) != 64 || m.FileBytes == 0 {
		t.Fatalf("model info not filled: %+v", m)
	}
	out := filepath.Join(dir, "out.onnx")
	if _, err := Save(m.Proto, out, SaveOptions{Inputs: []string{in}}); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(out, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, m2.Proto) {
		t.Fatal("round trip changed the model")
	}
	// Existing output refused without Force, accepted with it.
	if _, err := Save(m.Proto, out, SaveOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("want ErrExists, got %v", err)
	}
	if _, err := Save(m.Proto, out, SaveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	// The input is never overwritten, even with Force.
	if _, err := Save(m.Proto, in, SaveOptions{Force: true, Inputs: []string{in}}); err == nil || !strings.Contains(err.Error(), "input model") {
		t.Fatalf("overwriting the input: got %v", err)
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

func TestExternalDataRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := linearModel(64, 32)
	out := filepath.Join(dir, "ext.onnx")
	res, err := Save(m, out, SaveOptions{ExternalThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalPath == "" || res.ExternalSize != 64*32*4 {
		t.Fatalf("external data not written: %+v", res)
	}
	if m.Graph.Initializer[0].RawData == nil || m.Graph.Initializer[0].DataLocation != onnxpb.TensorProto_DEFAULT {
		t.Fatal("Save changed the caller's model")
	}
	st, _ := os.Stat(out)
	if st.Size() > 2048 {
		t.Fatalf("model file %d bytes: weights not moved out", st.Size())
	}
	l, err := Load(out, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.Proto.Graph.Initializer[0].RawData, m.Graph.Initializer[0].RawData) {
		t.Fatal("external weights differ after load")
	}
	if len(l.ExternalFiles) != 1 || l.ExternalBytes != 64*32*4 {
		t.Fatalf("external files %v bytes %d", l.ExternalFiles, l.ExternalBytes)
	}
}

func external(loc string, offset, length int64) []*onnxpb.StringStringEntryProto {
	return []*onnxpb.StringStringEntryProto{
		{Key: "location", Value: loc},
		{Key: "offset", Value: strconv.FormatInt(offset, 10)},
		{Key: "length", Value: strconv.FormatInt(length, 10)},
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "w.bin"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small.bin"), make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "w.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	withExternal := func(loc string, offset, length int64) string {
		m := linearModel(8, 4)
		w := m.Graph.Initializer[0]
		w.RawData = nil
		w.DataLocation = onnxpb.TensorProto_EXTERNAL
		w.ExternalData = external(loc, offset, length)
		return writeModel(t, dir, "ext_"+strings.NewReplacer("/", "_", ".", "_").Replace(loc)+fmt.Sprintf("_%d_%d.onnx", offset, length), m)
	}
	good := writeModel(t, dir, "good.onnx", linearModel(8, 4))
	raw, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "trunc.onnx")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	random := filepath.Join(dir, "random.onnx")
	rb := make([]byte, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range rb {
		rb[i] = byte(r.Uint32())
	}
	os.WriteFile(random, rb, 0o644)
	empty := filepath.Join(dir, "empty.onnx")
	os.WriteFile(empty, nil, 0o644)
	badRaw := linearModel(8, 4)
	badRaw.Graph.Initializer[0].RawData = badRaw.Graph.Initializer[0].RawData[:10]
	huge := linearModel(8, 4)
	huge.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 20}

	cases := []struct {
		name, path, want string
		opts             LoadOptions
	}{
		{"truncated", truncated, "invalid model", LoadOptions{}},
		{"random bytes", random, "invalid model", LoadOptions{}},
		{"empty", empty, "empty file", LoadOptions{}},
		{"size limit", good, "limit", LoadOptions{MaxModelBytes: 10}},
		{"absolute location", withExternal(filepath.Join(outside, "w.bin"), 0, 128), "absolute", LoadOptions{}},
		{"dotdot escape", withExternal("../w.bin", 0, 128), "leaves the model's folder", LoadOptions{}},
		{"symlink escape", withExternal("link.bin", 0, 128), "link that leaves", LoadOptions{}},
		{"past end", withExternal("small.bin", 0, 128), "past the file's end", LoadOptions{}},
		{"offset past end", withExternal("small.bin", 100, 128), "past the file's end", LoadOptions{}},
		{"wrong length", withExternal("small.bin", 0, 12), "need 128 bytes", LoadOptions{}},
		{"missing file", withExternal("nope.bin", 0, 128), "not found", LoadOptions{}},
		{"raw length", writeModel(t, dir, "badraw.onnx", badRaw), "raw_data has 10 bytes", LoadOptions{}},
		{"huge dims", writeModel(t, dir, "huge.onnx", huge), "2^36", LoadOptions{}},
		{"directory", dir, "directory", LoadOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// A model whose external data lives in a subfolder of its own folder loads.
func TestExternalSubfolder(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "weights"), 0o755)
	m := linearModel(8, 4)
	w := m.Graph.Initializer[0]
	data := w.RawData
	os.WriteFile(filepath.Join(dir, "weights", "w.bin"), append(make([]byte, 7), data...), 0o644)
	w.RawData = nil
	w.DataLocation = onnxpb.TensorProto_EXTERNAL
	w.ExternalData = external("weights/w.bin", 7, int64(len(data)))
	p := writeModel(t, dir, "m.onnx", m)
	l, err := Load(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.Proto.Graph.Initializer[0].RawData, data) {
		t.Fatal("wrong bytes read from external data")
	}
}
