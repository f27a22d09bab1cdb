package int4

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Named tolerances.
const (
	// refTol bounds ‖ORT − A·W_deq‖/‖A·W_deq‖, W_deq decoded in Go from the
	// initializers Quantize wrote: float32 summation order is all that may
	// differ (measured ≈1e-7 at accuracy level 0), so a misread nibble,
	// block or zero point shows up orders of magnitude above it.
	refTol = 1e-3
	// int8ActTol bounds the same comparison at accuracy_level 4, where
	// ONNX Runtime quantizes A to int8 per block before the product
	// (measured 5.2e-3; levels 1–3 measured as exact as level 0 on CPU).
	int8ActTol = 2e-2
	// minStackSQNR: stacks of 2–4 quantized layers without residual paths
	// (TestGemm, TestMLPDefaults) measured 18.1–18.8 dB; errors of the
	// layers add up.
	minStackSQNR = 15
	// minMatMulSQNR: 4-bit round-to-nearest on Gaussian weights gives
	// ≈21 dB per layer at block 32 and ≈19.5 dB at block 256 (measured:
	// see TestMatMulMatchesGoDequantization's log); below 18 dB something
	// besides 4-bit rounding is wrong.
	minMatMulSQNR = 18
	// minTransformerSQNR: the encoder block's output measured 24.4–25.1 dB
	// over block sizes 32–128 and both schemes (the residual path carries
	// the input unquantized, the projections' errors add up); 22 dB leaves
	// room for other seeds.
	minTransformerSQNR = 22
)

// matmulModel is Y = X·W with X [N, k] and W [k, n] drawn from N(0, 1/k).
func matmulModel(k, n int64, seed uint64) *onnxpb.ModelProto {
	b := testmodels.NewBuilder("matmul", 17)
	r := testmodels.NewRand(seed)
	x := b.Input("x", tensor.Float32, "N", k)
	w := b.Initializer("w", []int64{k, n}, r.Normal([]int64{k, n}, 1/math.Sqrt(float64(k))))
	b.Node("MatMul", []string{x, w}, []string{"y"})
	b.Output("y", tensor.Float32, "N", n)
	return b.Model()
}

func run(t *testing.T, m *onnxpb.ModelProto, inputs map[string]*tensor.Tensor) map[string][]float32 {
	t.Helper()
	s, err := ort.NewSessionFromModel(m, ort.Options{})
	if err != nil {
		t.Fatalf("ONNX Runtime cannot load the model: %v", err)
	}
	defer s.Close()
	outs, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]float32{}
	for name, o := range outs {
		res[name] = tensor.Values[float32](o)
	}
	return res
}

func randomInput(shape []int64, seed uint64) *tensor.Tensor {
	return tensor.MustNew(shape, testmodels.NewRand(seed).Normal(shape, 1))
}

// sumSq returns ‖ref‖² and ‖ref − got‖².
func sumSq(ref, got []float32) (signal, noise float64) {
	for i := range ref {
		d := float64(ref[i]) - float64(got[i])
		signal += float64(ref[i]) * float64(ref[i])
		noise += d * d
	}
	return signal, noise
}

// sqnr is 10·log10(‖ref‖²/‖ref − got‖²).
func sqnr(ref, got []float32) float64 {
	s, e := sumSq(ref, got)
	return 10 * math.Log10(s/e)
}

// relErr is ‖ref − got‖/‖ref‖.
func relErr(ref, got []float32) float64 {
	s, e := sumSq(ref, got)
	return math.Sqrt(e / s)
}

func initializer(t *testing.T, g *onnxpb.GraphProto, name string) *tensor.Tensor {
	t.Helper()
	tp := initializerOrNil(g, name)
	if tp == nil {
		t.Fatalf("no initializer %q", name)
	}
	x, err := tensor.FromProto(tp)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func initializerOrNil(g *onnxpb.GraphProto, name string) *onnxpb.TensorProto {
	for _, tp := range g.GetInitializer() {
		if tp.GetName() == name {
			return tp
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string) int {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return int(a.GetI())
		}
	}
	return -1
}

func nodesOf(g *onnxpb.GraphProto, op string) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range g.GetNode() {
		if n.GetOpType() == op {
			out = append(out, n)
		}
	}
	return out
}

