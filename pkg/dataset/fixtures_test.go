package dataset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// Real data from make fixtures: the MNIST zoo model with 10,000 labelled
// digits in an .npz written by npyio, its ONNX test-data sets, and ONNX's
// conformance cases.

func loadGraph(t *testing.T, path string) *onnxpb.GraphProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m.GetGraph()
}

func TestMNISTDigits(t *testing.T) {
	dir := testutil.Fixture(t, "mnist")
	specs := SpecsFromGraph(loadGraph(t, testutil.Fixture(t, "mnist/model.onnx")))
	if len(specs) != 1 || specs[0].Name != "Input3" || specs[0].DType != tensor.Float32 {
		t.Fatalf("specs %+v", specs)
	}
	src, err := Open(filepath.Join(dir, "digits.npz"), specs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Len() != 10000 {
		t.Fatalf("Len = %d", src.Len())
	}
	calib, eval, err := Split(src.Len(), 0.1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Open(filepath.Join(dir, "digits.npz"), specs, eval.Apply(Options{Limit: 50}))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if ev.Len() != 1000 || calib.Limit != 9000 {
		t.Fatalf("eval Len %d, calib %+v", ev.Len(), calib)
	}
	n := 0
	for b, err := ev.Next(); n < 50; b, err = ev.Next() {
		if err != nil {
			t.Fatal(err)
		}
		x := b.Inputs["Input3"]
		if b.N != 1 || len(b.Labels) != 1 || b.Labels[0] < 0 || b.Labels[0] > 9 || x.Shape()[0] != 1 || x.Len() != 784 {
			t.Fatalf("batch %d: N %d labels %v x %v", n, b.N, b.Labels, x)
		}
		n++
	}

	for i := range 3 {
		set := filepath.Join(dir, fmt.Sprintf("test_data_set_%d", i))
		s, err := Open(set, specs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 1 {
			t.Fatalf("%s: Len %d", set, s.Len())
		}
		s.Close()
	}
	if _, err := Open(dir, specs, Options{}); err == nil || !strings.Contains(err.Error(), "holds both .npz files and test_data_set_* folders") {
		t.Fatalf("mixed folder: %v", err)
	}
}

// TestConformanceTestData opens every conformance case's test data as a
// dataset: each either fails with an error naming the case (many cases
// feed inputs whose first axes are not sample axes) or delivers exactly
// the stored tensors.
func TestConformanceTestData(t *testing.T) {
	root := testutil.Fixture(t, "onnx-node")
	cases, _ := filepath.Glob(filepath.Join(root, "test_*"))
	if len(cases) == 0 {
		t.Fatalf("no conformance cases in %s: run `make fixtures`", root)
	}
	accepted := 0
	for _, dir := range cases {
		specs := SpecsFromGraph(loadGraph(t, filepath.Join(dir, "model.onnx")))
		set := filepath.Join(dir, "test_data_set_0")
		src, err := Open(set, specs, Options{AllowNonFinite: true})
		if err != nil {
			if !strings.Contains(err.Error(), set) {
				t.Errorf("error does not name the data: %v", err)
			}
			continue
		}
		var got = map[string][]*tensor.Tensor{}
		for {
			b, err := src.Next()
			if err != nil {
				break
			}
			for name, x := range b.Inputs {
				got[name] = append(got[name], x)
			}
		}
		src.Close()
		for k, s := range specs {
			want, _, err := readTensorFile(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)))
			if err != nil {
				t.Fatal(err)
			}
			all := got[s.Name][0]
			if len(got[s.Name]) > 1 {
				all, _ = tensor.Concat(got[s.Name]...)
			}
			if want.DType() == tensor.String {
				continue
			}
			wb, _ := tensor.Bytes(want)
			gb, _ := tensor.Bytes(all)
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: input %q delivered differently from input_%d.pb", dir, s.Name, k)
			}
		}
		accepted++
	}
	t.Logf("%d of %d conformance cases fit the samples-first convention", accepted, len(cases))
}
