package tensor

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio/npy"

	"github.com/infer-ml/infer/internal/inputfile"
	"github.com/infer-ml/infer/pkg/atomicfile"
)

// NumPy files: npyio parses the header dictionary; this file reads and
// writes the data itself because npyio has no float16 ("<f2") support in
// its typed readers, writes only 1-D shapes for slices, and reads element
// by element. Reading is chunked so a large array is not held twice, and
// rows can be streamed from an .npz entry without loading the array.

// NPYHeader describes an array in a .npy file or an .npz entry.
type NPYHeader struct {
	DType DType
	Shape []int64
	// Fortran is true when the data is column-major on disk; readers still
	// return row-major tensors, but must load the whole array to do so.
	Fortran bool
}

// maxNPYHeader bounds the header dictionary so a corrupt length field does
// not make us allocate gigabytes.
const maxNPYHeader = 1 << 20

// readChunk is how many bytes are decoded at a time.
const readChunk = 1 << 20

var npyDescrs = map[DType]string{
	Bool: "|b1", Int8: "|i1", Uint8: "|u1",
	Int16: "<i2", Uint16: "<u2", Int32: "<i4", Uint32: "<u4",
	Int64: "<i8", Uint64: "<u8",
	Float16: "<f2", Float32: "<f4", Float64: "<f8",
	Complex64: "<c8", Complex128: "<c16",
}

// parseDescr maps a NumPy dtype descriptor such as '<f4' (quotes
// optional) to a DType and the byte order of its data.
func parseDescr(s string) (DType, binary.ByteOrder, error) {
	code := strings.Trim(strings.TrimSpace(s), `'"`)
	var bo binary.ByteOrder = binary.LittleEndian
	if code != "" {
		switch code[0] {
		case '<', '|', '=':
			code = code[1:]
		case '>':
			bo = binary.BigEndian
			code = code[1:]
		}
	}
	if code == "?" {
		code = "b1"
	}
	for d, desc := range npyDescrs {
		if desc[1:] == code {
			return d, bo, nil
		}
	}
	return Undefined, nil, fmt.Errorf("unsupported NumPy dtype %s (want bool, int8..int64, uint8..uint64, float16/32/64 or complex64/128)", s)
}

// readNPYHeader reads the .npy preamble and header from r and returns the
// header, the data byte order and how many bytes it consumed. Afterwards r
// is positioned at the first data byte.
func readNPYHeader(r *bufio.Reader) (h NPYHeader, bo binary.ByteOrder, n int64, err error) {
	pre, err := r.Peek(12)
	if err != nil && len(pre) < 10 {
		return h, nil, 0, fmt.Errorf("not a .npy array: too short (%w)", err)
	}
	if !bytes.Equal(pre[:6], npy.Magic[:]) {
		return h, nil, 0, errors.New("not a .npy array: bad magic bytes")
	}
	switch pre[6] {
	case 1:
		n = 10 + int64(binary.LittleEndian.Uint16(pre[8:]))
	case 2, 3:
		if len(pre) < 12 {
			return h, nil, 0, errors.New("truncated .npy header")
		}
		n = 12 + int64(binary.LittleEndian.Uint32(pre[8:]))
	default:
		return h, nil, 0, fmt.Errorf("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	if n > maxNPYHeader {
		return h, nil, 0, fmt.Errorf("corrupt .npy header: %d bytes long", n)
	}
	// npyio's parser indexes into the header text without bounds checks;
	// a malformed header must be an error, not a crash.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed .npy header: %v", p)
		}
	}()
	nr, err := npy.NewReader(r)
	if err != nil {
		return h, nil, 0, fmt.Errorf("malformed .npy header: %w", err)
	}
	h.DType, bo, err = parseDescr(nr.Header.Descr.Type)
	if err != nil {
		return h, nil, 0, err
	}
	h.Fortran = nr.Header.Descr.Fortran
	h.Shape = make([]int64, len(nr.Header.Descr.Shape))
	for i, d := range nr.Header.Descr.Shape {
		h.Shape[i] = int64(d)
	}
	if _, err := NumElements(h.Shape); err != nil {
		return h, nil, 0, err
	}
	return h, bo, n, nil
}

// ArrayReader reads one NumPy array, whole or a few rows (slices along the
// first axis) at a time. C-order arrays are streamed: memory use is the
// rows asked for plus a 1 MiB buffer. Fortran-order arrays are loaded
// whole on the first read.
type ArrayReader struct {
	label    string
	hdr      NPYHeader
	bo       binary.ByteOrder
	r        *bufio.Reader
	c        io.Closer
	sized    bool // the stream length is known and matches the header
	checkEnd bool // check the stream ends after the data (once)
	esize    int
	rowLen   int
	rows     int
	next     int
	started  bool
	whole    *Tensor // Fortran-order data, row-major, once loaded
}

