package onnx_test

import (
	"path/filepath"
	"testing"

	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// Loading then saving a model with no changes gives a model ORT runs with
// identical outputs, inline or with external data.
func TestRoundTripRunsIdentically(t *testing.T) {
	testutil.InitORT(t)
	models := []string{
		testutil.Fixture(t, "mnist/model.onnx"),
		testutil.Testdata(t, "mlp.onnx"), testutil.Testdata(t, "cnn.onnx"),
		testutil.Testdata(t, "transformer.onnx"), testutil.Testdata(t, "gru.onnx"),
		testutil.Testdata(t, "mlp_constants.onnx"), testutil.Testdata(t, "legacy_opset9.onnx"),
		testutil.Testdata(t, "contrib.onnx"), testutil.Testdata(t, "if_constant_branches.onnx"),
	}
	for _, path := range models {
		for _, threshold := range []int64{0, 256} {
			t.Run(filepath.Base(path), func(t *testing.T) {
				m, err := onnx.Load(path, onnx.LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "copy.onnx")
				if _, err := onnx.Save(m.Proto, out, onnx.SaveOptions{ExternalThreshold: threshold, Inputs: []string{path}}); err != nil {
					t.Fatal(err)
				}
				a, err := ort.NewSessionFromFile(path, ort.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				b, err := ort.NewSessionFromFile(out, ort.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				src, err := dataset.Open("random", dataset.SpecsFromGraph(m.Proto.Graph), dataset.Options{RandomSamples: 2, Seed: 3, Shapes: map[string][]int64{}})
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				batch, err := src.Next()
				if err != nil {
					t.Fatal(err)
				}
				ra, err := a.Run(batch.Inputs)
				if err != nil {
					t.Fatal(err)
				}
				rb, err := b.Run(batch.Inputs)
				if err != nil {
					t.Fatal(err)
				}
				for name, x := range ra {
					xa, _ := tensor.AsFloat64(x)
					xb, err := tensor.AsFloat64(rb[name])
					if err != nil || len(xa) != len(xb) {
						t.Fatalf("output %s: %v", name, err)
					}
					for i := range xa {
						if xa[i] != xb[i] && !(xa[i] != xa[i] && xb[i] != xb[i]) {
							t.Fatalf("output %s[%d]: %v vs %v", name, i, xa[i], xb[i])
						}
					}
				}
			})
		}
	}
}
