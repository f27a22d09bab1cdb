// Package inspectcmd implements `infer inspect`.
package inspectcmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/inspect"
	"github.com/infer-ml/infer/pkg/onnx"
)

// Options of `infer inspect`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory

	Model string
	JSON  bool
	// Shapes sets dynamic dimensions for the FLOP estimate (name=1x3x224x224
	// style entries are for inputs; dim=VALUE for symbolic dimensions).
	Dims    []string
	NoRun   bool
	MaxSize int64
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Summarise a model: signature, operators, parameters, sparsity, quantization, FLOPs",
		Long: `Summarise an ONNX model: IR and opset versions, producer, inputs and outputs,
operator histogram, parameters and bytes by element type (weights in Constant
nodes and subgraphs included), weight sparsity, quantization state (QDQ,
QOperator, MatMulNBits, fp16), external data files and estimated FLOPs of
Conv/MatMul/Gemm nodes for one batch: batch size 1 unless the model fixes
it, other dynamic dimensions at realistic sizes (224 for images, 128 for
sequences) unless --dim gives them; the output names the input shapes.

FLOPs need every intermediate shape: infer runs the model once in ONNX
Runtime on random inputs (skip with --no-run; then only value_info shapes are
used).`,
		Example: `  infer inspect model.onnx
  infer inspect model.onnx --json
  infer inspect model.onnx --dim batch=8`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Model = args[0]
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	cmd.Flags().StringSliceVar(&opts.Dims, "dim", nil, "size of a symbolic dimension for the FLOP estimate, NAME=VALUE (default: batch 1, realistic sizes for the rest)")
	cmd.Flags().BoolVar(&opts.NoRun, "no-run", false, "do not run the model in ONNX Runtime to find shapes")
	cmd.Flags().Int64Var(&opts.MaxSize, "max-model-size", onnx.DefaultMaxModelBytes, "refuse model files larger than this many bytes")
	return cmd
}

// Run inspects the model.
func Run(opts *Options) error {
	dims := map[string]int64{}
	for _, d := range opts.Dims {
		k, v, ok := strings.Cut(d, "=")
		var n int64
		if _, err := fmt.Sscan(v, &n); !ok || err != nil || n <= 0 {
			return cmdutil.Usagef("--dim %q: want NAME=POSITIVE_INTEGER", d)
		}
		dims[k] = n
	}
	m, err := onnx.Load(opts.Model, onnx.LoadOptions{MaxModelBytes: opts.MaxSize})
	if err != nil {
		return err
	}
	if err := graph.Validate(m.Proto); err != nil {
		return fmt.Errorf("%s: %w", opts.Model, err)
	}
	var shapes map[string][]int64
	var shapeErr error
	if !opts.NoRun {
		if _, err := opts.Factory.InitORT(); err != nil {
			return err
		}
		shapes, shapeErr = inspect.Shapes(m.Proto, dims)
	}
	s := inspect.Inspect(m, shapes)
	if shapeErr != nil {
		s.FLOPs.Note = "ONNX Runtime could not run the model to find shapes: " + shapeErr.Error()
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, s)
	}
	printSummary(opts.IO.Out, s)
	return nil
}

func printSummary(out io.Writer, s *inspect.Summary) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%s\n", s.Path)
	fmt.Fprintf(w, "size\t%s", onnx.HumanBytes(s.FileBytes))
	if s.ExternalBytes > 0 {
		fmt.Fprintf(w, " + %s external data (%s)", onnx.HumanBytes(s.ExternalBytes), strings.Join(s.ExternalFiles, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "sha256\t%s\n", s.SHA256)
	var opsets []string
	for _, o := range s.Opsets {
		opsets = append(opsets, fmt.Sprintf("%s %d", o.Domain, o.Version))
	}
	fmt.Fprintf(w, "ir version\t%d\n", s.IRVersion)
	fmt.Fprintf(w, "opsets\t%s\n", strings.Join(opsets, ", "))
	if s.Producer != "" {
		fmt.Fprintf(w, "producer\t%s\n", strings.TrimSpace(s.Producer+" "+s.ProducerVersion))
	}
	for _, v := range s.Inputs {
		fmt.Fprintf(w, "input\t%s\t%s[%s]\n", v.Name, v.Type, strings.Join(v.Shape, ","))
	}
	for _, v := range s.Outputs {
		fmt.Fprintf(w, "output\t%s\t%s[%s]\n", v.Name, v.Type, strings.Join(v.Shape, ","))
	}
	nodes := fmt.Sprintf("%d", s.Nodes)
	if s.SubgraphNodes > 0 {
		nodes += fmt.Sprintf(" (+%d in %d subgraphs)", s.SubgraphNodes, s.Subgraphs)
	}
	fmt.Fprintf(w, "nodes\t%s\n", nodes)
	var ops []string
	for _, o := range s.Ops {
		ops = append(ops, fmt.Sprintf("%s×%d", o.Op, o.Count))
	}
	fmt.Fprintf(w, "operators\t%s\n", strings.Join(ops, " "))
	fmt.Fprintf(w, "float parameters\t%s\n", thousands(s.FloatParams))
	for _, p := range s.Params {
		fmt.Fprintf(w, "  %s\t%s elements in %d tensors, %s\n", p.DType, thousands(p.Elements), p.Tensors, onnx.HumanBytes(p.Bytes))
	}
	if s.ConstantWeights > 0 || s.SubgraphWeights > 0 {
		fmt.Fprintf(w, "weights elsewhere\t%d in Constant nodes, %d in subgraphs\n", s.ConstantWeights, s.SubgraphWeights)
	}
	fmt.Fprintf(w, "weight sparsity\t%.2f%%\n", 100*s.Sparsity)
	q := "float (not quantized)"
	if len(s.Quantization.Formats) > 0 {
		q = strings.Join(s.Quantization.Formats, ", ")
	}
	fmt.Fprintf(w, "quantization\t%s\n", q)
	label := "FLOPs"
	if s.FLOPs.Batch > 0 {
		label = fmt.Sprintf("FLOPs (batch %d)", s.FLOPs.Batch)
	}
	switch {
	case s.FLOPs.Counted > 0:
		var by []string
		keys := make([]string, 0, len(s.FLOPs.ByOp))
		for k := range s.FLOPs.ByOp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			by = append(by, fmt.Sprintf("%s %s", k, cmdutil.FLOPs(s.FLOPs.ByOp[k])))
		}
		fmt.Fprintf(w, "%s\t%s (%s)", label, cmdutil.FLOPs(s.FLOPs.Total), strings.Join(by, ", "))
		if s.FLOPs.Inputs != "" {
			fmt.Fprintf(w, " at %s", s.FLOPs.Inputs)
		}
		if s.FLOPs.Unknown > 0 {
			fmt.Fprintf(w, "; %d nodes with unknown shapes not counted", s.FLOPs.Unknown)
		}
		fmt.Fprintln(w)
	case s.FLOPs.Unknown > 0:
		fmt.Fprintf(w, "%s\tunknown: shapes not known\n", label)
	default:
		fmt.Fprintf(w, "%s\t0 (no Conv/MatMul/Gemm)\n", label)
	}
	if s.FLOPs.Note != "" {
		fmt.Fprintf(w, "note\t%s\n", s.FLOPs.Note)
	}
	w.Flush()
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
