package quantize

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/quantize/calib"
)

// calibrateMore measures, on the calibration data, those of tensors (what a
// plan of the accuracy-aware search calibrates) that have no range yet, and
// adds them to stats and ranges. Keeping a node float changes what its
// neighbours quantize: a Relu kept float no longer lends its range to its
// producer's quantizer, and a consumer of a pass-through node kept float
// quantizes its input with a range of its own; neither was measured before.
//
// It returns an error when a range is missing and there is no calibration
// data to measure it on (statistics loaded from a file only).
func calibrateMore(float *onnxpb.ModelProto, tensors []string, stats *calib.Stats, ranges map[string][2]float64, opts Options) error {
	var missing []string
	for _, t := range tensors {
		if _, ok := ranges[t]; !ok {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if opts.Calibration == nil {
		return fmt.Errorf("keeping nodes float needs the range of tensor %q, which the calibration statistics lack: calibrate with data", missing[0])
	}
	if err := opts.Calibration.Reset(); err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	s, err := calib.Collect(float, missing, opts.Calibration, calib.CollectOptions{
		Config: opts.Calib, Samples: opts.CalibrationSamples, Session: opts.Session, Progress: opts.Progress,
	})
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	cr, err := s.Ranges(opts.Calib)
	if err != nil {
		return err
	}
	for k, v := range cr {
		ranges[k] = [2]float64{float64(v.Min), float64(v.Max)}
	}
	return stats.Merge(s)
}
