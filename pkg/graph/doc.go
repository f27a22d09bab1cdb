// Package graph inspects and rewrites ONNX graphs held as
// *onnxpb.GraphProto and *onnxpb.ModelProto: an index of producers and
// consumers, topological order, validation, an edit API, dead-code
// elimination, the "weights are initializers" normal form and opset
// upgrades with per-operator adapters.
//
// # Conventions
//
// Values are named strings, as in ONNX. The empty name "" in a node's
// input list is a missing optional input and is never a value; "" in a
// node's output list is an unused optional output.
//
// The domains "" and "ai.onnx" are the same (the default domain).
//
// Subgraphs (attributes of type GRAPH or GRAPHS, as in If, Loop and Scan)
// may read values of enclosing graphs by name. Such a read is an implicit
// input of the node holding the subgraph: the Index lists it among the
// value's consumers (with Use.Input == Implicit), Topo orders the node
// after the value's producer, and EliminateDeadCode keeps the producer.
// A subgraph that defines a name itself (input, initializer or node
// output) shadows the outer value of that name; edits honour that.
//
// Functions are free functions over the protobuf messages, which stay the
// single source of truth: an Index is a snapshot, cheap to rebuild (one
// pass over the graph) after edits. Passes that change a model either
// succeed completely or, where documented, leave it unchanged on error
// (UpgradeOpset works on a copy).
//
// # Bad input
//
// Nothing in this package panics on a malformed model: nil graphs, nil
// nodes, missing attributes, values nothing defines and cycles are
// reported as errors that name the node (by name, or by index and op type
// when it has none), the value and the reason. Validate collects every
// problem it finds rather than stopping at the first; the other passes
// stop at the first problem. Passes assume their input passed Validate
// where they say so and otherwise return errors, not wrong graphs.
package graph
