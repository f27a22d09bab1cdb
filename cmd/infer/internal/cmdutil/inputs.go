package cmdutil

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/probe"
)

// ValueFlagUsage is the help of --input-value.
const ValueFlagUsage = "constant value for a model input that random data cannot invent, NAME=V (repeatable), e.g. sr=16000; files then need no array for it"

// BindValues adds --input-value.
func BindValues(fs *pflag.FlagSet, values *[]string) {
	fs.StringArrayVar(values, "input-value", nil, ValueFlagUsage)
}

// ParseInputs parses --shape and --input-value; bad values are usage
// errors.
func ParseInputs(shapes, values []string) (map[string][]int64, map[string]float64, error) {
	sh, err := dataset.ParseShapes(shapes)
	if err != nil {
		return nil, nil, &UsageError{Err: fmt.Errorf("--shape: %w", err)}
	}
	vs, err := dataset.ParseValues(values)
	if err != nil {
		return nil, nil, &UsageError{Err: fmt.Errorf("--input-value: %w", err)}
	}
	return sh, vs, nil
}

// Probe finds two realistic input shapes at which the model runs (see
// probe.Find): A to optimize at, B to check the artifact at. The returned
// probe.Options carry the values and seed the shape runs used. A model
// that generated inputs cannot drive is an error only when random data
// must feed it (random); otherwise it is checked at its data's shapes
// alone and the shapes are nil, as when ONNX Runtime cannot load the
// original (the callers then work on its upgraded form).
func Probe(m *onnx.Model, shapes map[string][]int64, values map[string]float64, batch int, seed int64, so ort.Options, random bool) (*probe.Shapes, probe.Options, error) {
	// Shapes do not depend on the provider: probing runs on CPU, so a
	// TensorRT run does not build an engine per candidate shape.
	cpu := ort.Options{IntraOpThreads: so.IntraOpThreads, InterOpThreads: so.InterOpThreads}
	po := probe.Options{User: shapes, Values: values, Batch: batch, Seed: seed, Session: cpu}
	sh, err := probe.Find(m.Proto, po)
	var re *probe.RunError
	var ie *probe.InputError
	switch {
	case err == nil:
		return sh, po, nil
	case errors.As(err, &ie), errors.As(err, &re) && random:
		return nil, po, err
	}
	return nil, po, nil
}

// RandomShapes are the shapes random data takes: A when probing found
// shapes, else the user's.
func RandomShapes(sh *probe.Shapes, user map[string][]int64) map[string][]int64 {
	if sh != nil {
		return sh.A
	}
	return user
}
