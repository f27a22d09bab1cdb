package graph

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// Adapters for operator schema changes. Each turns a node valid for the
// operator's previous schema into one valid for the next; helper nodes it
// creates are written in the target opset's form. They are listed by
// operator and version in opsets.go.

func dropConsumedInputs(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	removeAttr(n, "consumed_inputs")
	return nil
}

// legacyBroadcast replaces broadcast=1/axis=k (B's dimensions align with
// A's starting at axis k) by NumPy broadcasting, which aligns trailing
// dimensions: B gets trailing 1-dimensions when k does not already align
// it at the end.
func legacyBroadcast(c *upgradeCtx, n *onnxpb.NodeProto) error {
	b, err := attrInt(n, "broadcast", 0)
	if err != nil {
		return err
	}
	axisAttr := attr(n, "axis")
	removeAttr(n, "broadcast")
	removeAttr(n, "axis")
	if b == 0 || axisAttr == nil {
		// Equal shapes, or B aligned with A's trailing dimensions: NumPy
		// broadcasting computes the same.
		return nil
	}
	a, bName := input(n, 0), input(n, 1)
	ra, rb := c.env.rank(a), c.env.rank(bName)
	if ra < 0 || rb < 0 {
		return fmt.Errorf("broadcast=1 with axis=%d needs the ranks of %q and %q, and they are not known (declare their shapes in value_info)", axisAttr.GetI(), a, bName)
	}
	axis := axisAttr.GetI()
	if axis < 0 {
		axis += int64(ra)
	}
	trailing := int64(ra) - axis - int64(rb)
	if axis < 0 || trailing < 0 {
		return fmt.Errorf("broadcast axis %d does not fit ranks %d (%q) and %d (%q)", axisAttr.GetI(), ra, a, rb, bName)
	}
	if trailing == 0 {
		return nil
	}
	if t := c.env.constTensor(bName); t != nil {
		reshaped := proto.Clone(t).(*onnxpb.TensorProto)
		for k := int64(0); k < trailing; k++ {
			reshaped.Dims = append(reshaped.Dims, 1)
		}
		n.Input[1] = c.constant("b", reshaped)
		return nil
	}
	axes := make([]int64, trailing)
	for k := range axes {
		axes[k] = int64(rb) + int64(k)
	}
	n.Input[1] = c.unsqueeze(bName, axes)
	return nil
}

func gemmDropBroadcast(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	// Gemm-7 broadcasts C unidirectionally, which covers both old modes.
	removeAttr(n, "broadcast")
	return nil
}

// preluSlope: PRelu-6 took a slope of size 1 or one slope per channel;
// PRelu-7 broadcasts the slope NumPy-style, so a per-channel slope [C] on
// an [N, C, ...] input must become [C, 1, ...].
func preluSlope(c *upgradeCtx, n *onnxpb.NodeProto) error {
	x, s := input(n, 0), input(n, 1)
	t := c.env.constTensor(s)
	rx, rs := c.env.rank(x), c.env.rank(s)
	if t != nil {
		if size, err := numElements(t.GetDims()); err == nil && size == 1 {
			return nil
		}
	}
	if rx >= 0 && rs == rx {
		return nil
	}
	if rs >= 2 && rs < rx {
		return nil // already laid out against the trailing dimensions
	}
	if t != nil && len(t.GetDims()) == 1 && rx >= 3 {
		reshaped := proto.Clone(t).(*onnxpb.TensorProto)
		for k := 0; k < rx-2; k++ {
			reshaped.Dims = append(reshaped.Dims, 1)
		}
		n.Input[1] = c.constant("slope", reshaped)
		return nil
	}
	if rx == 2 && rs == 1 {
		return nil // [N, C] with [C]: the same under both rules
	}
	return fmt.Errorf("slope %q (rank %d) on input %q (rank %d): cannot tell how PRelu-6 applied it", s, rs, x, rx)
}

func dropIsTest(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	v, err := attrInt(n, "is_test", 1)
	if err != nil {
		return err
	}
	if attr(n, "is_test") != nil && v == 0 {
		return errors.New("is_test=0 (training mode) has no equivalent in later opsets")
	}
	removeAttr(n, "is_test")
	return nil
}

func dropSpatial(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	v, err := attrInt(n, "spatial", 1)
	if err != nil {
		return err
	}
	if v != 1 {
		return errors.New("spatial=0 (per-activation statistics) has no equivalent in later opsets")
	}
	removeAttr(n, "spatial")
	return nil
}

