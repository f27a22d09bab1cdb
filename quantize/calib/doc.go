// Package calib collects activation statistics for int8 post-training
// quantization and turns them into ranges.
//
// Collect runs a model once over calibration data in ONNX Runtime, with
// the tensors to calibrate exposed as extra outputs, and folds each batch
// into per-tensor statistics: a running minimum, maximum and count, and,
// for the percentile and entropy methods, a histogram. Only one batch of
// activations is in memory at a time; statistics are a few kilobytes per
// tensor however much data is seen. Stats are plain JSON (Save, Load) and
// merge (Merge, LoadAll), so calibration can be split across machines or
// runs and combined later; a fingerprint of the model's structure stops
// statistics from one model being applied to another.
//
// Histograms. A histogram has a fixed, power-of-two number of bins (2048
// by default) spread evenly over [-R, R], where R is a power of two at
// least the largest |x| seen. When a batch holds a larger |x|, R doubles
// (as many times as needed) and the old counts are re-binned: since both
// R and the bin count are powers of two and 0 is always a bin edge, every
// old bin lies entirely inside one new bin, so re-binning only adds
// neighbouring counts and is exact — a histogram built batch by batch, or
// merged from parts collected elsewhere, equals the one a single pass over
// all the data builds. Merging histograms with different bin counts
// coarsens the finer one, which is exact for the same reason. The price is
// resolution: the data's absmax may be just over R/2, so it can occupy as
// few as half the bins on each side of zero (512 of the 1024 by default;
// TensorRT spreads 2048 bins over [0, absmax]). Values with |x| below 2^-126 share the two bins next to zero.
//
// Non-finite values (NaN, ±Inf, as -Inf attention masks produce) are
// counted in TensorStats.NonFinite and left out of the minimum, maximum
// and histogram.
//
// Ranges. MinMax uses the observed [min, max]. Percentile reads the range
// from the histogram: with Symmetric, the Percentile-th percentile t of
// |x| gives [-t, t]; otherwise (100 − Percentile)/2 percent is cut from
// each tail, as ONNX Runtime does. Values are interpolated linearly within
// a bin, so they are accurate to one bin width. Entropy is the KL
// divergence search of TensorRT's and ONNX Runtime's entropy calibrators
// (see Ranges); like theirs, it cannot resolve data that fills fewer than
// 128 bins, as when rare outliers set a range hundreds of times wider than
// the bulk of the values: more Bins help then. Every threshold is clamped
// to what was observed and every range widened to include 0, which
// quantization must represent exactly.
package calib
