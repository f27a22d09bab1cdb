package quantize

import (
	"fmt"
	"math"

	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

// qrange returns the integer range used for a quantized type. Symmetric
// int8 uses [-127, 127] so that +absmax and −absmax both map exactly.
func qrange(t tensor.DType, symmetric bool) (int32, int32, error) {
	switch t {
	case tensor.Int8:
		if symmetric {
			return -127, 127, nil
		}
		return -128, 127, nil
	case tensor.Uint8:
		return 0, 255, nil
	}
	return 0, 0, fmt.Errorf("quantized type %s is not int8 or uint8", t)
}

// Params are a scale and zero point.
type Params struct {
	Scale     float32
	ZeroPoint int32
}

// ComputeParams maps the float range [lo, hi] onto type t. The range is
// widened to include 0 (zero must be exact). Symmetric ranges use
// max(|lo|, |hi|) with zero point 0 (int8) or 128 (uint8). A range of zero
// width gets scale 1 so dequantization stays finite.
func ComputeParams(lo, hi float64, t tensor.DType, symmetric bool) (Params, error) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return Params{}, fmt.Errorf("range [%g, %g] is not finite", lo, hi)
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	qmin, qmax, err := qrange(t, symmetric)
	if err != nil {
		return Params{}, err
	}
	if symmetric {
		absmax := math.Max(-lo, hi)
		zp := int32(0)
		if t == tensor.Uint8 {
			zp = 128
		}
		scale := absmax / float64(qmax-zp)
		if scale == 0 {
			scale = 1
		}
		return Params{Scale: float32(scale), ZeroPoint: zp}, nil
	}
	scale := (hi - lo) / float64(qmax-qmin)
	if scale == 0 {
		return Params{Scale: 1, ZeroPoint: clampZP(0, qmin, qmax)}, nil
	}
	zp := math.RoundToEven(float64(qmin) - lo/scale)
	return Params{Scale: float32(scale), ZeroPoint: clampZP(int32(zp), qmin, qmax)}, nil
}

func clampZP(z, lo, hi int32) int32 { return max(lo, min(hi, z)) }

// DefaultActivationType is the activation type static quantization uses
// unless told otherwise: uint8 on the CPU provider, int8 elsewhere.
//
// ONNX Runtime's x86 int8 kernels multiply uint8 activations by int8
// weights (VPMADDUBSW/VNNI); with int8 activations its QDQ fusion leaves a
// convolution whose input has several readers as DequantizeLinear → float
// Conv, and the model gets slower than float (measured in
// docs/quantize.md: a ResNet-18 ran 0.49× with int8 activations, 3.3× with
// uint8). CUDA and TensorRT take int8 activations (TensorRT only those).
func DefaultActivationType(so ort.Options) tensor.DType {
	if onCPU(so) {
		return tensor.Uint8
	}
	return tensor.Int8
}
