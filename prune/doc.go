// Package prune will hold unstructured, N:M and channel pruning with
// sensitivity analysis (`infer prune`). It is empty until that issue lands.
package prune
