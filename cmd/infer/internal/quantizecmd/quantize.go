// Package quantizecmd implements `infer quantize`.
package quantizecmd

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/infer-ml/infer/cmd/infer/internal/cmdutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/report"
	"github.com/infer-ml/infer/pkg/tensor"
	"github.com/infer-ml/infer/pkg/validate"
	"github.com/infer-ml/infer/quantize"
	"github.com/infer-ml/infer/quantize/calib"
	"github.com/infer-ml/infer/quantize/int4"
)

// Options of `infer quantize`.
type Options struct {
	IO      *cmdutil.IOStreams
	Factory *cmdutil.Factory
	Changed func(string) bool

	Model, Output        string
	Data, EvalData       string
	Mode                 string
	Calibration          string
	Percentile           float64
	CalibrationSamples   int
	PerChannel           bool
	WeightType           string
	ActivationType       string
	SymmetricActivations bool
	OpTypes              []string
	ExcludeNodes         []string
	ExcludeOpTypes       []string
	MaxAccuracyDrop      float64
	MinSQNR              float64
	MinSpeedup           float64
	LatencySearch        bool
	SaveCalibration      string
	CalibrationFiles     []string
	BatchSize            int
	Shapes               []string
	Values               []string
	Seed                 int64
	Runtime              cmdutil.RuntimeFlags
	Report               string
	JSON, DryRun, Force  bool
	DebugLayers          bool
	NoProgress           bool
	Precision            string
	BlockSize            int
	AccuracyLevel        int
	Asymmetric           bool
	KeepIOTypes          bool
	BlockOps             []string
	BlockNodes           []string
	// CommandLine is the command as given, for the report.
	CommandLine []string
}

