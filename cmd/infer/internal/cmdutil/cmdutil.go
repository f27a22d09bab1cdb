// Package cmdutil holds what every infer command shares: I/O streams, the
// exit-code error kinds, ONNX Runtime start-up and common flags.
package cmdutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/atomicfile"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	ExitGate  = 3
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTerminal reports whether ErrOut is a terminal (progress bars go
	// there only then).
	ErrTerminal bool
}

// NewIOStreams wraps the process streams.
func NewIOStreams(in io.Reader, out, errOut io.Writer) *IOStreams {
	s := &IOStreams{In: in, Out: out, ErrOut: errOut}
	if f, ok := errOut.(*os.File); ok {
		s.ErrTerminal = term.IsTerminal(int(f.Fd()))
	}
	return s
}

// Factory gives commands their shared dependencies.
type Factory struct {
	IO *IOStreams
	// ORTLib is the --ort-lib flag value.
	ORTLib string
}

// InitORT loads the ONNX Runtime library chosen by --ort-lib, the
// environment or the default lookup.
func (f *Factory) InitORT() (ort.LibraryInfo, error) {
	return ort.Init(f.ORTLib)
}

// UsageError is a bad flag or argument: exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, a ...any) error {
	return &UsageError{fmt.Errorf(format, a...)}
}

// GateError is a failed quality gate: exit 3, after the artifact and report
// were written.
type GateError struct{ Err error }

func (e *GateError) Error() string { return e.Err.Error() }
func (e *GateError) Unwrap() error { return e.Err }

// Gatef builds a GateError.
func Gatef(format string, a ...any) error {
	return &GateError{fmt.Errorf(format, a...)}
}

// ErrSilent exits 1 (or the wrapped kind's code) without printing: the
// command already said what went wrong.
var ErrSilent = errors.New("silent")

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var u *UsageError
	var g *GateError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		return ExitUsage
	case errors.As(err, &g):
		return ExitGate
	}
	return ExitError
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// CheckOutput refuses to write over an input, or over an existing regular
// file without force, and checks that the output's folder exists and is
// writable. It is checked before any work starts. A device or FIFO (e.g.
// /dev/null) is accepted without force: it is written in place, never
// replaced.
func CheckOutput(path string, force bool, inputs []string) error {
	if st, err := os.Stat(path); err == nil {
		for _, in := range inputs {
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				return fmt.Errorf("%s is an input; refusing to overwrite it", path)
			}
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		if !force && st.Mode().IsRegular() {
			return fmt.Errorf("%s %w", path, atomicfile.ErrExists)
		}
	}
	// A missing or read-only folder would otherwise fail the write at the
	// end, after all the work.
	if err := atomicfile.CheckFolder(path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// SaveModel writes m to out atomically (refusing to replace inputs, and an
// existing file without force) and loads it back, so what is reported
// (sha256, size) is what is on disk. It returns the reloaded model and
// the bytes written, external data included. A device or FIFO output
// cannot be read back; what was written to it is described instead.
func SaveModel(m *onnxpb.ModelProto, out string, force bool, inputs []string) (*onnx.Model, int64, error) {
	special := atomicfile.Special(out)
	sr, err := onnx.Save(m, out, onnx.SaveOptions{Force: force, Inputs: inputs})
	if err != nil {
		return nil, 0, err
	}
	if special {
		written, err := describe(m)
		return written, sr.Bytes, err
	}
	written, err := onnx.Load(out, onnx.LoadOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("reading back %s: %w", out, err)
	}
	return written, sr.Bytes + sr.ExternalSize, nil
}

// describe returns m as Save serialized it, with its sha256 and size.
func describe(m *onnxpb.ModelProto) (*onnx.Model, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return onnx.LoadBytes(b, "", onnx.LoadOptions{})
}

// WriteReport writes v as indented JSON to path atomically; "" does
// nothing. Without force an existing file is refused, also one that
// appeared after CheckOutputs. model is the model this run already wrote
// ("" for none); a failure then says what is on disk: "wrote model M;
// could not write report R: why".
func WriteReport(path string, force bool, model string, v any) error {
	if path == "" {
		return nil
	}
	var b strings.Builder
	err := WriteJSON(&b, v)
	if err == nil {
		err = atomicfile.WriteFile(path, []byte(b.String()), force)
	}
	if err != nil && model != "" {
		return fmt.Errorf("wrote model %s; could not write report %s: %w", model, path, err)
	}
	if err != nil {
		return fmt.Errorf("could not write report %s: %w", path, err)
	}
	return nil
}

// Finish prints the notes on stderr ("infer: VERB: note"), then the report
// as JSON or through print.
func Finish(s *IOStreams, verb string, notes []string, asJSON bool, rep any, print func(io.Writer)) error {
	for _, n := range notes {
		fmt.Fprintf(s.ErrOut, "infer: %s: %s\n", verb, n)
	}
	if asJSON {
		return WriteJSON(s.Out, rep)
	}
	print(s.Out)
	return nil
}

// CheckOutputs runs CheckOutput on every non-empty path.
func CheckOutputs(force bool, inputs []string, paths ...string) error {
	// Two outputs of one run naming one file would leave only the last
	// written (the report over the model).
	for i, p := range paths {
		for _, q := range paths[i+1:] {
			if p != "" && q != "" && sameFile(p, q) {
				return Usagef("two outputs of this run name %s; give each its own file", q)
			}
		}
	}
	for _, p := range paths {
		if p != "" {
			if err := CheckOutput(p, force, inputs); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameFile reports whether a and b name one file: the same cleaned
// absolute path, or, when both exist, the same file (links).
func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// FLOPs formats a FLOP count with an SI prefix: "1.57 MFLOP".
func FLOPs(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.2f TFLOP", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.2f GFLOP", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MFLOP", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f KFLOP", float64(n)/1e3)
	}
	return fmt.Sprintf("%d FLOP", n)
}
