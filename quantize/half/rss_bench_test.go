package half

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/prep"
	"github.com/infer-ml/infer/pkg/tensor"
)

// The test binary converts a model file in a child process when asked, so
// a benchmark can read that process's peak RSS alone.
func TestMain(m *testing.M) {
	if in := os.Getenv("INFER_BENCH_HALF_IN"); in != "" {
		if err := childConvert(in, os.Getenv("INFER_BENCH_HALF_OUT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childConvert converts the model at in to fp16 the way `infer quantize
// --precision fp16` does on CPU (load, pre-process, convert with the CPU
// block list, save), and prints two peak RSS in bytes: up to the end of
// pre-processing, and from there (the garbage it left collected) to the
// end of the save.
func childConvert(in, out string) error {
	if _, err := ort.Init(os.Getenv("INFER_ORT_LIB")); err != nil {
		return err
	}
	m, err := onnx.Load(in, onnx.LoadOptions{})
	if err != nil {
		return err
	}
	po := prep.DefaultOptions()
	po.FuseMatMulAdd = false // as quantize does for fp16
	if _, err := prep.Run(m.Proto, po); err != nil {
		return err
	}
	prepPeak, err := peakRSS()
	if err != nil {
		return err
	}
	// Start the conversion's measure from the live heap: pre-processing
	// leaves garbage (its ONNX Runtime runs marshal the model) that is not
	// the conversion's.
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return err
	}
	opts := DefaultOptions(tensor.Float16)
	opts.BlockOps = CPUBlockOps(m.Proto, opts.Type)
	opts.BlockNodes = CPUBlockNodes(m.Proto, opts.Type)
	if _, err := Convert(m.Proto, opts); err != nil {
		return err
	}
	if _, err := onnx.Save(m.Proto, out, onnx.SaveOptions{}); err != nil {
		return err
	}
	convertPeak, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Printf("%d %d\n", prepPeak, convertPeak)
	return nil
}

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// writeMatMulChain writes a model x → MatMul(W0) → Relu → MatMul(W1) → …
// with layers float32 weights of width×width, all in one external data
// file written in chunks so the writer stays small, and returns its path
// and the weights' total size in bytes.
func writeMatMulChain(tb testing.TB, dir string, layers int, width int64) (string, int64) {
	tb.Helper()
	data, err := os.Create(filepath.Join(dir, "chain.onnx.data"))
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(data, 1<<20)
	size := width * width * 4
	g := &onnxpb.GraphProto{Name: "chain"}
	var buf [4]byte
	seed := uint32(1)
	prev := "x"
	for i := range layers {
		for range width * width {
			seed = seed*1664525 + 1013904223 // small weights, some negative
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(float32(int32(seed>>8)%2001-1000)/(1000*float32(width))))
			if _, err := w.Write(buf[:]); err != nil {
				tb.Fatal(err)
			}
		}
		name := fmt.Sprintf("w%d", i)
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{
			Name: name, DataType: int32(tensor.Float32), Dims: []int64{width, width},
			DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: "location", Value: "chain.onnx.data"},
				{Key: "offset", Value: strconv.FormatInt(int64(i)*size, 10)},
				{Key: "length", Value: strconv.FormatInt(size, 10)},
			},
		})
		mm := fmt.Sprintf("mm%d", i)
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "MatMul", Name: mm, Input: []string{prev, name}, Output: []string{mm}})
		prev = mm
		if i < layers-1 {
			prev = "relu" + strconv.Itoa(i)
			g.Node = append(g.Node, &onnxpb.NodeProto{OpType: "Relu", Name: prev, Input: []string{mm}, Output: []string{prev}})
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := data.Close(); err != nil {
		tb.Fatal(err)
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		dims := []*onnxpb.TensorShapeProto_Dimension{
			{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
			{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: width}},
		}
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(tensor.Float32), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
	}
	g.Input = []*onnxpb.ValueInfoProto{vi("x")}
	g.Output = []*onnxpb.ValueInfoProto{vi(prev)}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g})
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "chain.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p, int64(layers) * size
}

// convertInChild runs childConvert on in in a child process and returns
// its peak RSS up to the end of pre-processing and from there on, in
// bytes.
func convertInChild(tb testing.TB, lib, in, out string) (prepPeak, convertPeak int64) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "INFER_BENCH_HALF_IN="+in, "INFER_BENCH_HALF_OUT="+out, "INFER_ORT_LIB="+lib)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		tb.Fatalf("fp16 conversion in a child process: %v", err)
	}
	if _, err := fmt.Sscanf(string(stdout), "%d %d", &prepPeak, &convertPeak); err != nil {
		tb.Fatalf("child printed %q: %v", stdout, err)
	}
	return prepPeak, convertPeak
}

// BenchmarkHalfRSS converts a model with 512 MiB of float32 weights (eight
// 4096×4096 MatMul weights of 64 MiB, in external data) to fp16 in a
// child process, the way `infer quantize --precision fp16` does before
// validating, and saves it. It reports the child's peak RSS relative to
// the model's weight bytes: overall (rss/model), up to the end of
// pre-processing, whose ONNX Runtime shape runs hold copies of the model
// (prep-rss/model), and from there through conversion and save
// (convert-rss/model; target ≤ 2.5).
func BenchmarkHalfRSS(b *testing.B) {
	lib := testutil.InitORT(b).Path
	dir := b.TempDir()
	in, size := writeMatMulChain(b, dir, 8, 4096)
	var prepPeak, convertPeak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d.onnx", i))
		p, c := convertInChild(b, lib, in, out)
		prepPeak, convertPeak = max(prepPeak, p), max(convertPeak, c)
		os.Remove(out)
	}
	b.ReportMetric(float64(max(prepPeak, convertPeak))/float64(size), "rss/model")
	b.ReportMetric(float64(prepPeak)/float64(size), "prep-rss/model")
	b.ReportMetric(float64(convertPeak)/float64(size), "convert-rss/model")
	b.SetBytes(size)
}
