package graph

import (
	"sort"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

// MaxOpset is the newest default-domain opset whose operator history this
// package knows: UpgradeOpset targets at most this version, and Validate
// checks operator names only for models up to it.
const MaxOpset = 21

// stepFunc turns a node that conforms to the previous version of its
// operator into one that conforms to the version the step belongs to (or,
// for a replacing step, into another operator).
type stepFunc func(c *upgradeCtx, n *onnxpb.NodeProto) error

// opVersion is one schema version of an operator and how to reach it.
type opVersion struct {
	since int
	// step adapts a node of the previous version; nil means no adapter
	// exists and an upgrade across since is refused with note.
	step stepFunc
	// replaces marks a deprecation: the step rewrites the node into a
	// different operator, also for nodes already at this version.
	replaces bool
	// removed marks an operator that no longer exists from since on.
	removed bool
	note    string
}

func intro(v int) opVersion                     { return opVersion{since: v, step: same} }
func compat(v int) opVersion                    { return opVersion{since: v, step: same} }
func adapt(v int, f stepFunc) opVersion         { return opVersion{since: v, step: f} }
func refuse(v int, why string) opVersion        { return opVersion{since: v, note: why} }
func deprecate(v int, f stepFunc) opVersion     { return opVersion{since: v, step: f, replaces: true} }
func removedAt(v int, why string) opVersion     { return opVersion{since: v, removed: true, note: why} }
func same(*upgradeCtx, *onnxpb.NodeProto) error { return nil }

// history lists, for every operator of the default domain up to opset
// MaxOpset, the opsets in which its schema changed and how a node crosses
// each change. It was written from onnx/defs/operator_sets.h and the ONNX
// Changelog. A change is marked compatible when the newer schema only
// widens types, adds attributes or optional inputs whose defaults keep the
// old behaviour, or relaxes constraints (negative axes, broadcasting where
// the old version required equal shapes). Everything else has an adapter
// (see adapters.go) or is refused.
var history = map[string][]opVersion{
	"Abs":                       {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"Acos":                      {intro(7)},
	"Acosh":                     {intro(9)},
	"Add":                       {intro(1), adapt(6, dropConsumedInputs), adapt(7, legacyBroadcast), compat(13), compat(14)},
	"AffineGrid":                {intro(20)},
	"And":                       {intro(1), adapt(7, legacyBroadcast)},
	"ArgMax":                    {intro(1), compat(11), compat(12), compat(13)},
	"ArgMin":                    {intro(1), compat(11), compat(12), compat(13)},
	"Asin":                      {intro(7)},
	"Asinh":                     {intro(9)},
	"Atan":                      {intro(7)},
	"Atanh":                     {intro(9)},
	"AveragePool":               {intro(1), compat(7), compat(10), compat(11), compat(19)},
	"BatchNormalization":        {intro(1), adapt(6, dropConsumedInputs), adapt(7, dropIsTest), adapt(9, dropSpatial), adapt(14, batchNormOutputs), compat(15)},
	"Bernoulli":                 {intro(15)},
	"BitShift":                  {intro(11)},
	"BitwiseAnd":                {intro(18)},
	"BitwiseNot":                {intro(18)},
	"BitwiseOr":                 {intro(18)},
	"BitwiseXor":                {intro(18)},
	"BlackmanWindow":            {intro(17)},
	"Cast":                      {intro(1), adapt(6, castToEnum), compat(9), compat(13), compat(19), compat(21)},
	"CastLike":                  {intro(15), compat(19), compat(21)},
	"Ceil":                      {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"Celu":                      {intro(12)},
	"CenterCropPad":             {intro(18)},
	"Clip":                      {intro(1), adapt(6, dropConsumedInputs), adapt(11, clipAttrsToInputs), compat(12), compat(13)},
	"Col2Im":                    {intro(18)},
	"Compress":                  {intro(9), compat(11)},
	"Concat":                    {intro(1), adapt(4, concatDefaultAxis), compat(11), compat(13)},
	"ConcatFromSequence":        {intro(11)},
	"Constant":                  {intro(1), compat(9), compat(11), compat(12), compat(13), compat(19), compat(21)},
	"ConstantOfShape":           {intro(9), compat(20), compat(21)},
	"Conv":                      {intro(1), compat(11)},
	"ConvInteger":               {intro(10)},
	"ConvTranspose":             {intro(1), compat(11)},
	"Cos":                       {intro(7)},
	"Cosh":                      {intro(9)},
	"CumSum":                    {intro(11), compat(14)},
	"DFT":                       {intro(17), adapt(20, dftAxisToInput)},
	"DeformConv":                {intro(19)},
	"DepthToSpace":              {intro(1), compat(11), compat(13)},
	"DequantizeLinear":          {intro(10), compat(13), compat(19), compat(21)},
	"Det":                       {intro(11)},
	"Div":                       {intro(1), adapt(6, dropConsumedInputs), adapt(7, legacyBroadcast), compat(13), compat(14)},
	"Dropout":                   {intro(1), adapt(6, dropConsumedInputs), adapt(7, dropIsTest), adapt(10, dropoutMaskBool), adapt(12, dropoutRatioToInput), compat(13)},
	"DynamicQuantizeLinear":     {intro(11)},
	"Einsum":                    {intro(12)},
	"Elu":                       {intro(1), adapt(6, dropConsumedInputs)},
	"Equal":                     {intro(1), adapt(7, legacyBroadcast), compat(11), compat(13), compat(19)},
	"Erf":                       {intro(9), compat(13)},
	"Exp":                       {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"Expand":                    {intro(8), compat(13)},
	"EyeLike":                   {intro(9)},
	"Flatten":                   {intro(1), compat(9), compat(11), compat(13), compat(21)},
	"Floor":                     {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"GRU":                       {intro(1), compat(3), adapt(7, dropOutputSequence), compat(14)},
	"Gather":                    {intro(1), compat(11), compat(13)},
	"GatherElements":            {intro(11), compat(13)},
	"GatherND":                  {intro(11), compat(12), compat(13)},
	"Gelu":                      {intro(20)},
	"Gemm":                      {intro(1), adapt(6, dropConsumedInputs), adapt(7, gemmDropBroadcast), compat(9), compat(11), compat(13)},
	"GlobalAveragePool":         {intro(1)},
	"GlobalLpPool":              {intro(1), adapt(2, lpPoolIntP)},
	"GlobalMaxPool":             {intro(1)},
	"Greater":                   {intro(1), adapt(7, legacyBroadcast), compat(9), compat(13)},
	"GreaterOrEqual":            {intro(12), compat(16)},
	"GridSample":                {intro(16), adapt(20, gridSampleModes)},
	"GroupNormalization":        {intro(18), refuse(21, "scale and bias became per-channel instead of per-group")},
	"HammingWindow":             {intro(17)},
	"HannWindow":                {intro(17)},
	"HardSigmoid":               {intro(1), adapt(6, dropConsumedInputs)},
	"HardSwish":                 {intro(14)},
	"Hardmax":                   {intro(1), compat(11), adapt(13, softmaxAxis)},
	"Identity":                  {intro(1), compat(13), compat(14), compat(16), compat(19), compat(21)},
	"If":                        {intro(1), compat(11), compat(13), compat(16), compat(19), compat(21)},
	"ImageDecoder":              {intro(20)},
	"InstanceNormalization":     {intro(1), adapt(6, dropConsumedInputs)},
	"IsInf":                     {intro(10), compat(20)},
	"IsNaN":                     {intro(9), compat(13), compat(20)},
	"LRN":                       {intro(1), compat(13)},
	"LSTM":                      {intro(1), adapt(7, dropOutputSequence), compat(14)},
	"LayerNormalization":        {intro(17)},
	"LeakyRelu":                 {intro(1), adapt(6, dropConsumedInputs), compat(16)},
	"Less":                      {intro(1), adapt(7, legacyBroadcast), compat(9), compat(13)},
	"LessOrEqual":               {intro(12), compat(16)},
	"Log":                       {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"LogSoftmax":                {intro(1), compat(11), adapt(13, softmaxAxis)},
	"Loop":                      {intro(1), compat(11), compat(13), compat(16), compat(19), compat(21)},
	"LpNormalization":           {intro(1)},
	"LpPool":                    {intro(1), adapt(2, lpPoolIntP), compat(11), compat(18)},
	"MatMul":                    {intro(1), compat(9), compat(13)},
	"MatMulInteger":             {intro(10)},
	"Max":                       {intro(1), adapt(6, dropConsumedInputs), compat(8), compat(12), compat(13)},
	"MaxPool":                   {intro(1), compat(8), compat(10), compat(11), compat(12)},
	"MaxRoiPool":                {intro(1)},
	"MaxUnpool":                 {intro(9), compat(11)},
	"Mean":                      {intro(1), adapt(6, dropConsumedInputs), compat(8), compat(13)},
	"MeanVarianceNormalization": {intro(1), refuse(9, "the experimental version's across_channels attribute became axes"), compat(13)},
	"MelWeightMatrix":           {intro(17)},
	"Min":                       {intro(1), adapt(6, dropConsumedInputs), compat(8), compat(12), compat(13)},
	"Mish":                      {intro(18)},
	"Mod":                       {intro(10), compat(13)},
	"Mul":                       {intro(1), adapt(6, dropConsumedInputs), adapt(7, legacyBroadcast), compat(13), compat(14)},
	"Multinomial":               {intro(7)},
	"Neg":                       {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"NegativeLogLikelihoodLoss": {intro(12), compat(13)},
	"NonMaxSuppression":         {intro(10), compat(11)},
	"NonZero":                   {intro(9), compat(13)},
	"Not":                       {intro(1)},
	"OneHot":                    {intro(9), compat(11)},
	"Optional":                  {intro(15)},
	"OptionalGetElement":        {intro(15), compat(18)},
	"OptionalHasElement":        {intro(15), compat(18)},
	"Or":                        {intro(1), adapt(7, legacyBroadcast)},
	"PRelu":                     {intro(1), adapt(6, dropConsumedInputs), adapt(7, preluSlope), compat(9), compat(16)},
	"Pad":                       {intro(1), adapt(2, padRenamePaddings), adapt(11, padAttrsToInputs), compat(13), compat(18), compat(19), compat(21)},
	"Pow":                       {intro(1), adapt(7, legacyBroadcast), compat(12), compat(13), compat(15)},
	"QLinearConv":               {intro(10)},
	"QLinearMatMul":             {intro(10), compat(21)},
	"QuantizeLinear":            {intro(10), compat(13), compat(19), compat(21)},
	"RNN":                       {intro(1), adapt(7, dropOutputSequence), compat(14)},
	"RandomNormal":              {intro(1)},
	"RandomNormalLike":          {intro(1)},
	"RandomUniform":             {intro(1)},
	"RandomUniformLike":         {intro(1)},
	"Range":                     {intro(11)},
	"Reciprocal":                {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"ReduceL1":                  {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceL2":                  {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceLogSum":              {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceLogSumExp":           {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceMax":                 {intro(1), compat(11), compat(12), compat(13), adapt(18, axesToInput), compat(20)},
	"ReduceMean":                {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceMin":                 {intro(1), compat(11), compat(12), compat(13), adapt(18, axesToInput), compat(20)},
	"ReduceProd":                {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"ReduceSum":                 {intro(1), compat(11), adapt(13, axesToInput)},
	"ReduceSumSquare":           {intro(1), compat(11), compat(13), adapt(18, axesToInput)},
	"RegexFullMatch":            {intro(20)},
	"Relu":                      {intro(1), adapt(6, dropConsumedInputs), compat(13), compat(14)},
	"Reshape":                   {intro(1), adapt(5, reshapeShapeToInput), compat(13), compat(14), compat(19), compat(21)},
	"Resize":                    {intro(10), adapt(11, resizeRoiAndModes), compat(13), compat(18), compat(19)},
	"ReverseSequence":           {intro(10)},
	"RoiAlign":                  {intro(10), adapt(16, roiAlignHalfPixel)},
	"Round":                     {intro(11)},
	"STFT":                      {intro(17)},
	"Scan":                      {intro(8), refuse(9, "the batch axis and sequence_lens input were removed"), compat(11), compat(16), compat(19), compat(21)},
	"Scatter":                   {intro(9), deprecate(11, scatterToElements)},
	"ScatterElements":           {intro(11), compat(13), compat(16), compat(18)},
	"ScatterND":                 {intro(11), compat(13), compat(16), compat(18)},
	"Selu":                      {intro(1), adapt(6, dropConsumedInputs)},
	"SequenceAt":                {intro(11)},
	"SequenceConstruct":         {intro(11)},
	"SequenceEmpty":             {intro(11)},
	"SequenceErase":             {intro(11)},
	"SequenceInsert":            {intro(11)},
	"SequenceLength":            {intro(11)},
	"SequenceMap":               {intro(17)},
	"Shape":                     {intro(1), compat(13), compat(15), compat(19), compat(21)},
	"Shrink":                    {intro(9)},
	"Sigmoid":                   {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"Sign":                      {intro(9), compat(13)},
	"Sin":                       {intro(7)},
	"Sinh":                      {intro(9)},
	"Size":                      {intro(1), compat(13), compat(19), compat(21)},
	"Slice":                     {intro(1), adapt(10, sliceAttrsToInputs), compat(11), compat(13)},
	"Softmax":                   {intro(1), compat(11), adapt(13, softmaxAxis)},
	"SoftmaxCrossEntropyLoss":   {intro(12), compat(13)},
	"Softplus":                  {intro(1)},
	"Softsign":                  {intro(1)},
	"SpaceToDepth":              {intro(1), compat(13)},
	"Split":                     {intro(1), adapt(2, splitInputToAttr), compat(11), adapt(13, splitToInput), adapt(18, splitNumOutputs)},
	"SplitToSequence":           {intro(11)},
	"Sqrt":                      {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"Squeeze":                   {intro(1), compat(11), adapt(13, axesToInput), compat(21)},
	"StringConcat":              {intro(20)},
	"StringNormalizer":          {intro(10)},
	"StringSplit":               {intro(20)},
	"Sub":                       {intro(1), adapt(6, dropConsumedInputs), adapt(7, legacyBroadcast), compat(13), compat(14)},
	"Sum":                       {intro(1), adapt(6, dropConsumedInputs), compat(8), compat(13)},
	"Tan":                       {intro(7)},
	"Tanh":                      {intro(1), adapt(6, dropConsumedInputs), compat(13)},
	"TfIdfVectorizer":           {intro(9)},
	"ThresholdedRelu":           {intro(1), compat(10)},
	"Tile":                      {intro(1), refuse(6, "the tiles and axis inputs became one repeats input"), compat(13)},
	"TopK":                      {intro(1), adapt(10, topKToInput), compat(11)},
	"Transpose":                 {intro(1), compat(13), compat(21)},
	"Trilu":                     {intro(14)},
	"Unique":                    {intro(11)},
	"Unsqueeze":                 {intro(1), compat(11), adapt(13, axesToInput), compat(21)},
	"Upsample":                  {intro(1), adapt(7, upsampleScalesAttr), adapt(9, upsampleScalesToInput), deprecate(10, upsampleToResize)},
	"Where":                     {intro(9), compat(16)},
	"Xor":                       {intro(1), adapt(7, legacyBroadcast)},

	// Experimental operators of opsets 1-9, dropped in opset 10. ONNX
	// Runtime still runs most of them in old models; nothing replaces
	// them in later opsets.
	"ATen":               {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"Affine":             {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"ConstantFill":       {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"Crop":               {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"DynamicSlice":       {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"GRUUnit":            {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"GivenTensorFill":    {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"ImageScaler":        {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"ParametricSoftplus": {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"Scale":              {intro(1), removedAt(10, "experimental operator removed in opset 10")},
	"ScaledTanh":         {intro(1), removedAt(10, "experimental operator removed in opset 10")},
}

// schemaAt returns the index in h of the version in force at opset v, or
// -1 when the operator does not exist there.
func schemaAt(h []opVersion, v int) int {
	i := sort.Search(len(h), func(i int) bool { return h[i].since > v }) - 1
	if i < 0 || h[i].removed {
		return -1
	}
	return i
}

// OpDefined reports whether op exists in the default domain at the given
// opset version (1..MaxOpset), as far as this package knows.
func OpDefined(op string, opset int) bool {
	h, ok := history[op]
	return ok && schemaAt(h, opset) >= 0
}

// IRVersionForOpset is the IR version that shipped with each default-domain
// opset (onnx/helper.py VERSION_TABLE); a model at that opset needs at
// least that IR version.
func IRVersionForOpset(opset int) int64 {
	switch {
	case opset <= 8:
		return 3
	case opset == 9:
		return 4
	case opset == 10:
		return 5
	case opset == 11:
		return 6
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	case opset <= 22:
		return 10
	}
	return 11
}