// batchNormOutputs: BatchNormalization-14 has only Y plus the running
// statistics in training mode; the old optional outputs (mean, var,
// saved_mean, saved_var) are dropped when nothing reads them.
func batchNormOutputs(c *upgradeCtx, n *onnxpb.NodeProto) error {
	for _, o := range n.GetOutput()[min(1, len(n.GetOutput())):] {
		if c.isUsed(o) {
			return fmt.Errorf("training-mode output %q is used; BatchNormalization-14 computes it only with training_mode=1", o)
		}
	}
	if len(n.Output) > 1 {
		n.Output = n.Output[:1]
	}
	return nil
}

func dropOutputSequence(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	removeAttr(n, "output_sequence")
	return nil
}

func castToEnum(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	a := attr(n, "to")
	if a == nil {
		return errors.New(`attribute "to" is missing`)
	}
	if a.GetType() != onnxpb.AttributeProto_STRING {
		return nil
	}
	d := castNameToType(string(a.GetS()))
	if d == 0 {
		return fmt.Errorf("attribute \"to\" names unknown type %q", a.GetS())
	}
	setAttr(n, intAttr("to", int64(d)))
	return nil
}

func concatDefaultAxis(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	if attr(n, "axis") == nil {
		setAttr(n, intAttr("axis", 1)) // Concat-1's default
	}
	return nil
}

func reshapeShapeToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	removeAttr(n, "consumed_inputs")
	shape, ok, err := attrInts(n, "shape")
	if err != nil {
		return err
	}
	if !ok {
		if input(n, 1) != "" {
			return nil
		}
		return errors.New(`attribute "shape" is missing`)
	}
	removeAttr(n, "shape")
	setInput(n, 1, c.int64s("shape", shape))
	return nil
}

func padRenamePaddings(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	if a := attr(n, "paddings"); a != nil && attr(n, "pads") == nil {
		a.Name = "pads"
	}
	return nil
}

func padAttrsToInputs(c *upgradeCtx, n *onnxpb.NodeProto) error {
	pads, ok, err := attrInts(n, "pads")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New(`attribute "pads" is missing`)
	}
	mode, err := attrString(n, "mode", "constant")
	if err != nil {
		return err
	}
	value, err := attrFloat(n, "value", 0)
	if err != nil {
		return err
	}
	removeAttr(n, "pads")
	removeAttr(n, "value")
	n.Input = []string{input(n, 0), c.int64s("pads", pads)}
	if mode == "constant" && value != 0 {
		x := input(n, 0)
		dtype := c.env.elemType(x)
		if dtype == 0 {
			return fmt.Errorf("padding value %g needs the element type of %q, which is not known (declare it in value_info)", value, x)
		}
		t, err := floatScalarOf("", dtype, float64(value))
		if err != nil {
			return fmt.Errorf("padding value for %q: %w", x, err)
		}
		n.Input = append(n.Input, c.constant("value", t))
	}
	return nil
}

func clipAttrsToInputs(c *upgradeCtx, n *onnxpb.NodeProto) error {
	minA, maxA := attr(n, "min"), attr(n, "max")
	removeAttr(n, "min")
	removeAttr(n, "max")
	if minA == nil && maxA == nil {
		return nil
	}
	x := input(n, 0)
	dtype := c.env.elemType(x)
	if dtype == 0 {
		return fmt.Errorf("min/max need the element type of %q, which is not known (declare it in value_info)", x)
	}
	for i, a := range []*onnxpb.AttributeProto{minA, maxA} {
		if a == nil {
			continue
		}
		t, err := floatScalarOf("", dtype, float64(a.GetF()))
		if err != nil {
			return fmt.Errorf("clip bound for %q: %w", x, err)
		}
		setInput(n, i+1, c.constant(a.GetName(), t))
	}
	return nil
}

func splitInputToAttr(c *upgradeCtx, n *onnxpb.NodeProto) error {
	s := input(n, 1)
	if s == "" {
		return nil
	}
	t := c.env.constTensor(s)
	if t == nil {
		return fmt.Errorf("split sizes %q are not an initializer", s)
	}
	v, err := int64Values(t)
	if err != nil {
		return err
	}
	n.Input = n.Input[:1]
	setAttr(n, intsAttr("split", v))
	return nil
}

func splitToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	split, ok, err := attrInts(n, "split")
	if err != nil || !ok {
		return err
	}
	removeAttr(n, "split")
	n.Input = []string{input(n, 0), c.int64s("split", split)}
	return nil
}

func splitNumOutputs(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	if input(n, 1) == "" && attr(n, "num_outputs") == nil {
		trimInputs(n)
		setAttr(n, intAttr("num_outputs", int64(len(n.GetOutput()))))
	}
	return nil
}

func lpPoolIntP(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	a := attr(n, "p")
	if a == nil || a.GetType() != onnxpb.AttributeProto_FLOAT {
		return nil
	}
	p := a.GetF()
	if p != float32(math.Trunc(float64(p))) {
		return fmt.Errorf("p=%g is not a whole number", p)
	}
	setAttr(n, intAttr("p", int64(p)))
	return nil
}

func upsampleScalesAttr(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	if attr(n, "scales") != nil {
		return nil
	}
	h, err := attrFloat(n, "height_scale", 0)
	if err != nil {
		return err
	}
	w, err := attrFloat(n, "width_scale", 0)
	if err != nil {
		return err
	}
	if attr(n, "height_scale") == nil || attr(n, "width_scale") == nil {
		return errors.New("height_scale and width_scale are required")
	}
	mode, err := attrString(n, "mode", "nearest")
	if err != nil {
		return err
	}
	removeAttr(n, "height_scale")
	removeAttr(n, "width_scale")
	if mode == "bilinear" {
		setAttr(n, stringAttr("mode", "linear"))
	}
	setAttr(n, floatsAttr("scales", []float32{1, 1, h, w}))
	return nil
}

func upsampleScalesToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	scales, ok, err := attrFloats(n, "scales")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New(`attribute "scales" is missing`)
	}
	removeAttr(n, "scales")
	n.Input = []string{input(n, 0), c.constant("scales", float32Tensor("", []int64{int64(len(scales))}, scales))}
	return nil
}

func upsampleToResize(c *upgradeCtx, n *onnxpb.NodeProto) error {
	n.OpType = "Resize"
	c.u.fromUpsample[n] = true
	return nil
}

// resizeRoiAndModes: Resize-10 took (X, scales) and computed source
// coordinates as x/scale ("asymmetric"); for "nearest" ONNX Runtime and
// the ONNX tests round down when upscaling and up when downscaling.
// Resize-11 adds roi and makes both choices attributes.
func resizeRoiAndModes(c *upgradeCtx, n *onnxpb.NodeProto) error {
	mode, err := attrString(n, "mode", "nearest")
	if err != nil {
		return err
	}
	x, scales := input(n, 0), input(n, 1)
	if scales == "" {
		return errors.New("scales input is missing")
	}
	switch mode {
	case "linear":
	case "nearest":
		rounding := "floor"
		if !c.u.fromUpsample[n] {
			t := c.env.constTensor(scales)
			if t == nil {
				return fmt.Errorf("nearest mode rounds down when upscaling and up when downscaling, and scales %q is not constant", scales)
			}
			v, err := floatValues(t)
			if err != nil {
				return err
			}
			up, down := false, false
			for _, s := range v {
				up = up || s > 1
				down = down || s < 1
			}
			if up && down {
				return fmt.Errorf("nearest mode with scales %v both up- and downscales, which no single nearest_mode reproduces", v)
			}
			if down {
				rounding = "ceil"
			}
		}
		setAttr(n, stringAttr("nearest_mode", rounding))
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	roi := c.constant("roi", float32Tensor("", []int64{0}, nil))
	n.Input = []string{x, roi, scales}
	setAttr(n, stringAttr("coordinate_transformation_mode", "asymmetric"))
	return nil
}

func scatterToElements(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	// Same inputs, attribute and semantics; Scatter was renamed.
	n.OpType = "ScatterElements"
	return nil
}

func sliceAttrsToInputs(c *upgradeCtx, n *onnxpb.NodeProto) error {
	starts, ok1, err := attrInts(n, "starts")
	if err != nil {
		return err
	}
	ends, ok2, err := attrInts(n, "ends")
	if err != nil {
		return err
	}
	if !ok1 || !ok2 {
		return errors.New("attributes starts and ends are required")
	}
	axes, hasAxes, err := attrInts(n, "axes")
	if err != nil {
		return err
	}
	removeAttr(n, "starts")
	removeAttr(n, "ends")
	removeAttr(n, "axes")
	n.Input = []string{input(n, 0), c.int64s("starts", starts), c.int64s("ends", ends)}
	if hasAxes {
		n.Input = append(n.Input, c.int64s("axes", axes))
	}
	return nil
}

func topKToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	k, err := attrInt(n, "k", 0)
	if err != nil {
		return err
	}
	if attr(n, "k") == nil {
		return errors.New(`attribute "k" is missing`)
	}
	removeAttr(n, "k")
	n.Input = []string{input(n, 0), c.int64s("k", []int64{k})}
	return nil
}