// newArrayReader reads the header from r. size is the byte length of the
// whole .npy stream, or -1 when unknown.
func newArrayReader(r io.Reader, c io.Closer, label string, size int64) (*ArrayReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, bo, hlen, err := readNPYHeader(br)
	if err != nil {
		return nil, err
	}
	a := &ArrayReader{label: label, hdr: h, bo: bo, r: br, c: c, esize: elemSize(h.DType)}
	n, _ := NumElements(h.Shape)
	if len(h.Shape) > 0 {
		a.rows = int(h.Shape[0])
		a.rowLen = 1
		for _, d := range h.Shape[1:] {
			a.rowLen *= int(d)
		}
	}
	if size >= 0 {
		if want := hlen + int64(n)*int64(a.esize); want != size {
			return nil, fmt.Errorf("array of shape %v %s needs %d bytes after its %d-byte header, the entry has %d",
				h.Shape, h.DType, want-hlen, hlen, size-hlen)
		}
		a.sized, a.checkEnd = true, true
	}
	return a, nil
}

// Header returns the array's element type and shape.
func (a *ArrayReader) Header() NPYHeader { return a.hdr }

// Remaining returns the number of rows not yet read or skipped.
func (a *ArrayReader) Remaining() int { return a.rows - a.next }

// ReadRows returns the next min(n, Remaining()) rows as a new tensor of
// shape [k, shape[1:]...]. It returns io.EOF when no rows are left, and an
// error for n < 1, a scalar array, or truncated or corrupt data.
func (a *ArrayReader) ReadRows(n int) (*Tensor, error) {
	if n < 1 {
		return nil, fmt.Errorf("%s: cannot read %d rows", a.label, n)
	}
	if len(a.hdr.Shape) == 0 {
		return nil, fmt.Errorf("%s: scalar array has no rows", a.label)
	}
	if a.next >= a.rows {
		return nil, io.EOF
	}
	k := min(n, a.rows-a.next)
	t, err := a.take(k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.label, err)
	}
	return t, nil
}

// SkipRows moves past the next min(n, Remaining()) rows without decoding
// them. It returns an error for n < 0, a scalar array or a read failure.
func (a *ArrayReader) SkipRows(n int) error {
	if n < 0 || len(a.hdr.Shape) == 0 {
		return fmt.Errorf("%s: cannot skip %d rows of shape %v", a.label, n, a.hdr.Shape)
	}
	k := min(n, a.rows-a.next)
	if k == 0 {
		return nil
	}
	if a.hdr.Fortran {
		if err := a.loadWhole(); err != nil {
			return fmt.Errorf("%s: %w", a.label, err)
		}
		a.next += k
		return nil
	}
	a.started = true
	if _, err := io.CopyN(io.Discard, a.r, int64(k)*int64(a.rowLen*a.esize)); err != nil {
		return fmt.Errorf("%s: truncated data: %w", a.label, noEOF(err))
	}
	a.next += k
	return a.atEnd()
}

// ReadAll reads the whole array (a scalar included). It returns an error
// if rows were already read or skipped, or if the data is truncated or
// corrupt.
func (a *ArrayReader) ReadAll() (*Tensor, error) {
	if a.started {
		return nil, fmt.Errorf("%s: ReadAll after partial reads", a.label)
	}
	if len(a.hdr.Shape) > 0 {
		if a.rows == 0 {
			return Zeros(a.hdr.DType, a.hdr.Shape)
		}
		return a.ReadRows(a.rows)
	}
	a.started = true
	t, err := a.readData(a.hdr.Shape)
	if err == nil {
		err = a.atEnd()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.label, err)
	}
	return t, nil
}

// Close releases the underlying entry; it does not close a reader given to
// ReadNPY.
func (a *ArrayReader) Close() error {
	if a.c == nil {
		return nil
	}
	c := a.c
	a.c = nil
	return c.Close()
}

func (a *ArrayReader) take(k int) (*Tensor, error) {
	if a.hdr.Fortran {
		if err := a.loadWhole(); err != nil {
			return nil, err
		}
		if a.next == 0 && k == a.rows {
			a.next = k
			return a.whole, nil
		}
		rows, err := a.whole.Rows(a.next, a.next+k)
		if err != nil {
			return nil, err
		}
		a.next += k
		return rows.Clone(), nil
	}
	a.started = true
	shape := append([]int64{int64(k)}, a.hdr.Shape[1:]...)
	t, err := a.readData(shape)
	if err != nil {
		return nil, err
	}
	a.next += k
	return t, a.atEnd()
}