// NewCmd builds the command; runF replaces the run function in tests.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "quantize MODEL [flags]",
		Short: "Quantize a float model to int8 (static QDQ with calibration, or dynamic), validated against the original",
		Long: `Quantize a float ONNX model to int8 and prove it still answers like the original.

With --data: static quantization in QDQ format — int8 activations and int8
per-channel symmetric weights, MinMax calibration on the first
--calibration-samples samples, validation on the rest (or on --eval-data).
Without data: dynamic quantization of MatMul/Gemm (activations quantized at
run time), validated on random inputs.

Pre-processing first: Constant weights become initializers, the opset is
upgraded to 13 where needed, BatchNormalization is folded into Conv, and
element types are completed by running the model once.

Every result is loaded in ONNX Runtime and compared with the original:
top-1 accuracy (with labels), agreement, SQNR, and a quick latency
comparison. With --max-accuracy-drop (top-1 points) or --min-sqnr (dB), the
nodes whose quantization hurts most are kept float, one at a time, until the
gate holds; if it cannot be met the best model and its report are still
written and the exit code is 3.

int8 is latency-aware: when the first placement is not faster than the
float model on the provider, classes of nodes (depthwise convolutions,
elementwise ops, …) are timed float one by one and kept float where that is
faster; when no placement beats float, the pre-processed float model is
written and the report says why (exit 0, or 3 with --min-speedup).`,
		Example: `  infer quantize model.onnx --data calib.npz
  infer quantize model.onnx --data train.npz --eval-data test.npz --max-accuracy-drop 0.5
  infer quantize model.onnx                       # dynamic: MatMul/Gemm only
  infer quantize model.onnx --data calib.npz --calibration entropy --save-calibration stats.json
  infer quantize model.onnx --calibration-file a.json --calibration-file b.json --eval-data test.npz
  infer quantize model.onnx --data calib.npz --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Model = args[0]
			opts.Changed = c.Flags().Changed
			opts.CommandLine = cmdutil.CommandLine(c, args)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "output model (default MODEL.int8.onnx, .fp16.onnx, .bf16.onnx or .int4.onnx)")
	fl.StringVar(&opts.Precision, "precision", "int8", "int8 (static/dynamic), fp16, bf16 (half precision) or int4 (weight-only MatMulNBits)")
	fl.IntVar(&opts.BlockSize, "block-size", 32, "int4: weights per quantization block along K (32, 64 or 128)")
	fl.IntVar(&opts.AccuracyLevel, "accuracy-level", 0, "int4: MatMulNBits accuracy_level (0–4: the precision of its internal activations)")
	fl.BoolVar(&opts.Asymmetric, "asymmetric", false, "int4: per-block zero points (default symmetric)")
	cmdutil.BoolOn(fl, &opts.KeepIOTypes, "keep-io-types", "fp16/bf16: keep float32 model inputs and outputs (one Cast at each)", "make them fp16/bf16 too")
	fl.StringSliceVar(&opts.BlockOps, "block-ops", nil, "fp16/bf16: op types to keep float32, besides the default block list")
	fl.StringSliceVar(&opts.BlockNodes, "block-nodes", nil, "fp16/bf16: node names to keep float32")
	fl.StringVar(&opts.Data, "data", "", "calibration data (.npz, folder, ONNX test data, or random); also evaluation data unless --eval-data")
	fl.StringVar(&opts.EvalData, "eval-data", "", "evaluation data, separate from the calibration data")
	fl.StringVar(&opts.Mode, "mode", "", "static or dynamic (default: static with --data or --calibration-file, else dynamic)")
	fl.StringVar(&opts.Calibration, "calibration", "minmax", "calibration method: minmax, percentile, entropy")
	fl.Float64Var(&opts.Percentile, "percentile", calib.DefaultPercentile, "percentile calibration: share of values the range keeps")
	fl.IntVar(&opts.CalibrationSamples, "calibration-samples", 500, "samples used for calibration (the first ones of --data; 64 with --data random)")
	cmdutil.BoolOn(fl, &opts.PerChannel, "per-channel", "per-output-channel weight scales", "use one scale per weight tensor")
	fl.StringVar(&opts.WeightType, "weight-type", "int8", "weight type: int8 (symmetric) or uint8 (asymmetric)")
	fl.StringVar(&opts.ActivationType, "activation-type", "auto", "activation type: auto (uint8 on cpu, where ONNX Runtime's fused int8 kernels want uint8 × int8; int8 on cuda/tensorrt), int8 or uint8")
	fl.BoolVar(&opts.SymmetricActivations, "symmetric-activations", false, "symmetric activation ranges (zero point 0)")
	fl.StringSliceVar(&opts.OpTypes, "op-types", nil, "op types to quantize (default: "+strings.Join(quantize.DefaultOpTypes, ",")+")")
	fl.StringSliceVar(&opts.ExcludeNodes, "exclude-nodes", nil, "node names to keep float")
	fl.StringSliceVar(&opts.ExcludeOpTypes, "exclude-op-types", nil, "op types to keep float")
	fl.Float64Var(&opts.MaxAccuracyDrop, "max-accuracy-drop", -1, "gate: largest top-1 accuracy drop in points; keeps damaging nodes float to meet it (exit 3 if impossible; default: no gate)")
	cmdutil.HideDefault(fl, "max-accuracy-drop")
	fl.Float64Var(&opts.MinSQNR, "min-sqnr", 0, "gate for unlabelled data: smallest output SQNR in dB")
	fl.Float64Var(&opts.MinSpeedup, "min-speedup", 0, "gate: smallest speedup over the float model on the provider (e.g. 1.5; exit 3 below it)")
	cmdutil.BoolOn(fl, &opts.LatencySearch, "latency-search", "int8: keep float the node classes that run faster in float, and write the float model when no placement beats it", "keep the first placement as it is")
	fl.StringVar(&opts.SaveCalibration, "save-calibration", "", "write the calibration statistics to this JSON file")
	fl.StringArrayVar(&opts.CalibrationFiles, "calibration-file", nil, "calibration statistics to use (repeatable; merged)")
	fl.IntVar(&opts.BatchSize, "batch-size", 0, "samples per run (default 1, or the model's fixed batch size)")
	fl.StringSliceVar(&opts.Shapes, "shape", nil, "shape of a dynamic input, NAME=1x3x224x224 (default: realistic sizes the model runs at)")
	cmdutil.BindValues(fl, &opts.Values)
	fl.Int64Var(&opts.Seed, "seed", 1, "seed for random data")
	opts.Runtime.Bind(fl)
	fl.StringVar(&opts.Report, "report", "", "write the JSON report to this file")
	fl.BoolVar(&opts.JSON, "json", false, "print the JSON report on stdout instead of tables")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print which nodes would be quantized and why not, write nothing")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing output or report")
	fl.BoolVar(&opts.DebugLayers, "debug-layers", false, "print the layer-wise error table")
	fl.BoolVar(&opts.NoProgress, "no-progress", false, "no progress bar")
	return cmd
}

// Report is the JSON report: the shared sections (docs/report.schema.json)
// and the quantization's own under "quantize".
type Report struct {
	report.Report
	Quantize Details `json:"quantize"`
}

// Details are what quantization decided.
type Details struct {
	Mode           string                  `json:"mode"`
	Quantized      int                     `json:"nodes_quantized"`
	Float          []quantize.NodeDecision `json:"nodes_float"`
	Applied        *quantize.ApplyStats    `json:"applied,omitempty"`
	Layers         []quantize.LayerError   `json:"layer_errors,omitempty"`
	KeptFloat      []quantize.KeptFloat    `json:"kept_float,omitempty"`
	Regions        []quantize.Region       `json:"regions,omitempty"`
	Fallback       *quantize.Fallback      `json:"fallback,omitempty"`
	Kernels        *quantize.Kernels       `json:"ort_kernels,omitempty"`
	CalibrationOut string                  `json:"calibration_file,omitempty"`
}

func defaultOutput(model, precision string) string {
	base := strings.TrimSuffix(model, filepath.Ext(model))
	if precision == "" {
		precision = "int8"
	}
	return base + "." + precision + ".onnx"
}

// Run quantizes.
func Run(opts *Options) error {
	qo, mode, err := plan(opts)
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = defaultOutput(opts.Model, opts.Precision)
	}
	if !opts.DryRun {
		if err := cmdutil.CheckOutputs(opts.Force, append([]string{opts.Model, opts.Data, opts.EvalData}, opts.CalibrationFiles...), out, opts.Report, opts.SaveCalibration); err != nil {
			return err
		}
	}
	info, err := opts.Factory.InitORT()
	if err != nil {
		return err
	}
	m, err := cmdutil.LoadModel(opts.Model)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return dryRun(opts, m, qo, mode)
	}
	specs := dataset.SpecsFromGraph(m.Proto.GetGraph())
	shapes, values, _ := cmdutil.ParseInputs(opts.Shapes, opts.Values)
	for _, data := range []string{opts.Data, opts.EvalData} {
		// Quantization makes inputs with a default value constant weights.
		if fed := dataset.FedDefaults(data, m.Proto.GetGraph(), values); len(fed) > 0 {
			return fmt.Errorf("data %s feeds model input %s, which has a default value (an initializer of the same name); quantization makes it a constant weight: leave it out of the data", data, strings.Join(fed, ", "))
		}
	}
	random := (opts.Data == "" && opts.EvalData == "") || opts.Data == "random" || opts.EvalData == "random"
	found, po, err := cmdutil.Probe(m, shapes, values, opts.BatchSize, opts.Seed, qo.Session, random)
	if err != nil {
		return err
	}
	qo.Shapes, qo.Probe = found, po
	base := dataset.Options{BatchSize: opts.BatchSize, Shapes: cmdutil.RandomShapes(found, shapes), Values: values, Seed: opts.Seed}
	evalSpec := opts.EvalData
	var notes []string
	if mode == quantize.Static && opts.Data != "" {
		co := base
		co.Limit = opts.CalibrationSamples
		if opts.Data == "random" {
			// Random inputs calibrate as well on 64 samples as on 500
			// (their statistics are known in advance); a 640×640 detector
			// would otherwise spend minutes on noise.
			co.RandomSamples = opts.CalibrationSamples
			if opts.Changed == nil || !opts.Changed("calibration-samples") {
				co.RandomSamples = min(opts.CalibrationSamples, randomCalibrationSamples)
			}
			co.Limit = co.RandomSamples
		}
		src, err := dataset.Open(opts.Data, specs, co)
		if err != nil {
			return err
		}
		defer src.Close()
		qo.Calibration = src
	}
	eo := base
	switch {
	case evalSpec != "":
	case opts.Data != "" && opts.Data != "random":
		evalSpec = opts.Data
		if mode == quantize.Static {
			// Validation takes the samples after the calibration ones;
			// a file with fewer has none left (see below).
			all, err := dataset.Open(opts.Data, specs, base)
			if err != nil {
				return err
			}
			eo.Offset = min(opts.CalibrationSamples, all.Len())
			all.Close()
		}
	default:
		evalSpec = "random"
		eo.Seed = opts.Seed + 1
		eo.RandomSamples = 64
		notes = append(notes, "validated on random inputs (agreement and SQNR only); pass --data or --eval-data with labels for accuracy")
	}
	evalSrc, err := dataset.Open(evalSpec, specs, eo)
	if err != nil {
		return err
	}
	defer evalSrc.Close()
	optimistic := false
	if evalSrc.Len() == 0 && eo.Offset > 0 {
		// Every sample went to calibration. Validating on them still
		// proves the model loads and answers like the original; the
		// numbers are optimistic, and the output says so.
		evalSrc.Close()
		eo.Offset, eo.Limit = 0, opts.CalibrationSamples
		if evalSrc, err = dataset.Open(evalSpec, specs, eo); err != nil {
			return err
		}
		defer evalSrc.Close()
		optimistic = true
		notes = append(notes, fmt.Sprintf("validation: calibration data (optimistic): all %d samples of %s were used to calibrate; pass --eval-data, or --calibration-samples below the sample count, for held-out numbers", evalSrc.Len(), evalSpec))
	}
	if evalSrc.Len() == 0 {
		return fmt.Errorf("no evaluation samples in %s", evalSpec)
	}
	if err := qo.Gate.NeedsLabels(evalSrc); err != nil {
		return cmdutil.Worded(err)
	}
	qo.Eval = evalSrc
	if mode == quantize.Dynamic && opts.Data == "" {
		notes = append(notes, "no --data: dynamic quantization of MatMul/Gemm; static quantization with --data covers convolutions too")
	}
	if len(opts.CalibrationFiles) > 0 {
		if qo.CalibrationStats, err = calib.LoadAll(opts.CalibrationFiles...); err != nil {
			return err
		}
	}
	qo.Progress = opts.Factory.Progress(opts.NoProgress)
	res, err := quantize.Quantize(m.Proto, qo)
	if err != nil {
		return cmdutil.Worded(err)
	}
	res.Notes = append(notes, res.Notes...)
	rep := &Report{Report: *report.New(report.NewHeader("quantize", info.Version, opts.CommandLine, optionsEcho(opts, mode, qo)), report.Loaded("model", opts.Model, m))}
	rep.SetOutcome("original", evalSpec, &res.Outcome, res.PrepNotes, res.Notes)
	rep.Validation.Optimistic = optimistic
	if v := qo.Gate.CheckSpeed(res.Speed, res.Provider); v != nil {
		rep.SetGates(append(rep.Gates, *v)...)
	}
	rep.Quantize = Details{Mode: string(mode), Applied: res.Apply, Layers: res.Layers, KeptFloat: res.KeptFloat,
		Regions: res.Regions, Fallback: res.Fallback, Kernels: res.Kernels, Float: []quantize.NodeDecision{}}
	for _, d := range res.Nodes {
		if d.Quantized {
			rep.Quantize.Quantized++
		} else {
			rep.Quantize.Float = append(rep.Quantize.Float, d)
		}
	}
	if opts.SaveCalibration != "" && res.Stats != nil {
		if err := res.Stats.Save(opts.SaveCalibration, opts.Force); err != nil {
			return err
		}
		rep.Quantize.CalibrationOut = opts.SaveCalibration
	}
	return cmdutil.WriteArtifact(opts.IO, cmdutil.Artifact{
		Verb: "quantize", Model: res.Model, Out: out, Inputs: []string{opts.Model}, Force: opts.Force,
		ReportPath: opts.Report, JSON: opts.JSON, Common: &rep.Report, Doc: rep,
		Print: func(w io.Writer) { printReport(w, rep, opts.DebugLayers) }, Written: "the best model found",
	})
}

// optionsEcho lists the options used for the mode: int8 options for
// int8, the conversion's own for fp16/bf16/int4; gates only when set.
func optionsEcho(o *Options, mode quantize.Mode, qo quantize.Options) map[string]any {
	e := map[string]any{"mode": string(mode), "precision": o.Precision, "ep": o.Runtime.EP}
	switch mode {
	case quantize.FP16, quantize.BF16:
		e["keep_io_types"] = qo.Half.KeepIOTypes
		e["block_ops"] = append([]string{}, qo.Half.BlockOps...)
		e["block_nodes"] = append([]string{}, qo.Half.BlockNodes...)
	case quantize.Int4:
		e["block_size"], e["accuracy_level"], e["symmetric"] = qo.Int4.BlockSize, qo.Int4.AccuracyLevel, qo.Int4.Symmetric
	default:
		e["per_channel"], e["weight_type"] = o.PerChannel, o.WeightType
		e["latency_search"] = o.LatencySearch
		if mode == quantize.Static {
			e["activation_type"], e["symmetric_activations"] = qtypeName(qo.Plan.ActivationType), o.SymmetricActivations
			e["calibration"], e["calibration_samples"] = o.Calibration, o.CalibrationSamples
			if o.Calibration == "percentile" {
				e["percentile"] = o.Percentile
			}
		}
		for k, v := range map[string][]string{"op_types": o.OpTypes, "exclude_op_types": o.ExcludeOpTypes, "calibration_files": o.CalibrationFiles} {
			if len(v) > 0 {
				e[k] = v
			}
		}
	}
	if len(o.ExcludeNodes) > 0 && mode != quantize.FP16 && mode != quantize.BF16 {
		e["exclude_nodes"] = o.ExcludeNodes
	}
	cmdutil.EchoGate(e, qo.Gate)
	for k, v := range map[string]string{"data": o.Data, "eval_data": o.EvalData} {
		if v != "" {
			e[k] = v
		}
	}
	return e
}

// plan checks the flags and builds quantize.Options; contradictions and
// unknown values are usage errors.
func plan(o *Options) (quantize.Options, quantize.Mode, error) {
	var qo quantize.Options
	changed := o.Changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	switch o.Precision {
	case "int8", "":
		for _, f := range []string{"block-size", "accuracy-level", "asymmetric", "keep-io-types", "block-ops", "block-nodes"} {
			if changed(f) {
				return qo, "", cmdutil.Usagef("--%s applies to --precision %s", f, map[bool]string{true: "int4", false: "fp16 or bf16"}[f == "block-size" || f == "accuracy-level" || f == "asymmetric"])
			}
		}
	case "fp16", "bf16", "int4":
		return planPrecision(o, changed)
	default:
		return qo, "", cmdutil.Usagef("--precision %q: want int8, fp16, bf16 or int4", o.Precision)
	}
	mode := quantize.Mode(o.Mode)
	switch mode {
	case "":
		mode = quantize.Dynamic
		if o.Data != "" || len(o.CalibrationFiles) > 0 {
			mode = quantize.Static
		}
	case quantize.Static, quantize.Dynamic:
	default:
		return qo, "", cmdutil.Usagef("--mode %q: want static or dynamic", o.Mode)
	}
	if mode == quantize.Static && o.Data == "" && len(o.CalibrationFiles) == 0 {
		return qo, "", cmdutil.Usagef("--mode static needs calibration data (--data) or --calibration-file")
	}
	if mode == quantize.Static && o.Data == "" && o.EvalData == "" {
		return qo, "", cmdutil.Usagef("with --calibration-file and no --data, pass --eval-data to validate the result")
	}
	if mode == quantize.Dynamic {
		for _, f := range []string{"calibration", "percentile", "calibration-samples", "save-calibration", "calibration-file", "activation-type", "symmetric-activations"} {
			if changed(f) {
				return qo, "", cmdutil.Usagef("--%s applies to static quantization; dynamic quantization (no --data) computes activation ranges at run time", f)
			}
		}
		if o.WeightType != "int8" {
			return qo, "", cmdutil.Usagef("dynamic quantization stores int8 weights (ONNX Runtime's dynamic kernels take uint8 activations × int8 weights)")
		}
	}
	method, err := calib.ParseMethod(o.Calibration)
	if err != nil {
		return qo, "", &cmdutil.UsageError{Err: fmt.Errorf("--calibration: %w", err)}
	}
	if changed("percentile") && method != calib.Percentile {
		return qo, "", cmdutil.Usagef("--percentile applies to --calibration percentile")
	}
	if o.Percentile <= 0 || o.Percentile > 100 {
		return qo, "", cmdutil.Usagef("--percentile %g: must be in (0, 100]", o.Percentile)
	}
	if o.CalibrationSamples < 1 {
		return qo, "", cmdutil.Usagef("--calibration-samples %d: must be at least 1", o.CalibrationSamples)
	}
	wt, err := qtype("--weight-type", o.WeightType)
	if err != nil {
		return qo, "", err
	}
	var at tensor.DType // auto: quantize.DefaultActivationType, once the provider is known
	if o.ActivationType != "auto" {
		if at, err = qtype("--activation-type", o.ActivationType); err != nil {
			return qo, "", err
		}
	}
	gate, err := gates(o, changed)
	if err != nil {
		return qo, "", err
	}
	if o.SaveCalibration != "" && mode != quantize.Static {
		return qo, "", cmdutil.Usagef("--save-calibration needs static quantization")
	}
	for _, op := range append(append([]string{}, o.OpTypes...), o.ExcludeOpTypes...) {
		if !known(op, mode) {
			return qo, "", cmdutil.Usagef("op type %q cannot be quantized in %s mode (supported: %s)", op, mode, strings.Join(supported(mode), ", "))
		}
	}
	if _, _, err := cmdutil.ParseInputs(o.Shapes, o.Values); err != nil {
		return qo, "", err
	}
	if o.BatchSize < 0 {
		return qo, "", cmdutil.Usagef("--batch-size must not be negative")
	}
	so, err := o.Runtime.Options()
	if err != nil {
		return qo, "", err
	}
	var opTypes []string
	if len(o.OpTypes) > 0 {
		opTypes = o.OpTypes
	}
	qo = quantize.Options{
		Mode: mode,
		Plan: quantize.PlanOptions{WeightType: wt, ActivationType: at, PerChannel: o.PerChannel, SymmetricActivations: o.SymmetricActivations,
			OpTypes: opTypes, ExcludeNodes: o.ExcludeNodes, ExcludeOpTypes: o.ExcludeOpTypes},
		Calib:              calib.Config{Method: method, Percentile: o.Percentile, Symmetric: o.SymmetricActivations},
		CalibrationSamples: o.CalibrationSamples,
		Gate:               gate,
		Session:            so,
		NoLatencySearch:    !o.LatencySearch,
	}
	if at == tensor.Undefined {
		qo.Plan.ActivationType = quantize.DefaultActivationType(so)
	}
	return qo, mode, nil
}

// gates checks the gate flags; the accuracy-aware search improves one
// metric, so --max-accuracy-drop and --min-sqnr exclude each other.
func gates(o *Options, changed func(string) bool) (validate.Gate, error) {
	if changed("max-accuracy-drop") && changed("min-sqnr") {
		return validate.Gate{}, cmdutil.Usagef("--max-accuracy-drop and --min-sqnr exclude each other: use --max-accuracy-drop with labelled data, --min-sqnr without")
	}
	return cmdutil.GateValues{MaxAccuracyDrop: o.MaxAccuracyDrop, MinSQNR: o.MinSQNR, MinSpeedup: o.MinSpeedup}.Gate(changed)
}

func qtype(flag, s string) (tensor.DType, error) {
	switch s {
	case "int8":
		return tensor.Int8, nil
	case "uint8":
		return tensor.Uint8, nil
	}
	return 0, cmdutil.Usagef("%s %q: want int8 or uint8", flag, s)
}

// randomCalibrationSamples is how many random samples calibrate by
// default (--data random without --calibration-samples).
const randomCalibrationSamples = 64

// int8Kernels lists the integer kernels of ONNX Runtime's optimized
// graph, most frequent first: "51 QLinearConv, 33 QLinearAdd, …".
func int8Kernels(ops map[string]int) string {
	var names []string
	for op := range ops {
		if strings.HasPrefix(op, "QLinear") || strings.HasPrefix(op, "QGemm") || strings.Contains(op, "Integer") || strings.HasPrefix(op, "DynamicQuantize") {
			names = append(names, op)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return ops[names[i]] > ops[names[j]] || ops[names[i]] == ops[names[j]] && names[i] < names[j]
	})
	var parts []string
	for _, op := range names {
		parts = append(parts, fmt.Sprintf("%d %s", ops[op], op))
	}
	if len(parts) == 0 {
		return "no int8 kernel"
	}
	return strings.Join(parts, ", ")
}

func qtypeName(t tensor.DType) string {
	if t == tensor.Uint8 {
		return "uint8"
	}
	return "int8"
}

func supported(mode quantize.Mode) []string {
	if mode == quantize.Dynamic {
		return quantize.DynamicOpTypes
	}
	return quantize.SupportedOpTypes()
}

func known(op string, mode quantize.Mode) bool {
	for _, s := range supported(mode) {
		if s == op {
			return true
		}
	}
	return false
}

func dryRun(opts *Options, m *onnx.Model, qo quantize.Options, mode quantize.Mode) error {
	qo.Mode = mode
	float, pr, err := quantize.PrepareAt(m.Proto, qo)
	if err != nil {
		return err
	}
	notes := pr.Notes
	qo.Plan.Observed = pr.ObservedShapes
	var decisions []quantize.NodeDecision
	switch mode {
	case quantize.FP16, quantize.BF16, quantize.Int4:
		if decisions, err = quantize.PrecisionDecisions(float, qo); err != nil {
			return err
		}
	case quantize.Dynamic:
		if decisions, _, err = quantize.ApplyDynamic(float, qo.Plan); err != nil {
			return err
		}
	default:
		p, more, err := quantize.StaticPlan(float, qo.Plan)
		if err != nil {
			return err
		}
		decisions, notes = p.Nodes, append(notes, more...)
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, map[string]any{"mode": mode, "preprocessing": notes, "nodes": decisions})
	}
	w := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "mode\t%s\n", mode)
	for _, n := range notes {
		fmt.Fprintf(w, "pre-processing\t%s\n", n)
	}
	fmt.Fprintln(w, "\nnode\top\tplan")
	for _, d := range decisions {
		plan := "quantize"
		if !d.Quantized {
			plan = "float: " + d.Reason
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", d.Name, d.OpType, plan)
	}
	return w.Flush()
}

func printReport(out io.Writer, r *Report, layers bool) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	q := &r.Quantize
	report.PrintFiles(w, &r.Report)
	fmt.Fprintf(w, "mode\t%s\n", q.Mode)
	verb := "quantized"
	if q.Mode == "fp16" || q.Mode == "bf16" {
		verb = "converted"
	}
	fmt.Fprintf(w, "nodes\t%d %s, %d float\n", q.Quantized, verb, len(q.Float))
	report.PrintValidation(w, r.Validation)
	report.PrintLatency(w, r.Latency)
	for _, rg := range q.Regions {
		fmt.Fprintf(w, "  region\t%s\n", quantize.RegionSummary(rg))
	}
	if q.Fallback != nil {
		fmt.Fprintf(w, "fallback\tfloat: %s\n", q.Fallback.Reason)
	}
	if k := q.Kernels; k != nil {
		fmt.Fprintf(w, "ORT runs\t%s; quantized nodes left unfused: %d\n", int8Kernels(k.Ops), len(k.Unfused))
	}
	for _, k := range q.KeptFloat {
		fmt.Fprintf(w, "kept float\t%s (%s, layer SQNR %.1f dB) → gate metric %.3f\n", k.Node, k.OpType, k.SQNR, k.Metric)
	}
	report.PrintGates(w, &r.Report)
	w.Flush()
	if layers && len(q.Layers) > 0 {
		fmt.Fprintln(out, "\nlayer-wise error (worst first)")
		lw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(lw, "tensor\tnode\top\tSQNR dB")
		for _, l := range q.Layers {
			fmt.Fprintf(lw, "%s\t%s\t%s\t%.1f\n", l.Tensor, l.Node, l.OpType, l.SQNR)
		}
		lw.Flush()
	}
}

// planPrecision checks the flags of --precision fp16|bf16|int4.
func planPrecision(o *Options, changed func(string) bool) (quantize.Options, quantize.Mode, error) {
	var qo quantize.Options
	mode := quantize.Mode(o.Precision)
	for _, f := range []string{"mode", "calibration", "percentile", "calibration-samples", "save-calibration", "calibration-file",
		"per-channel", "latency-search", "weight-type", "activation-type", "symmetric-activations", "op-types", "exclude-op-types"} {
		if changed(f) {
			return qo, "", cmdutil.Usagef("--%s applies to --precision int8, not %s", f, o.Precision)
		}
	}
	if mode == quantize.Int4 {
		for _, f := range []string{"keep-io-types", "block-ops", "block-nodes"} {
			if changed(f) {
				return qo, "", cmdutil.Usagef("--%s applies to --precision fp16 or bf16", f)
			}
		}
		switch o.BlockSize {
		case 16, 32, 64, 128, 256:
		default:
			return qo, "", cmdutil.Usagef("--block-size %d: want 32, 64 or 128 (16 and 256 also work)", o.BlockSize)
		}
		if o.AccuracyLevel < 0 || o.AccuracyLevel > 4 {
			return qo, "", cmdutil.Usagef("--accuracy-level %d: want 0–4", o.AccuracyLevel)
		}
	} else {
		for _, f := range []string{"block-size", "accuracy-level", "asymmetric"} {
			if changed(f) {
				return qo, "", cmdutil.Usagef("--%s applies to --precision int4", f)
			}
		}
	}
	gate, err := gates(o, changed)
	if err != nil {
		return qo, "", err
	}
	if _, _, err := cmdutil.ParseInputs(o.Shapes, o.Values); err != nil {
		return qo, "", err
	}
	so, err := o.Runtime.Options()
	if err != nil {
		return qo, "", err
	}
	qo = quantize.Options{Mode: mode, Gate: gate, Session: so}
	qo.Half.KeepIOTypes = o.KeepIOTypes
	qo.Half.BlockOps = o.BlockOps
	qo.Half.BlockNodes = o.BlockNodes
	qo.Int4 = int4.Options{BlockSize: o.BlockSize, Symmetric: !o.Asymmetric, AccuracyLevel: o.AccuracyLevel, ExcludeNodes: o.ExcludeNodes}
	return qo, mode, nil
}
