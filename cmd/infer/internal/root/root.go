// Package root assembles the infer command tree and maps errors to exit
// codes and one-line messages.
package root

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/cmd/infer/internal/benchcmd"
	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/cmd/infer/internal/comparecmd"
	"github.com/infer-ml/infer/cmd/infer/internal/distillcmd"
	"github.com/infer-ml/infer/cmd/infer/internal/evalcmd"
	"github.com/infer-ml/infer/cmd/infer/internal/inspectcmd"
	"github.com/infer-ml/infer/cmd/infer/internal/prunecmd"
	"github.com/infer-ml/infer/cmd/infer/internal/quantizecmd"
	"github.com/infer-ml/infer/cmd/infer/internal/versioncmd"
	"github.com/infer-ml/infer/internal/buildinfo"
)

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "infer <command> MODEL [flags]",
		Short: "Make ONNX models cheaper to serve, and prove they still answer like the original",
		Long: `infer quantizes, prunes and distills ONNX models, checks the result against
the original on data, and measures its speed on ONNX Runtime execution
providers (CPU, CUDA, TensorRT). It is made for CI scripts.

Exit codes: 0 success, 1 error, 2 usage, 3 quality gate failed.`,
		Example: `  infer inspect model.onnx
  infer quantize model.onnx --data calib.npz --max-accuracy-drop 0.5
  infer eval model.onnx --data test.npz
  infer compare model.onnx model.int8.onnx --data test.npz --max-accuracy-drop 0.5
  infer bench model.onnx model.int8.onnx --ep cpu --format markdown`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       buildinfo.String(),
	}
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetIn(f.IO.In)
	cmd.PersistentFlags().StringVar(&f.ORTLib, "ort-lib", "", "ONNX Runtime shared library to load (else $INFER_ORT_LIB, $ONNXRUNTIME_SHARED_LIBRARY_PATH, .ort/, the system)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.UsageError{Err: fmt.Errorf("%w (see infer %s --help)", err, c.Name())}
	})
	cmd.AddCommand(
		versioncmd.NewCmd(f, nil),
		inspectcmd.NewCmd(f, nil),
		evalcmd.NewCmd(f, nil),
		comparecmd.NewCmd(f, nil),
		benchcmd.NewCmd(f, nil),
		quantizecmd.NewCmd(f, nil),
		prunecmd.NewCmd(f, nil),
		distillcmd.NewCmd(f, nil),
	)
	typeUsageErrors(cmd)
	cmdutil.RegisterCompletions(cmd)
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		return checkFiniteFlags(c.Flags())
	}
	return cmd
}

// typeUsageErrors makes every command's argument-count check return a
// UsageError, so exit 2 is decided by the error's type and never by its
// text (a file named "accepts x.onnx" is an ordinary error). Flag errors
// are typed by the root's FlagErrorFunc, which subcommands inherit.
func typeUsageErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if check := sub.Args; check != nil {
			sub.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return &cmdutil.UsageError{Err: fmt.Errorf("%w (see infer %s --help)", err, cmd.Name())}
				}
				return nil
			}
		}
		typeUsageErrors(sub)
	}
}

// checkFiniteFlags refuses NaN and ±Inf in every floating-point flag the
// user set: a NaN threshold compares false with everything and would
// switch a quality gate off.
func checkFiniteFlags(fs *pflag.FlagSet) error {
	var bad error
	fs.Visit(func(fl *pflag.Flag) {
		if bad != nil {
			return
		}
		var vals []float64
		switch fl.Value.Type() {
		case "float64", "float32":
			v, err := strconv.ParseFloat(fl.Value.String(), 64)
			if err != nil {
				return
			}
			vals = []float64{v}
		case "float64Slice", "float32Slice":
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				for _, s := range sv.GetSlice() {
					if v, err := strconv.ParseFloat(s, 64); err == nil {
						vals = append(vals, v)
					}
				}
			}
		}
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad = cmdutil.Usagef("--%s %v: must be a finite number", fl.Name, v)
				return
			}
		}
	})
	return bad
}

// Main runs infer with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) (code int) {
	f := &cmdutil.Factory{IO: cmdutil.NewIOStreams(in, out, errOut)}
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	verb := ""
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(errOut, "infer: %sinternal error: %v (please report this)\n", verbPrefix(verb), r)
			if os.Getenv("INFER_DEBUG") != "" {
				errOut.Write(debug.Stack())
			}
			code = cmdutil.ExitError
		}
	}()
	if len(args) > 0 {
		verb = args[0]
	}
	c, err := cmd.ExecuteC()
	if c != nil && c != cmd {
		verb = c.Name()
	} else if err != nil && c == cmd && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// Unknown command: cobra reports it from the root.
		err = &cmdutil.UsageError{Err: err}
		verb = ""
	}
	if err == nil {
		return cmdutil.ExitOK
	}
	if !errors.Is(err, cmdutil.ErrSilent) {
		fmt.Fprintf(errOut, "infer: %s%s\n", verbPrefix(verb), oneLine(err.Error()))
	}
	return cmdutil.ExitCode(err)
}

func verbPrefix(verb string) string {
	if verb == "" || strings.HasPrefix(verb, "-") {
		return ""
	}
	return verb + ": "
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		rest := strings.Fields(s[i:])
		s = s[:i] + " " + strings.Join(rest, " ")
	}
	return s
}
