package cmdutil

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/graph"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
	"github.com/infer-ml/infer/pkg/progress"
)

// DataFlags select and batch the data a command runs on.
type DataFlags struct {
	Data      string
	BatchSize int
	Limit     int
	Offset    int
	Shapes    []string
	Values    []string
	Seed      int64
	Samples   int
	// found are the shapes Probe found; random data takes shape A.
	found  *probe.Shapes
	probed bool
}

// Bind adds --data, --batch-size, --limit, --offset, --shape,
// --input-value, --seed and --samples.
func (d *DataFlags) Bind(fs *pflag.FlagSet, required bool) {
	what := "the inputs"
	if required {
		what += " (required)"
	}
	usage := what + `: an .npz file, a folder of .npz files, an ONNX test-data folder, or "random"; labels (a label or labels array) optional, for top-1 accuracy`
	fs.StringVar(&d.Data, "data", "", usage)
	fs.IntVar(&d.BatchSize, "batch-size", 0, "samples per run (default 1, or the model's fixed batch size)")
	fs.IntVar(&d.Limit, "limit", 0, "use at most this many samples (0: all)")
	fs.IntVar(&d.Offset, "offset", 0, "skip this many samples first")
	fs.StringSliceVar(&d.Shapes, "shape", nil, "shape of a dynamic input, NAME=1x3x224x224 (repeatable; default: realistic sizes the model runs at)")
	BindValues(fs, &d.Values)
	fs.Int64Var(&d.Seed, "seed", 1, "seed for --data random")
	fs.IntVar(&d.Samples, "samples", 16, "samples to generate for --data random")
}

// Open opens the data for a model's inputs; random data takes the shapes
// Probe finds (it probes first when it has not). Bad flag values are
// usage errors; bad data is an ordinary error.
func (d *DataFlags) Open(m *onnx.Model) (dataset.Source, error) {
	if d.Data == "" {
		return nil, Usagef("--data is required")
	}
	if d.BatchSize < 0 || d.Limit < 0 || d.Offset < 0 || d.Samples <= 0 {
		return nil, Usagef("--batch-size, --limit and --offset must not be negative, --samples must be positive")
	}
	shapes, values, err := ParseInputs(d.Shapes, d.Values)
	if err != nil {
		return nil, err
	}
	if d.Data == "random" && !d.probed {
		// Random data at sizes the model runs at, not a guess.
		if _, _, err := d.Probe(m, ort.Options{}); err != nil {
			return nil, err
		}
	}
	return dataset.Open(d.Data, dataset.FeedSpecsFromGraph(m.Proto.GetGraph()), dataset.Options{
		BatchSize: d.BatchSize, Limit: d.Limit, Offset: d.Offset, Shapes: RandomShapes(d.found, shapes),
		Values: values, Seed: d.Seed, RandomSamples: d.Samples,
	})
}

// Probe finds the shapes generated inputs take (see Probe) and keeps
// them for Open.
func (d *DataFlags) Probe(m *onnx.Model, so ort.Options) (*probe.Shapes, probe.Options, error) {
	shapes, values, err := ParseInputs(d.Shapes, d.Values)
	if err != nil {
		return nil, probe.Options{}, err
	}
	found, po, err := Probe(m, shapes, values, d.BatchSize, d.Seed, so, d.Data == "" || d.Data == "random")
	d.found, d.probed = found, true
	return found, po, err
}

// RuntimeFlags choose the execution provider and threads.
type RuntimeFlags struct {
	EP        string
	EPOptions []string
	Threads   string
	OptLevel  string
}

// Bind adds --ep, --ep-option, --threads and --graph-opt.
func (r *RuntimeFlags) Bind(fs *pflag.FlagSet) {
	r.EP = "cpu"
	fs.Var(&oneProvider{p: &r.EP}, "ep", EPUsage)
	HideDefault(fs, "ep")
	fs.StringArrayVar(&r.EPOptions, "ep-option", nil, "provider option KEY=VALUE or PROVIDER.KEY=VALUE (repeatable), e.g. fp16=true, engine_cache=DIR, device_id=1")
	fs.StringVar(&r.Threads, "threads", "", ThreadsFlagUsage)
	fs.StringVar(&r.OptLevel, "graph-opt", "all", "ONNX Runtime graph optimization level: disable, basic, extended, all")
}

