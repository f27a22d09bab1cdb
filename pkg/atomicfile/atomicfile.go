// Package atomicfile writes output files so that readers, and the files
// already there, never see half of one.
//
// A regular output is written to a temporary file ".NAME.tmp*" in the
// target's folder, synced, made mode 0644 and then published: renamed over
// the target when replacing is allowed, otherwise linked to the target
// name, which fails when the name exists, so of two concurrent writers
// exactly one succeeds. An output that is a symbolic link is written at
// the link's target; the link stays. An output that exists and is not a
// regular file (a character device such as /dev/null, a FIFO, /dev/stdout)
// is written in place and never replaced.
//
// Temporary files still being written are registered; RemoveLive deletes
// them (on SIGINT or SIGTERM, see CleanOnSignal). A process killed with
// SIGKILL cannot clean up and may leave ".NAME.tmp*" files behind.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned, wrapped with the path, when an output exists and
// replacing it was not allowed.
var ErrExists = errors.New("exists (use --force to replace it)")

// maxLinks bounds symbolic-link chains, as the kernel does (ELOOP).
const maxLinks = 40

// File is an output being written. Write to it, then Commit or Abort.
type File struct {
	f       *os.File
	path    string // the name the caller gave
	target  string // path with its final symbolic links resolved
	replace bool
	inPlace bool // a device or FIFO written directly
}

// Create starts writing path. With replace an existing regular file is
// replaced at Commit; without it Commit fails with ErrExists if the name
// exists by then. It returns an error if path is a directory, if a
// non-regular file cannot be opened for writing, or if the temporary file
// cannot be created in the target's folder. Opening a FIFO waits for a
// reader, as a shell redirection does.
func Create(path string, replace bool) (*File, error) {
	if Special(path) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &File{f: f, path: path, target: path, inPlace: true}, nil
	}
	target, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	f, err := createTemp(target)
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: path, target: target, replace: replace}, nil
}

// Write writes p to the output.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Commit finishes the output: a regular file is synced, made 0644 and
// published under its name (see Create); a device or FIFO is closed. On
// error the temporary file is removed and the target is untouched.
func (f *File) Commit() error {
	if f.inPlace {
		return f.f.Close()
	}
	tmp := f.f.Name()
	defer forget(tmp)
	err := f.f.Sync()
	if err == nil {
		err = f.f.Chmod(0o644)
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.publish(tmp)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Abort discards what was written; the target is untouched (a device or
// FIFO keeps what it already received).
func (f *File) Abort() error {
	err := f.f.Close()
	if f.inPlace {
		return err
	}
	defer forget(f.f.Name())
	return os.Remove(f.f.Name())
}

// publish gives the synced temporary file its final name.
func (f *File) publish(tmp string) error {
	if f.replace {
		return os.Rename(tmp, f.target)
	}
	err := os.Link(tmp, f.target)
	if err == nil {
		os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s %w", f.path, ErrExists)
	}
	// A file system without hard links: check, then rename. Only here can
	// a concurrent writer slip in between.
	if _, lerr := os.Lstat(f.target); lerr == nil {
		return fmt.Errorf("%s %w", f.path, ErrExists)
	}
	return os.Rename(tmp, f.target)
}

// WriteFile writes b to path as Create and Commit do.
func WriteFile(path string, b []byte, replace bool) error {
	return Write(path, replace, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Write streams what write produces to path as Create and Commit do. If
// write fails the output is discarded and its error returned.
func Write(path string, replace bool, write func(io.Writer) error) error {
	f, err := Create(path, replace)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// Special reports whether path (links followed) exists and is neither a
// regular file nor a directory: a device, FIFO or socket, which is written
// in place.
func Special(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// Resolve follows symbolic links in path's last element, dangling ones
// included, and returns the file they lead to. It returns an error for a
// chain longer than 40 links or a link that cannot be read.
func Resolve(path string) (string, error) {
	p := path
	for range maxLinks {
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(p), dest)
		}
		p = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// CheckFolder checks, before any work, that path could be written: a
// device or FIFO always can be tried; otherwise the folder of the file
// path leads to must exist and accept a new file (a temporary file is
// created there and removed). It returns an error naming the folder.
func CheckFolder(path string) error {
	if Special(path) {
		return nil
	}
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("folder %s does not exist", dir)
	}
	f, err := createTemp(target)
	if err != nil {
		// The temporary name means nothing to the user; the reason does.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("folder %s is not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	forget(f.Name())
	return nil
}
