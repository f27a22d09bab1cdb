package testmodels

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// RepoRoot returns the nearest directory at or above the working directory
// that holds a go.mod file. It returns an error if there is none.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// ORTLibrary returns the ONNX Runtime shared library tests should load:
// $INFER_ORT_LIB when set (whether or not it exists, since a library named
// explicitly must not be swapped for another), else .ort/libonnxruntime.so.1
// in the repository root. For the latter it returns an error wrapping
// fs.ErrNotExist when the file is missing, so tests can skip.
func ORTLibrary() (string, error) {
	if p := os.Getenv("INFER_ORT_LIB"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".ort", "libonnxruntime.so.1")
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no ONNX Runtime library at %s (run make setup, or set INFER_ORT_LIB): %w", p, fs.ErrNotExist)
		}
		return "", err
	}
	return p, nil
}
