package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/internal/inputfile"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
)

// DefaultMaxModelBytes is the default limit on the model file itself
// (protobuf cannot hold more than 2 GiB; larger models keep their weights
// in external data).
const DefaultMaxModelBytes int64 = 2 << 30

// DefaultMaxExternalBytes is the default limit on all external data read.
const DefaultMaxExternalBytes int64 = 64 << 30

// maxElements bounds a tensor's declared element count (2^36 = 64 Gi).
const maxElements = 1 << 36

// ErrInvalidModel is wrapped by every error about the model's content (as
// opposed to I/O errors).
var ErrInvalidModel = errors.New("invalid model")

// LoadOptions bound what Load reads.
type LoadOptions struct {
	// MaxModelBytes limits the model file; 0 means DefaultMaxModelBytes.
	MaxModelBytes int64
	// MaxExternalBytes limits the external data read in total; 0 means
	// DefaultMaxExternalBytes.
	MaxExternalBytes int64
	// SkipExternalData leaves external tensors unread (for inspection of
	// metadata only).
	SkipExternalData bool
}

// Model is a loaded model and where it came from.
type Model struct {
	Proto *onnxpb.ModelProto
	// Path is the file it was loaded from ("" for bytes).
	Path string
	// FileBytes is the size of the model file; ExternalBytes the external
	// data read into tensors.
	FileBytes, ExternalBytes int64
	// ExternalFiles lists the external data files, relative to the model.
	ExternalFiles []string
	// SHA256 of the model file (hex).
	SHA256 string
}

// Load reads a model from path. It returns an error if the file is not a
// regular file (a FIFO would block), is larger than the limit, is not an
// ONNX model, or has external data that is missing, outside the model's
// folder, not a regular file, or inconsistent with its tensor.
func Load(path string, opts LoadOptions) (*Model, error) {
	max := opts.MaxModelBytes
	if max <= 0 {
		max = DefaultMaxModelBytes
	}
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %s, over the %s model file limit", path, humanBytes(st.Size()), humanBytes(max))
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is over the %s model file limit", path, humanBytes(max))
	}
	m, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	model := &Model{Proto: m, Path: path, FileBytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	b = nil
	if err := resolveExternal(model, filepath.Dir(path), opts); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return model, nil
}

// LoadBytes parses a serialized model; external data is resolved relative
// to dir (refused when dir is "").
func LoadBytes(b []byte, dir string, opts LoadOptions) (*Model, error) {
	max := opts.MaxModelBytes
	if max <= 0 {
		max = DefaultMaxModelBytes
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("model is %s, over the %s limit", humanBytes(int64(len(b))), humanBytes(max))
	}
	m, err := parse(b)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	model := &Model{Proto: m, FileBytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	if err := resolveExternal(model, dir, opts); err != nil {
		return nil, err
	}
	return model, nil
}

// parse unmarshals and checks that the message looks like an ONNX model:
// arbitrary bytes often parse as some protobuf message.
func parse(b []byte) (*onnxpb.ModelProto, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrInvalidModel)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: not an ONNX protobuf (truncated or corrupt?): %s", ErrInvalidModel, strings.TrimPrefix(err.Error(), "proto: "))
	}
	if m.IrVersion <= 0 {
		return nil, fmt.Errorf("%w: no ir_version (is this an ONNX model?)", ErrInvalidModel)
	}
	if m.Graph == nil {
		return nil, fmt.Errorf("%w: no graph (is this an ONNX model?)", ErrInvalidModel)
	}
	if m.IrVersion >= 3 && len(m.OpsetImport) == 0 {
		return nil, fmt.Errorf("%w: no opset_import", ErrInvalidModel)
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 && len(m.Graph.Node) == 0 && len(m.Graph.Output) == 0 {
		return nil, fmt.Errorf("%w: unrecognised content and an empty graph (is this an ONNX model?)", ErrInvalidModel)
	}
	return m, nil
}

// ExternalRef is a parsed external_data entry.
type ExternalRef struct {
	Location string
	Offset   int64
	Length   int64 // -1 when absent: to the end of the file
}

// ParseExternal reads a tensor's external_data key/value pairs.
func ParseExternal(t *onnxpb.TensorProto) (ExternalRef, error) {
	ref := ExternalRef{Length: -1}
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			ref.Location = kv.GetValue()
		case "offset", "length":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return ref, fmt.Errorf("external data %s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.Offset = v
			} else {
				ref.Length = v
			}
		}
	}
	if ref.Location == "" {
		return ref, fmt.Errorf("external data has no location")
	}
	return ref, nil
}

// ExpectedBytes returns the raw byte size of a tensor from its dims and
// type, or an error for negative or absurd dims or a type without a fixed
// size.
func ExpectedBytes(t *onnxpb.TensorProto) (int64, error) {
	n := int64(1)
	for _, d := range t.GetDims() {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		if d > 0 && n > maxElements/d {
			return 0, fmt.Errorf("dims %v declare more than 2^36 elements", t.GetDims())
		}
		n *= d
	}
	bits := tensor.DType(t.GetDataType()).Bits()
	if bits == 0 {
		return 0, fmt.Errorf("element type %s has no fixed size", tensor.DType(t.GetDataType()))
	}
	return (n*int64(bits) + 7) / 8, nil
}