// unsizedAlloc is the most readers allocate up front for data whose
// length the header alone claims; past it they let the buffer grow with
// the data that actually arrives, so a corrupt header cannot make them
// allocate gigabytes.
const unsizedAlloc = 64 << 20

// readRaw reads n bytes of array data.
func (a *ArrayReader) readRaw(n int) ([]byte, error) {
	if a.sized || n <= unsizedAlloc {
		raw := make([]byte, n)
		if _, err := io.ReadFull(a.r, raw); err != nil {
			return nil, fmt.Errorf("truncated data: %w", noEOF(err))
		}
		return raw, nil
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, a.r, int64(n)); err != nil {
		return nil, fmt.Errorf("truncated data: %w", noEOF(err))
	}
	return buf.Bytes(), nil
}

// readData decodes a tensor of the given shape from the stream, in chunks
// when the data length is known.
func (a *ArrayReader) readData(shape []int64) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if !a.sized && n*a.esize > unsizedAlloc {
		raw, err := a.readRaw(n * a.esize)
		if err != nil {
			return nil, err
		}
		t, err := Zeros(a.hdr.DType, shape)
		if err != nil {
			return nil, err
		}
		decodeInto(t.data, 0, raw, a.bo)
		return t, nil
	}
	t, err := Zeros(a.hdr.DType, shape)
	if err != nil {
		return nil, err
	}
	per := max(readChunk/a.esize, 1)
	buf := make([]byte, min(n, per)*a.esize)
	for off := 0; off < n; off += per {
		b := buf[:min(per, n-off)*a.esize]
		if _, err := io.ReadFull(a.r, b); err != nil {
			return nil, fmt.Errorf("truncated data: %w", noEOF(err))
		}
		decodeInto(t.data, off, b, a.bo)
	}
	return t, nil
}

// loadWhole reads a Fortran-order array and reorders it to row-major.
func (a *ArrayReader) loadWhole() error {
	if a.whole != nil {
		return nil
	}
	a.started = true
	n, _ := NumElements(a.hdr.Shape)
	raw, err := a.readRaw(n * a.esize)
	if err != nil {
		return err
	}
	if err := a.atEndOf(true); err != nil {
		return err
	}
	c := fortranToC(raw, a.hdr.Shape, a.esize)
	t, err := Zeros(a.hdr.DType, a.hdr.Shape)
	if err != nil {
		return err
	}
	decodeInto(t.data, 0, c, a.bo)
	a.whole = t
	return nil
}

