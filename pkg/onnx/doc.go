// Package onnx loads and saves ONNX models (the protobuf types are in
// onnxpb).
//
// Loading reads a model file with a size limit, checks that the bytes are
// an ONNX model and not just any protobuf, and reads external data into the
// tensors, resolving locations relative to the model's folder and refusing
// absolute paths, ".." escapes and links that leave the folder. Offsets and
// lengths are checked against the data file and the tensor's type and
// shape.
//
// Saving is atomic (a temporary file in the destination folder, synced, then
// renamed), never writes over the model that was loaded, refuses an existing
// output unless forced, and can move large tensors into one external-data
// file next to the model (required past protobuf's 2 GiB limit).
package onnx
