// Package ort runs ONNX models in ONNX Runtime through
// github.com/yalue/onnxruntime_go: it finds and loads the shared library,
// configures execution providers with explicit, recorded fallback, and runs
// sessions on pkg/tensor values, optionally exposing intermediate tensors as
// extra outputs.
//
// The library is process-global: Init loads it once; later calls with the
// same or an empty path return the first result.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

// LibFileName is the file name `make setup` provisions into .ort/.
const LibFileName = "libonnxruntime.so.1"

// Environment variables naming the library, in lookup order.
const (
	EnvInferLib = "INFER_ORT_LIB"
	EnvORTLib   = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
)

// ErrNoLibrary is wrapped by Init's error when no library could be found.
var ErrNoLibrary = errors.New("ONNX Runtime library not found")

// LibraryInfo says which library is loaded and how it was chosen.
type LibraryInfo struct {
	Path    string // as passed to dlopen
	Source  string // "--ort-lib", "INFER_ORT_LIB", ".ort next to the binary", "system loader path", ...
	Version string // the library's own version string, e.g. "1.30.0"
}

var (
	initMu   sync.Mutex
	initDone bool
	initInfo LibraryInfo
	initErr  error
)

type candidate struct {
	path, source string
	explicit     bool // named by the user: failing to open it is an error
}

// candidates lists where to look, in DESIGN.md's order.
func candidates(flagPath string) []candidate {
	if flagPath != "" {
		return []candidate{{flagPath, "--ort-lib", true}}
	}
	if p := os.Getenv(EnvInferLib); p != "" {
		return []candidate{{p, EnvInferLib, true}}
	}
	if p := os.Getenv(EnvORTLib); p != "" {
		return []candidate{{p, EnvORTLib, true}}
	}
	var cs []candidate
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		cs = append(cs, candidate{filepath.Join(filepath.Dir(exe), ".ort", LibFileName), ".ort next to the binary", false})
	}
	if wd, err := os.Getwd(); err == nil {
		cs = append(cs, candidate{filepath.Join(wd, ".ort", LibFileName), ".ort in the working directory", false})
	}
	// No slash: dlopen searches LD_LIBRARY_PATH, the ld.so cache and the
	// default directories.
	cs = append(cs, candidate{LibFileName, "system loader path", false}, candidate{"libonnxruntime.so", "system loader path", false})
	return cs
}

// Init loads the ONNX Runtime shared library. libPath is the --ort-lib flag
// value ("" to use the environment and the default lookup). It returns an
// error wrapping ErrNoLibrary when nothing was found, or naming the path and
// the loader's reason when a named library cannot be opened or is not a
// usable ONNX Runtime (onnxruntime_go needs C API version 24, ORT ≥ 1.24).
func Init(libPath string) (LibraryInfo, error) {
	initMu.Lock()
	defer initMu.Unlock()
	if initDone {
		if libPath != "" && initErr == nil && libPath != initInfo.Path {
			return initInfo, fmt.Errorf("ONNX Runtime is already loaded from %s; cannot switch to %s in one process", initInfo.Path, libPath)
		}
		return initInfo, initErr
	}
	initInfo, initErr = load(libPath)
	initDone = true
	return initInfo, initErr
}

// Loaded reports the library loaded by a successful Init.
func Loaded() (LibraryInfo, bool) {
	initMu.Lock()
	defer initMu.Unlock()
	return initInfo, initDone && initErr == nil
}

func load(flagPath string) (LibraryInfo, error) {
	var tried []string
	for _, c := range candidates(flagPath) {
		if !c.explicit && filepath.IsAbs(c.path) {
			if _, err := os.Stat(c.path); err != nil {
				tried = append(tried, c.path)
				continue
			}
		}
		// A bare file name is for the dynamic loader to search.
		if c.explicit && strings.ContainsRune(c.path, '/') {
			if _, err := os.Stat(c.path); err != nil {
				return LibraryInfo{}, fmt.Errorf("ONNX Runtime library %s (from %s): %w", c.path, c.source, errors.Unwrap(err))
			}
		}
		ortgo.SetSharedLibraryPath(c.path)
		err := ortgo.InitializeEnvironment(ortgo.WithLogLevelFatal())
		if err == nil {
			return LibraryInfo{Path: c.path, Source: c.source, Version: ortgo.GetVersion()}, nil
		}
		if c.explicit || filepath.IsAbs(c.path) {
			return LibraryInfo{}, fmt.Errorf("cannot use ONNX Runtime library %s (from %s): %s; infer needs ONNX Runtime 1.24 or newer (run `make setup` for the CPU build)", c.path, c.source, oneLine(err.Error()))
		}
		tried = append(tried, c.path)
	}
	return LibraryInfo{}, fmt.Errorf("%w (looked in %v): run `make setup` to fetch the CPU build into .ort/, or pass --ort-lib PATH or set %s", ErrNoLibrary, tried, EnvInferLib)
}