type resolver struct {
	dir, realDir string
	opts         LoadOptions
	files        map[string]*os.File
	order        []string
	total        int64
}

func resolveExternal(model *Model, dir string, opts LoadOptions) error {
	max := opts.MaxExternalBytes
	if max <= 0 {
		max = DefaultMaxExternalBytes
	}
	opts.MaxExternalBytes = max
	r := &resolver{dir: dir, opts: opts, files: map[string]*os.File{}}
	defer func() {
		for _, f := range r.files {
			f.Close()
		}
	}()
	err := TensorsAt(model.Proto, func(t *onnxpb.TensorProto, where *Location) error {
		if err := checkInline(t); err != nil {
			return fmt.Errorf("%w: tensor %q (%s): %v", ErrInvalidModel, t.GetName(), where, err)
		}
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		if err := r.read(t); err != nil {
			return fmt.Errorf("tensor %q (%s): %w", t.GetName(), where, err)
		}
		return nil
	})
	model.ExternalFiles = r.order
	model.ExternalBytes = r.total
	return err
}

// checkInline checks an inline tensor's raw_data length against its dims.
func checkInline(t *onnxpb.TensorProto) error {
	for _, d := range t.GetDims() {
		if d < 0 {
			return fmt.Errorf("negative dimension %d", d)
		}
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || t.RawData == nil {
		return nil
	}
	want, err := ExpectedBytes(t)
	if err != nil {
		return err
	}
	if int64(len(t.RawData)) != want {
		return fmt.Errorf("raw_data has %d bytes, its %s dims %v need %d", len(t.RawData), tensor.DType(t.GetDataType()), t.GetDims(), want)
	}
	return nil
}

func (r *resolver) read(t *onnxpb.TensorProto) error {
	ref, err := ParseExternal(t)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	want, err := ExpectedBytes(t)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidModel, err)
	}
	if ref.Length >= 0 && ref.Length != want {
		return fmt.Errorf("%w: external data length %d, but %s dims %v need %d bytes", ErrInvalidModel, ref.Length, tensor.DType(t.GetDataType()), t.GetDims(), want)
	}
	if r.opts.SkipExternalData {
		if _, ok := r.files[ref.Location]; !ok {
			r.files[ref.Location] = nil
			r.order = append(r.order, ref.Location)
		}
		return nil
	}
	f, err := r.open(ref.Location)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if ref.Offset > st.Size() || want > st.Size()-ref.Offset {
		return fmt.Errorf("%w: external data %s offset %d + %d bytes runs past the file's end (%d bytes)", ErrInvalidModel, ref.Location, ref.Offset, want, st.Size())
	}
	if r.total+want > r.opts.MaxExternalBytes {
		return fmt.Errorf("external data exceeds the %s limit", humanBytes(r.opts.MaxExternalBytes))
	}
	buf := make([]byte, want)
	if _, err := f.ReadAt(buf, ref.Offset); err != nil {
		return fmt.Errorf("read %s: %w", ref.Location, err)
	}
	r.total += want
	t.RawData = buf
	t.ExternalData = nil
	t.DataLocation = onnxpb.TensorProto_DEFAULT
	return nil
}

// open resolves an external data location inside the model's folder.
func (r *resolver) open(loc string) (*os.File, error) {
	if f, ok := r.files[loc]; ok && f != nil {
		return f, nil
	}
	if r.dir == "" {
		return nil, fmt.Errorf("%w: external data %q but the model has no folder", ErrInvalidModel, loc)
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "\\") {
		return nil, fmt.Errorf("%w: external data location %q is absolute; it must be relative to the model's folder", ErrInvalidModel, loc)
	}
	clean := filepath.FromSlash(strings.ReplaceAll(loc, "\\", "/"))
	if !filepath.IsLocal(clean) {
		return nil, fmt.Errorf("%w: external data location %q leaves the model's folder", ErrInvalidModel, loc)
	}
	if r.realDir == "" {
		real, err := filepath.EvalSymlinks(r.dir)
		if err != nil {
			return nil, err
		}
		r.realDir, _ = filepath.Abs(real)
	}
	full := filepath.Join(r.dir, clean)
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("external data file %s not found next to the model", loc)
		}
		return nil, err
	}
	real, _ = filepath.Abs(real)
	if rel, err := filepath.Rel(r.realDir, real); err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%w: external data location %q is a link that leaves the model's folder", ErrInvalidModel, loc)
	}
	f, err := inputfile.Open(real)
	if err != nil {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	r.files[loc] = f
	r.order = append(r.order, loc)
	return f, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := float64(unit), 0
	for v := float64(n) / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / div
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f %ciB", v, "KMGTP"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
}

// HumanBytes formats a byte count with binary units ("1.5 MiB").
func HumanBytes(n int64) string { return humanBytes(n) }
