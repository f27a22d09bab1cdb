package half

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// weightBytes is the size of m's float32 initializers.
func weightBytes(m *onnxpb.ModelProto) int {
	n := 0
	for _, t := range m.GetGraph().GetInitializer() {
		if tensor.DType(t.GetDataType()) == tensor.Float32 {
			n += len(t.GetRawData()) + 4*len(t.GetFloatData())
		}
	}
	return n
}

// TestConvertAllocatesHalfCopyOnly converts an MLP with 8 MiB of float32
// weights: Convert allocates little more than their half copies (half the
// bytes), where decoding each weight into a tensor, widening it to
// float64 and encoding it again allocated four times the weights.
func TestConvertAllocatesHalfCopyOnly(t *testing.T) {
	m := testmodels.MLP(testmodels.MLPConfig{In: 512, Hidden: []int64{1024, 1024}, Classes: 512, Seed: 5})
	size := weightBytes(m)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Convert(m, DefaultOptions(tensor.Float16)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Convert allocated %d bytes for %d bytes of float32 weights", alloc, size)
	if limit := uint64(size) * 3 / 4; alloc > limit {
		t.Errorf("Convert allocated %d bytes for %d bytes of float32 weights, want ≤ %d (their half copies and bookkeeping)", alloc, size, limit)
	}
}

// TestConvertTensorMatchesCast checks that the in-place conversion gives
// the bits tensor.Cast gives after clamping, for both half types and both
// ways a float32 tensor stores its values: ties, subnormals, values
// beyond the range, ±Inf and NaN included.
func TestConvertTensorMatchesCast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65519.9, 65520, -1e6, 1e-8, 6e-8, 3e-5,
		1 + 1.0/2048, 1 + 3.0/2048, math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.SmallestNonzeroFloat32, math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000)}
	for range 4096 {
		vals = append(vals, math.Float32frombits(r.Uint32()))
	}
	for _, d := range []tensor.DType{tensor.Float16, tensor.BFloat16Type} {
		limit := halfMax(int32(d))
		want := make([]float32, len(vals))
		wantClamped := 0
		for i, v := range vals {
			want[i] = v
			if !math.IsInf(float64(v), 0) && math.Abs(float64(v)) > float64(limit) {
				want[i] = float32(math.Copysign(float64(limit), float64(v)))
				wantClamped++
			}
		}
		ref, err := tensor.Cast(tensor.MustNew([]int64{int64(len(want))}, want), d)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes, err := tensor.Bytes(ref)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		for _, tp := range []*onnxpb.TensorProto{
			{Name: "raw", DataType: int32(tensor.Float32), Dims: []int64{int64(len(vals))}, RawData: raw},
			{Name: "typed", DataType: int32(tensor.Float32), Dims: []int64{int64(len(vals))}, FloatData: vals, DocString: "kept"},
		} {
			clamped, err := convertTensor(tp, int32(d))
			if err != nil {
				t.Fatalf("%s %s: %v", d, tp.Name, err)
			}
			if clamped != wantClamped {
				t.Errorf("%s %s: clamped %d, want %d", d, tp.Name, clamped, wantClamped)
			}
			if tp.GetDataType() != int32(d) || len(tp.GetFloatData()) > 0 || tp.GetDims()[0] != int64(len(vals)) {
				t.Errorf("%s %s: stored as %d with %d float_data, dims %v", d, tp.Name, tp.GetDataType(), len(tp.GetFloatData()), tp.GetDims())
			}
			if string(tp.GetRawData()) != string(wantBytes) {
				for i := range vals {
					if g, w := binary.LittleEndian.Uint16(tp.RawData[2*i:]), binary.LittleEndian.Uint16(wantBytes[2*i:]); g != w {
						t.Fatalf("%s %s: %g became %#04x, tensor.Cast gives %#04x", d, tp.Name, vals[i], g, w)
					}
				}
			}
		}
	}
}

// TestRefuseUnreadableWeight leaves the last weight of an MLP in external
// data that was not loaded: Convert names it and leaves every weight, the
// ones before it included, as it was (weights are checked before any is
// converted).
func TestRefuseUnreadableWeight(t *testing.T) {
	m := testmodels.MLP(testmodels.MLPConfig{})
	g := m.GetGraph()
	last := g.Initializer[len(g.Initializer)-1]
	last.RawData, last.DataLocation = nil, onnxpb.TensorProto_EXTERNAL
	last.ExternalData = []*onnxpb.StringStringEntryProto{{Key: "location", Value: "w.data"}}
	before := proto.Clone(m)
	_, err := Convert(m, DefaultOptions(tensor.Float16))
	if err == nil || !strings.Contains(err.Error(), last.GetName()) || !strings.Contains(err.Error(), "external data not loaded") {
		t.Fatalf("err = %v, want one naming %q and saying its external data is not loaded", err, last.GetName())
	}
	if !proto.Equal(before, m) {
		t.Error("the refused model was changed")
	}
}

// TestHalfRSSSmall runs the benchmark's child process (load, pre-process,
// convert, save) on a small MatMul chain, so that `go test` covers what
// BenchmarkHalfRSS measures, and compares the saved model with the
// original in ONNX Runtime at two batch sizes.
func TestHalfRSSSmall(t *testing.T) {
	lib := testutil.InitORT(t).Path
	dir := t.TempDir()
	in, _ := writeMatMulChain(t, dir, 3, 64)
	out := filepath.Join(dir, "out.onnx")
	if prepPeak, convertPeak := convertInChild(t, lib, in, out); prepPeak <= 0 || convertPeak <= 0 {
		t.Errorf("peak RSS %d and %d bytes, want positive", prepPeak, convertPeak)
	}
	ref, err := onnx.Load(in, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := onnx.Load(out, onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := initializerTypes(got.Proto)[tensor.Float16]; n != 3 {
		t.Errorf("%d float16 weights, want 3", n)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, batch := range []int64{1, 5} {
		x := make([]float32, batch*64)
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
		feeds := map[string]*tensor.Tensor{"x": tensor.MustNew([]int64{batch, 64}, x)}
		want, have := run(t, ref.Proto, feeds), run(t, got.Proto, feeds)
		if got := have["mm2"].Shape()[0]; got != batch {
			t.Errorf("batch %d: output batch %d", batch, got)
		}
		if db := sqnr(t, want, have); db < minSQNRFloat16 {
			t.Errorf("batch %d: SQNR %.1f dB, want ≥ %.0f", batch, db, minSQNRFloat16)
		}
	}
}