func dropoutMaskBool(c *upgradeCtx, n *onnxpb.NodeProto) error {
	if len(n.GetOutput()) < 2 {
		return nil
	}
	if c.isUsed(n.Output[1]) {
		return fmt.Errorf("mask output %q is used, and its type changed from the data type to bool", n.Output[1])
	}
	n.Output = n.Output[:1]
	return nil
}

func dropoutRatioToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	ratio, err := attrFloat(n, "ratio", 0.5)
	if err != nil {
		return err
	}
	if attr(n, "ratio") == nil {
		return nil
	}
	removeAttr(n, "ratio")
	n.Input = []string{input(n, 0), c.constant("ratio", float32Tensor("", []int64{}, []float32{ratio}))}
	return nil
}

// softmaxAxis: before opset 13 Softmax, LogSoftmax and Hardmax coerced
// the input to 2-D at axis ([prod(d[:axis]), prod(d[axis:])]) and worked
// on the second dimension; from 13 they work along one axis.
func softmaxAxis(c *upgradeCtx, n *onnxpb.NodeProto) error {
	axis, err := attrInt(n, "axis", 1)
	if err != nil {
		return err
	}
	x := input(n, 0)
	if axis == -1 {
		return nil // coercing at the last axis is working along it
	}
	if r := c.env.rank(x); r >= 0 {
		a := axis
		if a < 0 {
			a += int64(r)
		}
		if a == int64(r)-1 {
			setAttr(n, intAttr("axis", a))
			return nil
		}
	}
	if len(n.GetOutput()) != 1 || n.Output[0] == "" {
		return errors.New("needs exactly one output")
	}
	shape := c.addNode(true, "Shape", []string{x}, []string{""})[0]
	flat := c.addNode(true, "Flatten", []string{x}, []string{""}, intAttr("axis", axis))[0]
	out := n.Output[0]
	mid := c.helperName("2d")
	n.Input[0] = flat
	n.Output[0] = mid
	setAttr(n, intAttr("axis", 1))
	c.addNode(false, "Reshape", []string{mid, shape}, []string{out})
	return nil
}

// axesToInput moves the axes attribute to the second input (Squeeze,
// Unsqueeze and ReduceSum at 13, the other reductions at 18). An absent
// attribute stays absent: both versions then use all axes.
func axesToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	axes, ok, err := attrInts(n, "axes")
	if err != nil {
		return err
	}
	if !ok {
		if n.GetOpType() == "Unsqueeze" {
			return errors.New(`attribute "axes" is missing`)
		}
		return nil
	}
	removeAttr(n, "axes")
	n.Input = []string{input(n, 0), c.int64s("axes", axes)}
	return nil
}

func roiAlignHalfPixel(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	if attr(n, "coordinate_transformation_mode") == nil {
		// RoiAlign-10 behaved as "output_half_pixel"; 16's default is
		// "half_pixel".
		setAttr(n, stringAttr("coordinate_transformation_mode", "output_half_pixel"))
	}
	return nil
}

func gridSampleModes(_ *upgradeCtx, n *onnxpb.NodeProto) error {
	mode, err := attrString(n, "mode", "bilinear")
	if err != nil {
		return err
	}
	switch mode {
	case "bilinear":
		setAttr(n, stringAttr("mode", "linear"))
	case "bicubic":
		setAttr(n, stringAttr("mode", "cubic"))
	}
	return nil
}

func dftAxisToInput(c *upgradeCtx, n *onnxpb.NodeProto) error {
	axis, err := attrInt(n, "axis", 1) // DFT-17's default; 20's is -2
	if err != nil {
		return err
	}
	removeAttr(n, "axis")
	setInput(n, 2, c.constant("axis", int64Tensor("", []int64{}, []int64{axis})))
	return nil
}