// decode rebuilds the weight [K, N] that a MatMulNBits node computes with,
// from the initializers it reads, checking their shapes and types against
// the operator's schema.
func decode(t *testing.T, g *onnxpb.GraphProto, n *onnxpb.NodeProto) []float32 {
	t.Helper()
	k, nOut, bs := attrInt(n, "K"), attrInt(n, "N"), attrInt(n, "block_size")
	if attrInt(n, "bits") != 4 || n.GetDomain() != Domain {
		t.Fatalf("%s: bits %d, domain %q", n.GetName(), attrInt(n, "bits"), n.GetDomain())
	}
	kBlocks := (k + bs - 1) / bs
	b := initializer(t, g, n.GetInput()[1])
	scales := initializer(t, g, n.GetInput()[2])
	wantShape := func(x *tensor.Tensor, d tensor.DType, shape ...int64) {
		t.Helper()
		if x.DType() != d || fmt.Sprint(x.Shape()) != fmt.Sprint(shape) {
			t.Fatalf("%s: got %s%v, want %s%v", n.GetName(), x.DType(), x.Shape(), d, shape)
		}
	}
	wantShape(b, tensor.Uint8, int64(nOut), int64(kBlocks), int64(bs/2))
	wantShape(scales, tensor.Float32, int64(nOut), int64(kBlocks))
	p := &packed{k: k, n: nOut, blockSize: bs, kBlocks: kBlocks, b: tensor.Values[uint8](b), scales: tensor.Values[float32](scales)}
	if len(n.GetInput()) > 3 && n.GetInput()[3] != "" {
		zp := initializer(t, g, n.GetInput()[3])
		wantShape(zp, tensor.Uint8, int64(nOut), int64((kBlocks+1)/2))
		p.zeroPoints = tensor.Values[uint8](zp)
	}
	return p.dequantize()
}

// matmul returns X·W for X [rows, k] and W [k, n] in float64 accumulation.
func matmul(x []float32, w []float32, rows, k, n int) []float32 {
	y := make([]float32, rows*n)
	for i := 0; i < rows; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(x[i*k+l]) * float64(w[l*n+j])
			}
			y[i*n+j] = float32(s)
		}
	}
	return y
}

