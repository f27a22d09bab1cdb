// Package inputfile opens files infer reads (models, external data, data
// files) so that a FIFO, device or socket in their place is refused at
// once instead of blocking the open or the read forever.
package inputfile

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// NotRegularError is the error for a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	what := ""
	switch t := e.Mode.Type(); {
	case t&fs.ModeDir != 0:
		what = " (a directory)"
	case t&fs.ModeNamedPipe != 0:
		what = " (a FIFO)"
	case t&fs.ModeSocket != 0:
		what = " (a socket)"
	case t&fs.ModeDevice != 0:
		what = " (a device)"
	}
	return fmt.Sprintf("%s is not a regular file%s", e.Path, what)
}

// Open opens path for reading. It returns an error naming path if path
// cannot be opened or, after following symbolic links, is not a regular
// file (a *NotRegularError). The file is checked before it is opened, and
// opened non-blocking and checked again, so a FIFO put in its place
// between the two cannot hang the open.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads the whole of a regular file, as os.ReadFile does; it
// returns Open's errors for anything else.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if st, err := f.Stat(); err == nil {
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func regular(path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	return &NotRegularError{Path: path, Mode: st.Mode()}
}
