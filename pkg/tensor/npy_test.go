package tensor

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"github.com/x448/float16"
)

// npyBytes builds a .npy file the way NumPy writes one, from a header
// dictionary and raw data, independently of WriteNPY.
func npyBytes(dict string, data []byte) []byte {
	h := dict
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func npyTensors(t *testing.T) []*Tensor {
	s := sampleTensors(t)
	var out []*Tensor
	for _, d := range []DType{Bool, Int8, Uint8, Int16, Uint16, Int32, Uint32, Int64, Uint64, Float16, Float32, Float64, Complex64, Complex128} {
		out = append(out, s[d])
	}
	return append(out,
		MustNew([]int64{}, []float64{2.5}),
		MustNew([]int64{0, 3}, []float32{}),
		MustNew([]int64{2, 3, 2}, []int16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
	)
}

func TestNPYRoundTrip(t *testing.T) {
	for _, x := range npyTensors(t) {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, x); err != nil {
			t.Fatalf("%v: %v", x, err)
		}
		hdrLen := 10 + int(binary.LittleEndian.Uint16(buf.Bytes()[8:]))
		if hdrLen%64 != 0 {
			t.Errorf("%v: data starts at byte %d, not 64-aligned", x, hdrLen)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("%v: %v", x, err)
		}
		sameTensor(t, "npy round trip", got, x)
	}
}

func TestNPYAgainstNpyio(t *testing.T) {
	// npyio writes 1-D slices; its files must read back through ReadNPY.
	for _, v := range []any{
		[]bool{true, false}, []int8{-1, 2}, []uint16{7, 65535}, []int32{-5, 6},
		[]uint64{1 << 63}, []float32{1.5, -2}, []float64{3.25}, []complex128{complex(1, 2)},
	} {
		var buf bytes.Buffer
		if err := npyio.Write(&buf, v); err != nil {
			t.Fatal(err)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(got.Data(), v) {
			t.Errorf("%T: read %v, want %v", v, got.Data(), v)
		}
	}
	// And npyio must read what WriteNPY writes.
	var buf bytes.Buffer
	if err := WriteNPY(&buf, MustNew([]int64{3}, []int64{-1, 0, 1 << 40})); err != nil {
		t.Fatal(err)
	}
	var back []int64
	if err := npyio.Read(&buf, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, []int64{-1, 0, 1 << 40}) {
		t.Fatalf("npyio read %v", back)
	}
}

func TestReadNPYNumPyLayouts(t *testing.T) {
	f16 := []byte{0x00, 0x3C, 0x00, 0xC0} // 1, -2
	got, err := ReadNPY(bytes.NewReader(npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", f16)))
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "<f2", got, MustNew([]int64{2}, []float16.Float16{float16.Fromfloat32(1), float16.Fromfloat32(-2)}))

	be := []byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE}
	got, err = ReadNPY(bytes.NewReader(npyBytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", be)))
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, ">i4", got, MustNew([]int64{2}, []int32{1, -2}))

	// [[0 1 2] [3 4 5]] stored column-major is 0 3 1 4 2 5.
	var f []byte
	for _, v := range []byte{0, 3, 1, 4, 2, 5} {
		f = append(f, v)
	}
	got, err = ReadNPY(bytes.NewReader(npyBytes("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }", f)))
	if err != nil {
		t.Fatal(err)
	}
	sameTensor(t, "fortran", got, MustNew([]int64{2, 3}, []uint8{0, 1, 2, 3, 4, 5}))
}

func TestReadNPYErrors(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
	noNewline := append([]byte("\x93NUMPY\x01\x00\x08\x00"), "{'a': 1}"...)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad magic", []byte("PK\x03\x04 not numpy at all"), "bad magic"},
		{"truncated data", npyBytes(good, make([]byte, 7)), "truncated data"},
		{"string dtype", npyBytes("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", make([]byte, 12)), "unsupported NumPy dtype"},
		{"object dtype", npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)), "unsupported NumPy dtype"},
		{"header without newline", noNewline, "malformed .npy header"},
		{"huge header length", []byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), "corrupt .npy header"},
		{"bad version", []byte("\x93NUMPY\x09\x00\x10\x00xxxxxxxxxxxxxxxx"), "unsupported .npy format version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadNPY(bytes.NewReader(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	for _, d := range []DType{BFloat16Type, Int4, Float8E4M3FN, String} {
		x, _ := Zeros(d, []int64{1})
		if err := WriteNPY(io.Discard, x); err == nil || !strings.Contains(err.Error(), "no NumPy dtype") {
			t.Errorf("WriteNPY(%s) gave %v", d, err)
		}
	}
}

