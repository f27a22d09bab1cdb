// Package dataset streams model inputs in batches for calibration,
// evaluation and training.
//
// Open reads four kinds of data, named by one string:
//
//   - an .npz file: one array per model input, keyed by the input name,
//     the first axis counting samples; an optional integer array "label"
//     or "labels" (shape [N] or [N, 1]) gives class labels;
//   - a folder of .npz files, read in name order as one dataset;
//   - an ONNX test-data folder (test_data_set_N/input_K.pb, or one such
//     set folder): input_K feeds the K-th model input and each tensor's
//     first axis counts samples (a uint16 tensor for a bfloat16 input is
//     read as bfloat16 bits, as ONNX tooling writes them);
//   - "random": seeded synthetic inputs built from the model's signature.
//
// Conventions. The first axis of every stored array counts samples. The
// model's batch axis is found by LayoutOf: axis 0 for most inputs, the
// axis named like the batch for a state such as [2, N, 128] (the array is
// then [samples, 2, 128]: samples first, then the input without its batch
// axis), none for a scalar or an input fixed beside a dynamic batch. An
// ONNX test-data tensor is stored as the model takes it, batch axis
// included. A model whose inputs fix the batch size (say 64) is fed
// batches of exactly that size and a short final batch is dropped. An
// unbatched input read from files is fed one sample at a time, unless
// Options.Values gives it one value (then no array is needed); random
// data draws it once. Other dimensions must equal the model's fixed
// dimensions; dimensions that share a symbolic name must agree across
// inputs. Random data sizes dynamic dimensions realistically (see
// ResolveShapes), never 1. Float64 and other float arrays are converted
// to the model's float type, and integer arrays to its integer type, with
// an error for values that do not fit; integers are never turned into
// floats or floats into integers. NaN and ±Inf in float inputs are errors
// unless Options.AllowNonFinite is set.
//
// Memory. Nothing holds a whole dataset. Without shuffling, .npz arrays are
// streamed row by row from their zip entries: memory is one batch per input
// plus small read buffers (Fortran-order arrays are the exception: each is
// loaded whole while its file is read). With shuffling, files are visited
// in shuffled order and samples are shuffled within a file, in windows of
// consecutive rows of at most 64 MiB (a file up to that size is one
// window), read one at a time: memory does not grow with the file. A test-data
// set is read whole (protobuf has no partial reads), one set at a time.
// Open reads only .npz headers to validate and count samples, but reads
// each test-data set once to do the same.
package dataset
