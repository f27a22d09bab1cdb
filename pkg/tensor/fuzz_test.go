package tensor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// FuzzReadNPY checks that no input makes ReadNPY panic, and that what it
// accepts writes back to the same array.
func FuzzReadNPY(f *testing.F) {
	for _, x := range []*Tensor{
		MustNew([]int64{2, 2}, []float32{1, 2, 3, 4}),
		MustNew([]int64{}, []int64{7}),
		MustNew([]int64{3}, []bool{true, false, true}),
	} {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, x); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(npyBytes("{'descr': '>f2', 'fortran_order': True, 'shape': (2, 1), }", []byte{0x3C, 0, 0xC0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadNPY(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, x); err != nil {
			t.Fatalf("read %v but cannot write it: %v", x, err)
		}
		y, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("cannot reread %v: %v", x, err)
		}
		b1, _ := Bytes(x)
		b2, _ := Bytes(y)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%v changed when written and reread", x)
		}
	})
}

// FuzzFromProto checks that no serialized TensorProto makes FromProto
// panic, and that what it accepts survives ToProto.
func FuzzFromProto(f *testing.F) {
	for _, tp := range []*onnxpb.TensorProto{
		{DataType: 22, Dims: []int64{3}, Int32Data: []int32{0x21, 0x0F}},
		{DataType: 1, Dims: []int64{1}, RawData: []byte{0, 0, 0x80, 0x3F}},
		{DataType: 8, Dims: []int64{1}, StringData: [][]byte{[]byte("a")}},
		{DataType: 15, Dims: []int64{1}, DoubleData: []float64{1, 2}},
	} {
		b, err := proto.Marshal(tp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tp onnxpb.TensorProto
		if proto.Unmarshal(b, &tp) != nil {
			return
		}
		x, err := FromProto(&tp)
		if err != nil {
			return
		}
		back, err := ToProto(x, tp.GetName())
		if err != nil {
			t.Fatalf("decoded %v but cannot encode it: %v", x, err)
		}
		y, err := FromProto(back)
		if err != nil {
			t.Fatalf("cannot decode the re-encoded %v: %v", x, err)
		}
		if x.DType() != String {
			b1, _ := Bytes(x)
			b2, _ := Bytes(y)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("%v changed in a round trip", x)
			}
		}
	})
}

// FuzzReadNPZ checks that no archive makes the .npz reader panic, and
// that an array it agrees to read declares no more data than the archive
// can expand to, so reading allocates in proportion to the input.
func FuzzReadNPZ(f *testing.F) {
	dir := f.TempDir()
	arrays := map[string]*Tensor{
		"x":     MustNew([]int64{3, 2}, []float32{1, 2, 3, 4, 5, 6}),
		"label": MustNew([]int64{3}, []int64{0, 1, 2}),
	}
	for i, compress := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("seed%d.npz", i))
		writeNPZ(f, path, compress, arrays, []string{"x", "label"})
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	huge := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,), }", nil)
	f.Add(deflatedNPZ(f, "x", huge, 1<<10, uint64(len(huge))+4<<30))
	fortran := npyBytes("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 8))
	f.Add(deflatedNPZ(f, "f", fortran, 0, uint64(len(fortran))))
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := newNPZ("fuzz.npz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, name := range z.Names() {
			readFuzzedArray(t, z, name, int64(len(b)))
		}
	})
}

// readFuzzedArray reads one array of a fuzzed archive by rows, checking
// that what it declares is within what archiveSize bytes can expand to.
func readFuzzedArray(t *testing.T, z *NPZ, name string, archiveSize int64) {
	a, err := z.OpenArray(name)
	if err != nil {
		return
	}
	defer a.Close()
	h := a.Header()
	n, _ := NumElements(h.Shape)
	if size := int64(n) * int64(elemSize(h.DType)); size > maxDeflateRatio*archiveSize {
		t.Fatalf("array %q declares %d bytes in a %d-byte archive", name, size, archiveSize)
	}
	if len(h.Shape) == 0 {
		a.ReadAll()
		return
	}
	for {
		if _, err := a.ReadRows(3); err != nil {
			return
		}
	}
}
