// Package bench measures latency and throughput of ONNX models in ONNX
// Runtime, made for CI: it reports at least what onnxruntime_perf_test,
// trtexec and benchmark_app report, compares several models in one run and
// gates on regressions.
//
// Measurement rules:
//   - inputs and output buffers are prepared before timing (ort.Prepared);
//     only the Run call is timed, with the monotonic clock;
//   - warm-up runs are excluded; no outlier is dropped;
//   - percentiles use the nearest-rank method: the p-th percentile of n
//     sorted samples is the sample at rank ⌈p/100 · n⌉ (1-based), so it is
//     always a measured value (see Percentile);
//   - in the server scenario, latency runs from each request's scheduled
//     arrival (Poisson at the requested rate) to its completion, so time
//     spent queueing counts and coordinated omission cannot hide it.
package bench