func writeNPZ(t testing.TB, path string, compress bool, arrays map[string]*Tensor, order []string) {
	t.Helper()
	w, err := CreateNPZ(path, compress)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range order {
		if err := w.Add(name, arrays[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNPZRoundTripAndStreaming(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "data.npz")
			arrays := map[string]*Tensor{}
			var order []string
			for i, x := range npyTensors(t) {
				name := fmt.Sprintf("a%02d_%s", i, x.DType())
				arrays[name] = x
				order = append(order, name)
			}
			rows := make([]float32, 10*3)
			for i := range rows {
				rows[i] = float32(i)
			}
			arrays["x"] = MustNew([]int64{10, 3}, rows)
			order = append(order, "x")
			writeNPZ(t, path, compress, arrays, order)

			z, err := OpenNPZ(path)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			if !reflect.DeepEqual(z.Names(), order) {
				t.Fatalf("Names = %v, want %v", z.Names(), order)
			}
			for _, name := range order {
				h, err := z.Header(name)
				if err != nil {
					t.Fatal(err)
				}
				if h.DType != arrays[name].DType() || !reflect.DeepEqual(h.Shape, arrays[name].Shape()) {
					t.Errorf("Header(%s) = %+v, want %v", name, h, arrays[name])
				}
				got, err := z.Read(name)
				if err != nil {
					t.Fatal(err)
				}
				sameTensor(t, name, got, arrays[name])
			}

			a, err := z.OpenArray("x")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.SkipRows(2); err != nil {
				t.Fatal(err)
			}
			var seen []float32
			for {
				r, err := a.ReadRows(3)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Shape()[0] > 3 || r.Shape()[1] != 3 {
					t.Fatalf("ReadRows(3) returned %v", r)
				}
				seen = append(seen, Values[float32](r)...)
			}
			if !reflect.DeepEqual(seen, rows[6:]) {
				t.Fatalf("streamed rows %v, want %v", seen, rows[6:])
			}
		})
	}
}

func TestNPZErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.npz")
	writeNPZ(t, path, false, map[string]*Tensor{"a": MustNew([]int64{1}, []int8{1}), "b": MustNew([]int64{1}, []int8{2})}, []string{"a", "b"})
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, err := z.Read("x"); err == nil || !strings.Contains(err.Error(), `d.npz has no array "x" (arrays: a, b)`) {
		t.Errorf("missing array: %v", err)
	}

	notZip := filepath.Join(dir, "bad.npz")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	if _, err := OpenNPZ(notZip); err == nil || !strings.Contains(err.Error(), "bad.npz") {
		t.Errorf("not a zip: %v", err)
	}

	// An entry whose header promises more data than it holds.
	short := filepath.Join(dir, "short.npz")
	f, _ := os.Create(short)
	zw := zip.NewWriter(f)
	ew, _ := zw.Create("x.npy")
	ew.Write(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", make([]byte, 8)))
	zw.Close()
	f.Close()
	zs, err := OpenNPZ(short)
	if err != nil {
		t.Fatal(err)
	}
	defer zs.Close()
	if _, err := zs.Header("x"); err == nil || !strings.Contains(err.Error(), `short.npz: array "x"`) || !strings.Contains(err.Error(), "needs 40 bytes") {
		t.Errorf("short entry: %v", err)
	}
}

func TestNPZWriterIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npz")
	w, err := CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("a", MustNew([]int64{2}, []float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("destination exists before Close: %v", err)
	}
	if err := w.Add("a", MustNew([]int64{1}, []float32{1})); err == nil {
		t.Error("duplicate array name gave no error")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}

	// A failed Add leaves the old destination untouched and no temp file.
	w, err = CreateNPZ(path, true)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := Zeros(BFloat16Type, []int64{1})
	if err := w.Add("b", x); err == nil || !strings.Contains(err.Error(), `array "b"`) {
		t.Fatalf("bfloat16 Add: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "out.npz" {
		t.Fatalf("folder holds %v after Abort", entries)
	}
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if !reflect.DeepEqual(z.Names(), []string{"a"}) {
		t.Fatalf("archive changed: %v", z.Names())
	}
}

func TestReadNPYLyingHeaderDoesNotAllocate(t *testing.T) {
	// The header claims 2^33 float64 values (64 GiB); the data is 8 bytes.
	in := npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (8589934592,), }", make([]byte, 8))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadNPY(bytes.NewReader(in)); err == nil || !strings.Contains(err.Error(), "truncated data") {
		t.Fatalf("error %v", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("reading a lying header allocated %d bytes", got)
	}
}
