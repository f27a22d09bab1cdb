package dataset

import (
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/tensor"
)

// Random data whose shape cannot fit in memory, or whose size overflows,
// is refused before anything is allocated, naming the input, the shape
// and the bytes needed and available.
func TestRandomShapeBeyondMemory(t *testing.T) {
	specs := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 3, -1, -1}, DimParams: []string{"N", "", "H", "W"}}}
	for shape, needs := range map[string]string{
		"1x3x1000000x1000000":       "needs 36000000000000 bytes",
		"1x3x2147483647x2147483647": "needs more than 2^64 bytes",
	} {
		sh, err := ParseShapes([]string{"x=" + shape})
		if err != nil {
			t.Fatal(err)
		}
		src, err := Open("random", specs, Options{BatchSize: 1, Shapes: sh, RandomSamples: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Next()
		if err == nil {
			t.Fatalf("%s: generated", shape)
		}
		for _, want := range []string{`model input "x"`, needs, "bytes of memory available"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", shape, err, want)
			}
		}
	}
}

func TestGenerationBytes(t *testing.T) {
	for _, c := range []struct {
		d     tensor.DType
		shape []int64
		want  uint64
		ok    bool
	}{
		{tensor.Float32, []int64{2, 3}, 6 * 12, true},
		{tensor.Int4, []int64{4}, 4 * 9, true},
		{tensor.Float64, nil, 16, true},
		{tensor.Uint8, []int64{1 << 31, 1 << 31, 1 << 31}, 0, false},
	} {
		got, ok := generationBytes(c.d, c.shape)
		if got != c.want || ok != c.ok {
			t.Errorf("generationBytes(%s, %v) = %d, %v; want %d, %v", c.d, c.shape, got, ok, c.want, c.ok)
		}
	}
	if availableMemory() == 0 {
		t.Fatal("no memory available")
	}
}
