package half

import (
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/eval"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// maxMNISTDrop is the largest top-1 drop, in points, fp16 may cost on the
// first 2,000 digits.
const maxMNISTDrop = 0.1

// TestMNIST converts the opset-7 MNIST fixture after prep and compares
// top-1 accuracy with the float model on 2,000 digits.
func TestMNIST(t *testing.T) {
	testutil.InitORT(t)
	ref := prepped(t, loadFixture(t, "mnist/model.onnx"))
	got, res := convert(t, ref, DefaultOptions(tensor.Float16))
	t.Logf("%+v; size ratio %.3f", *res, float64(proto.Size(got))/float64(proto.Size(ref)))
	checkNoCastPairs(t, got)

	session := func(m *onnxpb.ModelProto) *ort.Session {
		s, err := ort.NewSessionFromModel(m, ort.Options{IntraOpThreads: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	src, err := dataset.Open(testutil.Fixture(t, "mnist/digits.npz"), dataset.SpecsFromGraph(ref.Graph), dataset.Options{Limit: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := eval.Compare(session(ref), session(got), src, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Primary()
	if o.Labelled != 2000 {
		t.Fatalf("%d labelled samples, want 2000", o.Labelled)
	}
	drop := 100 * (o.RefAccuracy() - o.CandAccuracy())
	t.Logf("top-1 %.2f%% → %.2f%% (drop %.2f points), agreement %.4f, SQNR %.1f dB",
		100*o.RefAccuracy(), 100*o.CandAccuracy(), drop, o.Agreement(), o.SQNR())
	if drop > maxMNISTDrop || drop < -maxMNISTDrop {
		t.Errorf("top-1 moved %.2f points, want within %.1f", drop, maxMNISTDrop)
	}
}