// TestMatMulMatchesGoDequantization checks the packed layout is the one
// ONNX Runtime reads: its output equals X·W_deq with W_deq decoded in Go
// from the initializers, for every block size, both schemes, and K that
// fills its last block or not (odd block counts test the zero-point
// padding).
func TestMatMulMatchesGoDequantization(t *testing.T) {
	testutil.InitORT(t)
	const rows = 8
	for _, kn := range [][2]int64{{512, 1024}, {200, 96}, {96, 64}} {
		k, n := kn[0], kn[1]
		float := matmulModel(k, n, 1)
		x := randomInput([]int64{rows, k}, 2)
		ref := run(t, float, map[string]*tensor.Tensor{"x": x})["y"]
		for _, bs := range []int{16, 32, 64, 128, 256} {
			if int64(bs) > k {
				continue
			}
			for _, sym := range []bool{true, false} {
				t.Run(fmt.Sprintf("K%d_N%d_bs%d_sym%v", k, n, bs, sym), func(t *testing.T) {
					m := proto.Clone(float).(*onnxpb.ModelProto)
					res, err := Quantize(m, Options{BlockSize: bs, Symmetric: sym, MinElements: 1})
					if err != nil {
						t.Fatal(err)
					}
					if res.Quantized != 1 || len(res.Skipped) != 0 {
						t.Fatalf("result %+v", res)
					}
					if err := graph.Validate(m); err != nil {
						t.Fatal(err)
					}
					g := m.GetGraph()
					nb := nodesOf(g, "MatMulNBits")
					if len(nb) != 1 || len(nodesOf(g, "MatMul")) != 0 || len(g.GetInitializer()) != 2+btoi(!sym) {
						t.Fatalf("%d MatMulNBits, %d MatMul, %d initializers", len(nb), len(nodesOf(g, "MatMul")), len(g.GetInitializer()))
					}
					if attrInt(nb[0], "K") != int(k) || attrInt(nb[0], "N") != int(n) || attrInt(nb[0], "block_size") != bs {
						t.Fatalf("attributes %v", nb[0].GetAttribute())
					}
					wdeq := decode(t, g, nb[0])
					want := matmul(tensor.Values[float32](x), wdeq, rows, int(k), int(n))
					got := run(t, m, map[string]*tensor.Tensor{"x": x})["y"]
					e := relErr(want, got)
					if e > refTol {
						t.Errorf("ORT vs Go dequantization: relative error %.2g > %g", e, refTol)
					}
					kBlocks := (k + int64(bs) - 1) / int64(bs)
					after := n * kBlocks * int64(bs/2+4)
					if !sym {
						after += n * ((kBlocks + 1) / 2)
					}
					if res.WeightBytesBefore != 4*k*n || res.WeightBytesAfter != after {
						t.Errorf("bytes %d → %d, want %d → %d", res.WeightBytesBefore, res.WeightBytesAfter, 4*k*n, after)
					}
					s := sqnr(ref, got)
					ratio := float64(res.WeightBytesAfter) / float64(res.WeightBytesBefore)
					t.Logf("vs Go reference %.1e, SQNR vs float %.2f dB, weight bytes %.4f×", e, s, ratio)
					if s < minMatMulSQNR {
						t.Errorf("SQNR %.2f dB < %d dB", s, minMatMulSQNR)
					}
					if k == 512 && bs >= 32 && ratio > 0.1603 {
						t.Errorf("weight bytes ratio %.4f > 0.1603", ratio)
					}
				})
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTransformer quantizes the six projections of an encoder block at
// D = 512 and checks the output against float, for every block size.
func TestTransformer(t *testing.T) {
	testutil.InitORT(t)
	float := testmodels.Transformer(testmodels.TransformerConfig{D: 512, Heads: 8})
	x := randomInput([]int64{2, 16, 512}, 3)
	ref := run(t, float, map[string]*tensor.Tensor{"input": x})["output"]
	for _, bs := range []int{32, 64, 128} {
		for _, sym := range []bool{true, false} {
			t.Run(fmt.Sprintf("bs%d_sym%v", bs, sym), func(t *testing.T) {
				m := proto.Clone(float).(*onnxpb.ModelProto)
				res, err := Quantize(m, Options{BlockSize: bs, Symmetric: sym})
				if err != nil {
					t.Fatal(err)
				}
				if err := graph.Validate(m); err != nil {
					t.Fatal(err)
				}
				if res.Quantized != 6 || len(nodesOf(m.GetGraph(), "MatMulNBits")) != 6 {
					t.Fatalf("quantized %d, want the 6 projections: %+v", res.Quantized, res)
				}
				// QKᵀ and probs·V multiply activations.
				if len(res.Skipped) != 2 {
					t.Fatalf("skipped %+v, want the 2 attention MatMuls", res.Skipped)
				}
				for _, sk := range res.Skipped {
					if !strings.Contains(sk.Reason, "not a constant initializer") {
						t.Errorf("skip %+v", sk)
					}
				}
				for _, tp := range m.GetGraph().GetInitializer() {
					if strings.HasSuffix(tp.GetName(), ".weight") && len(tp.GetDims()) == 2 {
						t.Errorf("float weight %q left in the model", tp.GetName())
					}
				}
				got := run(t, m, map[string]*tensor.Tensor{"input": x})["output"]
				s := sqnr(ref, got)
				ratio := float64(res.WeightBytesAfter) / float64(res.WeightBytesBefore)
				t.Logf("output SQNR %.2f dB, weight bytes %d → %d (%.4f×)", s, res.WeightBytesBefore, res.WeightBytesAfter, ratio)
				if s < minTransformerSQNR {
					t.Errorf("SQNR %.2f dB < %d dB", s, minTransformerSQNR)
				}
				if ratio > 0.1603 {
					t.Errorf("weight bytes ratio %.4f > 0.1603", ratio)
				}
			})
		}
	}
}

// TestAccuracyLevels: every accuracy_level runs on the CPU kernel; level 4
// (A quantized to int8 inside the kernel) stays close to the exact product
// and keeps the SQNR.
func TestAccuracyLevels(t *testing.T) {
	testutil.InitORT(t)
	float := matmulModel(512, 256, 17)
	x := randomInput([]int64{8, 512}, 18)
	ref := run(t, float, map[string]*tensor.Tensor{"x": x})["y"]
	for lvl := 0; lvl <= 4; lvl++ {
		m := proto.Clone(float).(*onnxpb.ModelProto)
		if _, err := Quantize(m, Options{AccuracyLevel: lvl}); err != nil {
			t.Fatal(err)
		}
		nb := nodesOf(m.GetGraph(), "MatMulNBits")[0]
		if attrInt(nb, "accuracy_level") != lvl {
			t.Fatalf("accuracy_level %d, want %d", attrInt(nb, "accuracy_level"), lvl)
		}
		got := run(t, m, map[string]*tensor.Tensor{"x": x})["y"]
		want := matmul(tensor.Values[float32](x), decode(t, m.GetGraph(), nb), 8, 512, 256)
		tol := refTol
		if lvl == 4 {
			tol = int8ActTol
		}
		e, s := relErr(want, got), sqnr(ref, got)
		t.Logf("level %d: vs Go reference %.1e, SQNR vs float %.2f dB", lvl, e, s)
		if e > tol || s < minMatMulSQNR {
			t.Errorf("level %d: relative error %.2g (tolerance %g), SQNR %.2f dB", lvl, e, tol, s)
		}
	}
}
