package dataset

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/tensor"
)

// npyHeader is a version 1.0 .npy header for a float32 array, padded as
// NumPy pads it.
func npyHeader(shape string) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape)
	for (10+len(dict)+1)%64 != 0 {
		dict += " "
	}
	dict += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)))
	b.WriteString(dict)
	return b.Bytes()
}

// writeZeroRowsNPZ writes an .npz whose array x is float32 [rows, width]:
// zeros, but for each row's first element, its row number. Rows are
// streamed through the compressor, so the file stays small (a zip bomb
// of zeros, honest about its size).
func writeZeroRowsNPZ(t *testing.T, path string, rows, width int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	ew, err := zw.CreateHeader(&zip.FileHeader{Name: "x.npy", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(npyHeader(fmt.Sprintf("(%d, %d)", rows, width)))
	row := make([]byte, 4*width)
	for i := range rows {
		binary.LittleEndian.PutUint32(row, math.Float32bits(float32(i)))
		if _, err := ew.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// Shuffling holds one window of a file at a time, not the file: the
// first batch of a shuffled 96 MiB file (zeros, 100 KB deflated)
// allocates well under its size and holds rows of the first window only,
// and every row is still delivered once.
func TestShuffleWindowBoundsMemory(t *testing.T) {
	const rows, width = 24576, 1024 // 96 MiB of float32, 1.5 windows
	path := filepath.Join(t.TempDir(), "zeros.npz")
	writeZeroRowsNPZ(t, path, rows, width)
	spec := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{-1, width}}}
	src, err := Open(path, spec, Options{BatchSize: 1024, Shuffle: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	first, err := src.Next()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 80<<20 {
		t.Fatalf("the first shuffled batch allocated %d MiB of a 96 MiB file", got>>20)
	}
	perWindow := shuffleWindow / (4 * width)
	seen := make([]bool, rows)
	inOrder := true
	for b := first; ; {
		v := tensor.Values[float32](b.Inputs["x"])
		for i := range b.N {
			r := int(v[i*width])
			if seen[r] {
				t.Fatalf("row %d delivered twice", r)
			}
			seen[r] = true
			if b == first && r >= perWindow {
				t.Fatalf("the first batch holds row %d, past the first window (%d rows)", r, perWindow)
			}
			inOrder = inOrder && r == b.Index+i
		}
		if b, err = src.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	for r, ok := range seen {
		if !ok {
			t.Fatalf("row %d never delivered", r)
		}
	}
	if inOrder {
		t.Fatal("rows came in file order: not shuffled")
	}
}

// The readers eval (in order) and distill (shuffled) use refuse, at Open,
// an .npz whose entry claims 4 GiB from a kilobyte of deflate data.
func TestZipBombRefusedAtOpen(t *testing.T) {
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
	hdr := npyHeader("(1048576, 1024)")
	fw.Write(hdr)
	fw.Write(make([]byte, 1<<20))
	fw.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	ew, err := zw.CreateRaw(&zip.FileHeader{Name: "x.npy", Method: zip.Deflate,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(len(hdr)) + 4<<30})
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(comp.Bytes())
	zw.Close()
	path := filepath.Join(t.TempDir(), "bomb.npz")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := []InputSpec{{Name: "x", DType: tensor.Float32, Shape: []int64{-1, 1024}}}
	for _, o := range []Options{{BatchSize: 8}, {BatchSize: 8, Shuffle: true}} {
		src, err := Open(path, spec, o)
		if err == nil {
			src.Close()
			t.Fatalf("shuffle %v: a zip bomb was accepted", o.Shuffle)
		}
		if msg := err.Error(); !strings.Contains(msg, path+`: array "x"`) || !strings.Contains(msg, "zip bomb") || strings.Contains(msg, "\n") {
			t.Fatalf("want one line naming the file, the array and a zip bomb, got %q", msg)
		}
	}
}

// A negative label is refused where it is read, naming the file, the
// label array, the sample and the value; LabelSource names where each
// label of a batch spanning two files came from.
func TestNegativeLabelRefused(t *testing.T) {
	dir := t.TempDir()
	writeNPZ(t, filepath.Join(dir, "a.npz"), named{"x", rowsF64(2, 3, 0)}, named{"labels", tensor.MustNew([]int64{2}, []int64{0, 1})})
	writeNPZ(t, filepath.Join(dir, "b.npz"), named{"x", rowsF64(3, 3, 2)}, named{"labels", tensor.MustNew([]int64{3}, []int64{2, 3, -1})})
	src, err := Open(dir, xSpec, Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b, err := src.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.LabelSource(3), filepath.Join(dir, "b.npz")+`: label array "labels", sample 1`; got != want {
		t.Fatalf("LabelSource(3) = %q, want %q", got, want)
	}
	_, err = src.Next()
	want := filepath.Join(dir, "b.npz") + `: label array "labels", sample 2: label -1 is negative`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want an error containing %q, got %v", want, err)
	}
}