// fortranToC reorders column-major element bytes to row-major.
func fortranToC(raw []byte, shape []int64, esize int) []byte {
	out := make([]byte, len(raw))
	n := len(raw) / esize
	rank := len(shape)
	// Column-major strides (in elements) of each axis.
	fstride := make([]int, rank)
	s := 1
	for i := range rank {
		fstride[i] = s
		s *= int(shape[i])
	}
	idx := make([]int, rank)
	for c := range n {
		f := 0
		for i := range rank {
			f += idx[i] * fstride[i]
		}
		copy(out[c*esize:(c+1)*esize], raw[f*esize:(f+1)*esize])
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < int(shape[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// atEnd checks, once every row is consumed, that the stream ends there
// (which also makes archive/zip verify the entry's checksum).
func (a *ArrayReader) atEnd() error { return a.atEndOf(a.next >= a.rows) }

func (a *ArrayReader) atEndOf(done bool) error {
	if !done || !a.checkEnd {
		return nil
	}
	a.checkEnd = false
	var one [1]byte
	n, err := a.r.Read(one[:])
	if n > 0 {
		return errors.New("trailing bytes after the array data")
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadNPY reads one .npy array from r, which is left positioned after the
// array data. It returns an error for a malformed header, an unsupported
// dtype (structured, string or object arrays) and truncated data.
func ReadNPY(r io.Reader) (*Tensor, error) {
	a, err := newArrayReader(r, nil, "array", -1)
	if err != nil {
		return nil, fmt.Errorf("read .npy: %w", err)
	}
	t, err := a.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read .npy: %w", err)
	}
	return t, nil
}

// WriteNPY writes t to w in the .npy format (version 1.0, or 2.0 for very
// long headers), little-endian and row-major. It returns an error for
// element types NumPy has no standard dtype for (bfloat16, int4, uint4,
// the float8 and float4 types, strings) and for write failures.
func WriteNPY(w io.Writer, t *Tensor) error {
	if t == nil {
		return errors.New("write .npy: nil tensor")
	}
	hdr, err := npyHeaderBytes(t.dtype, t.shape)
	if err != nil {
		return fmt.Errorf("write .npy: %w", err)
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("write .npy: %w", err)
	}
	if err := writeNPYData(w, t); err != nil {
		return fmt.Errorf("write .npy: %w", err)
	}
	return nil
}

func npyHeaderBytes(d DType, shape []int64) ([]byte, error) {
	descr, ok := npyDescrs[d]
	if !ok {
		return nil, fmt.Errorf("%s has no NumPy dtype", d)
	}
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.FormatInt(s, 10)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	// As NumPy does, pad with spaces and end with a newline so the data
	// starts at a multiple of 64 bytes.
	pre := 10
	if len(dict)+1+64 > 0xFFFF {
		pre = 12
	}
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	out := make([]byte, 0, pre+hlen)
	out = append(out, npy.Magic[:]...)
	if pre == 10 {
		out = append(out, 1, 0)
		out = binary.LittleEndian.AppendUint16(out, uint16(hlen))
	} else {
		out = append(out, 2, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(hlen))
	}
	out = append(out, dict...)
	out = append(out, bytes.Repeat([]byte{' '}, pad)...)
	return append(out, '\n'), nil
}

func writeNPYData(w io.Writer, t *Tensor) error {
	n := t.Len()
	per := max(readChunk/elemSize(t.dtype), 1)
	buf := make([]byte, 0, min(n, per)*elemSize(t.dtype))
	for off := 0; off < n; off += per {
		buf = appendLE(buf[:0], t.data, off, min(off+per, n))
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// NPZ is an open .npz archive (a zip of .npy entries). It reads one array,
// or a few rows of one array, at a time; nothing is loaded until asked.
// Arrays are named as NumPy names them: the entry name without ".npy".
type NPZ struct {
	path  string
	f     *os.File
	size  int64 // of the archive file
	zr    *zip.Reader
	names []string
	files map[string]*zip.File
}

// OpenNPZ opens an .npz archive and lists its arrays. It returns an error,
// naming the file, if it cannot be opened, is not a regular file (a FIFO
// would block), is not a zip archive, or holds two entries with the same
// array name.
func OpenNPZ(path string) (*NPZ, error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil {
		var z *NPZ
		if z, err = newNPZ(path, f, st.Size()); err == nil {
			z.f = f
			return z, nil
		}
	}
	f.Close()
	return nil, err
}

// newNPZ lists the arrays of the size-byte archive r, named path in
// messages.
func newNPZ(path string, r io.ReaderAt, size int64) (*NPZ, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("open %s: not an .npz (zip) archive: %w", path, err)
	}
	z := &NPZ{path: path, size: size, zr: zr, files: map[string]*zip.File{}}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		name := strings.TrimSuffix(zf.Name, ".npy")
		if _, dup := z.files[name]; dup {
			return nil, fmt.Errorf("open %s: array %q appears twice", path, name)
		}
		z.files[name] = zf
		z.names = append(z.names, name)
	}
	return z, nil
}

// Path returns the file name given to OpenNPZ.
func (z *NPZ) Path() string { return z.path }

// Names returns the array names in archive order.
func (z *NPZ) Names() []string { return append([]string{}, z.names...) }

// Has reports whether the archive holds an array called name.
func (z *NPZ) Has(name string) bool { _, ok := z.files[name]; return ok }

// Header returns the element type and shape of an array, reading only its
// header. It returns an error naming the file and array if there is no
// such array, its header is malformed, its dtype is unsupported, or the
// entry size disagrees with the header.
func (z *NPZ) Header(name string) (NPYHeader, error) {
	a, err := z.OpenArray(name)
	if err != nil {
		return NPYHeader{}, err
	}
	defer a.Close()
	return a.Header(), nil
}

// OpenArray opens one array for reading, whole or by rows; close it when
// done. Errors are as for Header, plus an entry that declares more data
// than its compressed bytes can hold (a zip bomb), refused before anything
// is allocated for it.
func (z *NPZ) OpenArray(name string) (*ArrayReader, error) {
	label := fmt.Sprintf("%s: array %q", z.path, name)
	zf, ok := z.files[name]
	if !ok {
		return nil, fmt.Errorf("%s has no array %q (arrays: %s)", z.path, name, strings.Join(z.names, ", "))
	}
	if err := checkEntrySize(&zf.FileHeader, z.size); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	a, err := newArrayReader(rc, rc, label, int64(zf.UncompressedSize64))
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return a, nil
}

// maxDeflateRatio is the most deflate can expand its input: at best a
// 258-byte match costs two 1-bit codes, 1032 bytes per compressed byte.
const maxDeflateRatio = 1032

// checkEntrySize refuses an entry whose declared uncompressed size its
// compressed bytes cannot produce, or whose compressed bytes do not fit in
// the archive. The array header must then agree with the declared size
// (newArrayReader) and archive/zip stops at it, so what an entry can make
// readers allocate is bounded by the archive's real size.
func checkEntrySize(h *zip.FileHeader, archive int64) error {
	c, u := h.CompressedSize64, h.UncompressedSize64
	if c > uint64(archive) {
		return fmt.Errorf("the entry declares %d compressed bytes, but the archive has %d", c, archive)
	}
	if h.Method == zip.Store && u != c {
		return fmt.Errorf("the stored entry declares %d bytes but holds %d", u, c)
	}
	if u/maxDeflateRatio > c {
		return fmt.Errorf("the entry declares %d bytes from %d compressed ones, more than deflate can produce (corrupt, or a zip bomb)", u, c)
	}
	return nil
}

// Read reads a whole array. Errors are as for Header, plus truncated or
// corrupt data.
func (z *NPZ) Read(name string) (*Tensor, error) {
	a, err := z.OpenArray(name)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return a.ReadAll()
}

// Close closes the archive file (nothing for an archive in memory).
func (z *NPZ) Close() error {
	if z.f == nil {
		return nil
	}
	f := z.f
	z.f = nil
	return f.Close()
}

// NPZWriter writes an .npz archive one array at a time. The archive is
// built in a temporary file beside the destination and renamed into place
// by Close, so the destination never holds a partial archive (see package
// atomicfile for links, devices and FIFOs).
type NPZWriter struct {
	path     string
	tmp      *atomicfile.File
	zw       *zip.Writer
	method   uint16
	names    map[string]bool
	err      error
	finished bool
}

// CreateNPZ starts an .npz archive at path. With compress the entries are
// deflated (as numpy.savez_compressed does), otherwise stored (as
// numpy.savez does). An existing file at path is replaced by Close. It
// returns an error if the temporary file cannot be created in path's folder.
func CreateNPZ(path string, compress bool) (*NPZWriter, error) {
	tmp, err := atomicfile.Create(path, true)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	w := &NPZWriter{path: path, tmp: tmp, zw: zip.NewWriter(tmp), method: zip.Store, names: map[string]bool{}}
	if compress {
		w.method = zip.Deflate
	}
	return w, nil
}

// Add writes t as the array called name. It returns an error for an empty
// or repeated name, a dtype NumPy cannot store (see WriteNPY), or a write
// failure; after a write failure every later call fails too and Close
// removes the temporary file.
func (w *NPZWriter) Add(name string, t *Tensor) error {
	if w.finished {
		return fmt.Errorf("write %s: array %q: archive already closed", w.path, name)
	}
	if w.err != nil {
		return w.err
	}
	if name == "" || w.names[name] {
		return fmt.Errorf("write %s: array name %q is empty or already used", w.path, name)
	}
	if t == nil {
		return fmt.Errorf("write %s: array %q: nil tensor", w.path, name)
	}
	hdr, err := npyHeaderBytes(t.dtype, t.shape)
	if err != nil {
		return fmt.Errorf("write %s: array %q: %w", w.path, name, err)
	}
	w.names[name] = true
	ew, err := w.zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: w.method})
	if err == nil {
		_, err = ew.Write(hdr)
	}
	if err == nil {
		err = writeNPYData(ew, t)
	}
	if err != nil {
		w.err = fmt.Errorf("write %s: array %q: %w", w.path, name, err)
		return w.err
	}
	return nil
}

// Close finishes the archive, syncs it and renames it to its destination.
// If an Add failed, or finishing fails, it removes the temporary file and
// returns the error; the destination is then untouched. Calling Close
// again returns nil.
func (w *NPZWriter) Close() error {
	if w.finished {
		return nil
	}
	w.finished = true
	err := w.err
	if err == nil {
		err = w.zw.Close()
	}
	if err == nil {
		err = w.tmp.Commit()
	} else {
		w.tmp.Abort()
	}
	if err != nil {
		if w.err != nil {
			return err
		}
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	return nil
}

// Abort discards the archive: the temporary file is removed and the
// destination is untouched.
func (w *NPZWriter) Abort() error {
	if w.finished {
		return nil
	}
	w.finished = true
	if err := w.tmp.Abort(); err != nil {
		return fmt.Errorf("discard %s: %w", w.path, err)
	}
	return nil
}
