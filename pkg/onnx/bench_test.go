package onnx

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// The test binary loads and saves a model in a child process when asked,
// so the benchmark can read that process's peak RSS alone.
func TestMain(m *testing.M) {
	if in := os.Getenv("INFER_BENCH_LOADSAVE_IN"); in != "" {
		mod, err := Load(in, LoadOptions{})
		if err == nil {
			_, err = Save(mod.Proto, os.Getenv("INFER_BENCH_LOADSAVE_OUT"), SaveOptions{ExternalThreshold: 1024})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writeExternalModel writes a model with n float32 weights of size bytes
// each, all in one external data file, streaming so the writer itself
// stays small.
func writeExternalModel(tb testing.TB, dir string, n int, size int64) (string, int64) {
	tb.Helper()
	data, err := os.Create(filepath.Join(dir, "big.onnx.data"))
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(data, 1<<20)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	g := &onnxpb.GraphProto{Name: "big"}
	var off int64
	prev := "x"
	for i := 0; i < n; i++ {
		for written := int64(0); written < size; written += int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(int64(len(chunk)), size-written)]); err != nil {
				tb.Fatal(err)
			}
		}
		name := fmt.Sprintf("w%d", i)
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{
			Name: name, DataType: 1, Dims: []int64{size / 4},
			DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: "location", Value: "big.onnx.data"},
				{Key: "offset", Value: strconv.FormatInt(off, 10)},
				{Key: "length", Value: strconv.FormatInt(size, 10)},
			},
		})
		out := fmt.Sprintf("y%d", i)
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "Add", Name: "add" + name, Input: []string{prev, name}, Output: []string{out}})
		prev = out
		off += size
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	data.Close()
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1,
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: size / 4}}}}}}}}
	}
	g.Input = []*onnxpb.ValueInfoProto{vi("x")}
	g.Output = []*onnxpb.ValueInfoProto{vi(prev)}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g})
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "big.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p, off
}

// BenchmarkLoadSave1GiB loads a model with 1 GiB of external data and saves
// it with external data again, in a child process; it reports that
// process's peak RSS as a multiple of the model size (target: under 2).
func BenchmarkLoadSave1GiB(b *testing.B) {
	dir := b.TempDir()
	in, total := writeExternalModel(b, dir, 16, 64<<20)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d.onnx", i))
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "INFER_BENCH_LOADSAVE_IN="+in, "INFER_BENCH_LOADSAVE_OUT="+out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("load/save: %v: %s", err, msg)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		peak = max(peak, ru.Maxrss*1024)
		os.Remove(out)
		os.Remove(out + ".data")
	}
	b.ReportMetric(float64(peak)/float64(total), "peakRSS/model")
	b.ReportMetric(float64(peak)/(1<<20), "peakRSS-MiB")
	b.SetBytes(total)
}

// TestLoadSaveExternalSmall runs the same child-process path on a small
// model, so `go test` covers what the benchmark measures.
func TestLoadSaveExternalSmall(t *testing.T) {
	dir := t.TempDir()
	in, total := writeExternalModel(t, dir, 3, 1<<16)
	out := filepath.Join(dir, "out.onnx")
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "INFER_BENCH_LOADSAVE_IN="+in, "INFER_BENCH_LOADSAVE_OUT="+out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	st, err := os.Stat(out + ".data")
	if err != nil || st.Size() < total {
		t.Fatalf("external data not rewritten: %v %v", st, err)
	}
	m, err := Load(out, LoadOptions{})
	if err != nil || m.ExternalBytes != total {
		t.Fatalf("reload: %v, %d bytes", err, m.ExternalBytes)
	}
}
