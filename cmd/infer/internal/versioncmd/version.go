// Package versioncmd implements `infer version`.
package versioncmd

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/internal/buildinfo"
	"github.com/infer-ml/infer/pkg/ort"
)

// Options of `infer version`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	JSON    bool
}

// Report is what `infer version --json` prints.
type Report struct {
	Infer      string               `json:"infer"`
	Go         string               `json:"go"`
	ORTVersion string               `json:"onnxruntime_version,omitempty"`
	ORTLibrary string               `json:"onnxruntime_library,omitempty"`
	ORTSource  string               `json:"onnxruntime_library_source,omitempty"`
	ORTError   string               `json:"onnxruntime_error,omitempty"`
	Compiled   []string             `json:"providers_compiled,omitempty"`
	Providers  []ort.ProviderStatus `json:"providers,omitempty"`
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print infer's version, the ONNX Runtime library in use and which execution providers start",
		Example: `  infer version
  infer version --json
  infer version --ort-lib /opt/onnxruntime-gpu/lib/libonnxruntime.so.1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	return cmd
}

// Run prints the report; it returns an error (exit 1) when no ONNX Runtime
// library can be loaded, after printing what it knows.
func Run(opts *Options) error {
	r := Report{Infer: buildinfo.String(), Go: runtime.Version()}
	info, err := opts.Factory.InitORT()
	if err != nil {
		r.ORTError = err.Error()
	} else {
		r.ORTVersion, r.ORTLibrary, r.ORTSource = info.Version, info.Path, info.Source
		if r.Compiled, err = ort.CompiledProviders(); err != nil {
			r.ORTError = err.Error()
		}
		if r.Providers, err = ort.ProbeProviders(); err != nil {
			r.ORTError = err.Error()
		}
	}
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, r); err != nil {
			return err
		}
	} else {
		w := opts.IO.Out
		fmt.Fprintf(w, "infer %s (%s)\n", r.Infer, r.Go)
		if r.ORTVersion != "" {
			fmt.Fprintf(w, "onnxruntime %s: %s (%s)\n", r.ORTVersion, r.ORTLibrary, r.ORTSource)
			fmt.Fprintf(w, "providers compiled in: %s\n", strings.Join(r.Compiled, ", "))
			for _, p := range r.Providers {
				state := "starts"
				if !p.Starts {
					state = "does not start: " + p.Reason
				}
				fmt.Fprintf(w, "  %-9s %s\n", p.Name, state)
			}
		}
	}
	if r.ORTError != "" {
		return fmt.Errorf("%s", r.ORTError)
	}
	return nil
}
