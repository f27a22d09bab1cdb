package tensor

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// deflatedNPZ builds an .npz archive of one deflated entry, name.npy,
// holding npy followed by zeros zero bytes, whose zip directory declares
// declared uncompressed bytes (whatever the data really expands to). The
// zeros are streamed through the compressor, so a 200 MB bomb costs a
// few hundred kilobytes.
func deflatedNPZ(t testing.TB, name string, npy []byte, zeros int64, declared uint64) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(npy)
	block := make([]byte, 1<<20)
	for left := zeros; left > 0; left -= int64(len(block)) {
		fw.Write(block[:min(left, int64(len(block)))])
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	ew, err := zw.CreateRaw(&zip.FileHeader{Name: name + ".npy", Method: zip.Deflate,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
	if err == nil {
		_, err = ew.Write(comp.Bytes())
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Zip bombs are refused when their header is read, before anything the
// size of their claims is allocated: an entry whose declared size no
// deflate stream of its length can produce, an entry that declares
// more than its array header, and an entry whose data expands (to 200 MB)
// past the small size it declares.
func TestNPZBombsRefused(t *testing.T) {
	dir := t.TempDir()
	// [2^30] float32: 4 GiB declared by both the array header and the
	// zip directory, from about a kilobyte of deflate data.
	huge := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,), }", nil)
	small := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", nil)
	cases := []struct {
		name, want string
		zip        []byte
	}{
		{"declared beyond deflate", "more than deflate can produce", deflatedNPZ(t, "x", huge, 1<<20, uint64(len(huge))+4<<30)},
		{"entry larger than header", "needs 40 bytes", deflatedNPZ(t, "x", small, 200<<20, uint64(len(small))+200<<20)},
		{"data beyond declared size", "zip", deflatedNPZ(t, "x", small, 200<<20, uint64(len(small))+40)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npz")
			if err := os.WriteFile(path, c.zip, 0o644); err != nil {
				t.Fatal(err)
			}
			z, err := OpenNPZ(path)
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = z.Read("x")
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), path+`: array "x"`) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming the file and array and saying %q, got %v", c.want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Fatalf("refusing the bomb allocated %d bytes", got)
			}
		})
	}
}

// A stored (uncompressed) entry must hold exactly what it declares.
func TestNPZStoredEntrySizeMustMatch(t *testing.T) {
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	data := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,), }", make([]byte, 8))
	ew, err := zw.CreateRaw(&zip.FileHeader{Name: "x.npy", Method: zip.Store,
		CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)) - 8 + 4<<30})
	if err != nil {
		t.Fatal(err)
	}
	ew.Write(data)
	zw.Close()
	path := filepath.Join(t.TempDir(), "stored.npz")
	os.WriteFile(path, out.Bytes(), 0o644)
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, err := z.Header("x"); err == nil || !strings.Contains(err.Error(), "stored entry declares") {
		t.Fatalf("want the stored size mismatch refused, got %v", err)
	}
}
