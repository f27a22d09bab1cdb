package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/atomicfile"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// protobufLimit is the largest message protobuf parsers accept.
const protobufLimit = 2<<30 - 1

// SaveOptions control Save.
type SaveOptions struct {
	// Force allows replacing an existing output file (never the input).
	Force bool
	// Inputs are files that must not be overwritten (the models read).
	Inputs []string
	// ExternalThreshold moves tensors of at least this many bytes into one
	// external data file; 0 keeps everything inline unless the model would
	// pass protobuf's 2 GiB limit, when 1 KiB is used.
	ExternalThreshold int64
	// ExternalName is the data file's name, in the model's folder; default
	// "<model file name>.data".
	ExternalName string
}

// SaveResult says what Save wrote.
type SaveResult struct {
	Path         string
	Bytes        int64
	ExternalPath string // "" when no tensor went external
	ExternalSize int64
}

// ErrExists is returned, wrapped with the path, when the output exists and
// Force is not set.
var ErrExists = atomicfile.ErrExists

// Save writes m to path atomically (see package atomicfile: a symbolic
// link is written through, a device or FIFO is written in place). It
// refuses to write over an input or, without Force, over an existing
// regular file, also when one appears while Save runs. Tensors are moved
// to external data as SaveOptions says; m is left as it was.
func Save(m *onnxpb.ModelProto, path string, opts SaveOptions) (*SaveResult, error) {
	if err := checkTarget(path, opts); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	threshold := opts.ExternalThreshold
	if threshold <= 0 && proto.Size(m) > protobufLimit {
		threshold = 1024
	}
	res := &SaveResult{Path: path}
	var restore []func()
	defer func() {
		for i := len(restore) - 1; i >= 0; i-- {
			restore[i]()
		}
	}()
	var dataTmp *atomicfile.File
	dataName := opts.ExternalName
	if dataName == "" {
		dataName = filepath.Base(path) + ".data"
	}
	if !filepath.IsLocal(dataName) {
		return nil, fmt.Errorf("external data name %q must be a file name in the model's folder", dataName)
	}
	dataPath := filepath.Join(dir, dataName)
	if threshold > 0 {
		if atomicfile.Special(path) {
			return nil, fmt.Errorf("%s is not a regular file; a model with external data must be written to one", path)
		}
		if err := checkTarget(dataPath, opts); err != nil {
			return nil, err
		}
		var offset int64
		err := TensorsAt(m, func(t *onnxpb.TensorProto, _ *Location) error {
			if int64(len(t.RawData)) < threshold || t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
				return nil
			}
			if dataTmp == nil {
				f, err := atomicfile.Create(dataPath, opts.Force)
				if err != nil {
					return err
				}
				dataTmp = f
			}
			// Align each tensor to 4 KiB so readers can map it.
			if pad := (4096 - offset%4096) % 4096; pad > 0 && offset > 0 {
				if _, err := dataTmp.Write(make([]byte, pad)); err != nil {
					return err
				}
				offset += pad
			}
			if _, err := dataTmp.Write(t.RawData); err != nil {
				return err
			}
			raw, ext, loc := t.RawData, t.ExternalData, t.DataLocation
			restore = append(restore, func() { t.RawData, t.ExternalData, t.DataLocation = raw, ext, loc })
			t.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: "location", Value: filepath.ToSlash(dataName)},
				{Key: "offset", Value: strconv.FormatInt(offset, 10)},
				{Key: "length", Value: strconv.Itoa(len(raw))},
			}
			t.DataLocation = onnxpb.TensorProto_EXTERNAL
			t.RawData = nil
			offset += int64(len(raw))
			return nil
		})
		if err != nil {
			if dataTmp != nil {
				dataTmp.Abort()
			}
			return nil, fmt.Errorf("write external data: %w", err)
		}
		res.ExternalSize = offset
	}
	if n := proto.Size(m); n > protobufLimit {
		return nil, fmt.Errorf("model is %s without its external data, over protobuf's 2 GiB limit", humanBytes(int64(n)))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("serialize model: %w", err)
	}
	if dataTmp != nil {
		if err := dataTmp.Commit(); err != nil {
			return nil, err
		}
		res.ExternalPath = dataPath
	}
	if err := atomicfile.WriteFile(path, b, opts.Force); err != nil {
		return nil, err
	}
	res.Bytes = int64(len(b))
	return res, nil
}

// checkTarget refuses inputs and, without Force, existing files.
func checkTarget(path string, opts SaveOptions) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, in := range opts.Inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
			return fmt.Errorf("%s is the input model; refusing to overwrite it (choose another -o)", path)
		}
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	// A device or FIFO is written in place: nothing is replaced.
	if !opts.Force && st.Mode().IsRegular() {
		return fmt.Errorf("%s %w", path, ErrExists)
	}
	return nil
}