// MaxThreads is the largest thread count --threads takes: four per core,
// at least 16. ONNX Runtime starts every thread of its pools when it
// creates a session, so --threads 100000 took minutes before the first run.
func MaxThreads() int { return max(4*runtime.NumCPU(), 16) }

// ThreadsFlagUsage is the help of --threads.
var ThreadsFlagUsage = fmt.Sprintf("ONNX Runtime threads: INTRA[,INTER], each from 0 (ONNX Runtime's choice, the default) to max(4×cores, 16) = %d here", MaxThreads())

// Options turns the flags into session options; bad values are usage
// errors.
func (r *RuntimeFlags) Options() (ort.Options, error) {
	ps, err := ort.ParseProviders(r.EP, r.EPOptions)
	if err != nil {
		return ort.Options{}, &UsageError{Err: ProviderFlagError(err)}
	}
	lvl, err := ort.ParseOptLevel(r.OptLevel)
	if err != nil {
		return ort.Options{}, &UsageError{Err: err}
	}
	o := ort.Options{Providers: ps, OptLevel: lvl}
	if r.Threads != "" {
		parts := strings.Split(r.Threads, ",")
		if len(parts) > 2 {
			return o, Usagef("--threads %q: want INTRA or INTRA,INTER", r.Threads)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 0 {
				return o, Usagef("--threads %q: %q is not a thread count", r.Threads, p)
			}
			if n > MaxThreads() {
				return o, Usagef("--threads %q: %d threads is more than the %d allowed (4 per core, at least 16)", r.Threads, n, MaxThreads())
			}
			if i == 0 {
				o.IntraOpThreads = n
			} else {
				o.InterOpThreads = n
			}
		}
	}
	return o, nil
}

// ProviderFlagError words ort.ParseProviders' option errors with the
// flags that set them (--ep-option, --ep); other errors pass unchanged.
func ProviderFlagError(err error) error {
	var oe *ort.OptionError
	switch {
	case !errors.As(err, &oe):
		return err
	case oe.Providers == "":
		return fmt.Errorf("--ep-option %q: want key=value", oe.Option)
	}
	return fmt.Errorf("--ep-option %q applies to no provider in --ep %s", oe.Option, oe.Providers)
}

// LoadModel loads and validates a model.
func LoadModel(path string) (*onnx.Model, error) {
	m, err := onnx.Load(path, onnx.LoadOptions{})
	if err != nil {
		return nil, err
	}
	if err := graph.Validate(m.Proto); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// OpenSession starts an ONNX Runtime session for a loaded model: from the
// file when it has external data (so models over 2 GiB work), else from
// memory.
func (f *Factory) OpenSession(m *onnx.Model, opts ort.Options) (*ort.Session, error) {
	if _, err := f.InitORT(); err != nil {
		return nil, err
	}
	var s *ort.Session
	var err error
	if len(m.ExternalFiles) > 0 && m.Path != "" && len(opts.ExtraOutputs) == 0 {
		s, err = ort.NewSessionFromFile(m.Path, opts)
	} else {
		s, err = ort.NewSessionFromModel(m.Proto, opts)
	}
	if err != nil {
		if m.Path != "" {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		return nil, err
	}
	for _, sk := range s.Skipped {
		fmt.Fprintf(f.IO.ErrOut, "infer: provider %s did not start (%s); running on %s\n", sk.Provider.Name, sk.Reason, s.Provider.Name)
	}
	return s, nil
}

// Progress returns a bar on stderr when it is a terminal and progress is
// not disabled, else progress.Nop.
func (f *Factory) Progress(disabled bool) progress.Reporter {
	if disabled || !f.IO.ErrTerminal {
		return progress.Nop
	}
	return progress.NewBar(f.IO.ErrOut)
}

// FixedBatch is the fixed first dimension of a model's first input that
// has one (an export for batch 1), or 0 when the batch size may vary.
func FixedBatch(m *onnxpb.ModelProto) int64 {
	for _, in := range m.GetGraph().GetInput() {
		d := in.GetType().GetTensorType().GetShape().GetDim()
		if len(d) > 0 && d[0].GetDimParam() == "" && d[0].GetDimValue() > 0 {
			return d[0].GetDimValue()
		}
	}
	return 0
}
