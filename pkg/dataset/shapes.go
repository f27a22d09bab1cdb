package dataset

import (
	"fmt"
	"maps"
	"slices"
)

// Candidate sizes for a dynamic dimension nobody sized, typical first.
// Image inputs (rank 4) get image sizes; sequences, audio and features
// get lengths. A model may need a multiple of its total stride, a minimum
// length (an STFT window) or at most a table's length, so callers that can
// run the model try them in order (see Attempts).
var (
	imageSizes  = []int64{224, 256, 320, 128, 96, 64, 32, 512}
	lengthSizes = []int64{128, 256, 512, 1024, 64, 32, 16, 16000}
)

// Attempts is the number of candidate sizes ResolveShapes and
// AlternateShapes know for a dynamic dimension.
const Attempts = 8

func candidate(rank, attempt int) int64 {
	sizes := lengthSizes
	if rank == 4 {
		sizes = imageSizes
	}
	return sizes[min(attempt, len(sizes)-1)]
}

// ResolveShapes returns a full shape for every input with a known rank
// (scalars get []), for batches of batch samples (0 means 1): the batch
// axis (see LayoutOf) is batch unless the model fixes it; every other
// dimension comes from the model when fixed, else from the user's shape
// for that input (user holds full shapes, as --shape gives them; their
// batch axis is ignored), else from a dimension sharing its symbolic name,
// else from the attempt-th candidate size for its kind (0 is the typical
// one: 224 for images, 128 for lengths), never 1. It returns an error when
// a user shape has the wrong rank or contradicts a fixed dimension, or
// when two user shapes disagree on a shared symbolic dimension.
func ResolveShapes(specs []InputSpec, user map[string][]int64, batch, attempt int) (map[string][]int64, error) {
	l := LayoutOf(specs)
	if batch <= 0 {
		batch = 1
	}
	params, from := map[string]int64{}, map[string]string{}
	for i, s := range specs {
		sh, ok := user[s.Name]
		if !ok {
			continue
		}
		if s.Shape != nil && len(sh) != len(s.Shape) {
			return nil, fmt.Errorf("shape %v for model input %q has %d dimensions, the model's %s has %d",
				sh, s.Name, len(sh), s.shapeString(), len(s.Shape))
		}
		for d := range s.Shape {
			if d == l.Axis[i] {
				continue
			}
			if s.Shape[d] >= 0 && sh[d] != s.Shape[d] {
				return nil, fmt.Errorf("shape %v for model input %q: dimension %d is %d, the model fixes it to %d", sh, s.Name, d, sh[d], s.Shape[d])
			}
			p := s.dimParam(d)
			if p == "" {
				continue
			}
			if v, ok := params[p]; ok && v != sh[d] {
				return nil, fmt.Errorf("shapes for model inputs %q and %q disagree on dimension %q (%d and %d)", from[p], s.Name, p, v, sh[d])
			}
			params[p], from[p] = sh[d], s.Name
		}
	}
	out := map[string][]int64{}
	for i, s := range specs {
		if s.Shape == nil {
			sh, ok := user[s.Name]
			if !ok {
				return nil, fmt.Errorf("model input %q has no shape in the model; give one (--shape %s=1x...)", s.Name, s.Name)
			}
			out[s.Name] = slices.Clone(sh)
			if len(sh) > 0 {
				out[s.Name][0] = int64(batch)
			}
			continue
		}
		dims := make([]int64, len(s.Shape))
		for d, v := range s.Shape {
			p := s.dimParam(d)
			known, named := params[p]
			switch {
			case v >= 0:
				dims[d] = v
			case d == l.Axis[i]:
				dims[d] = int64(batch)
			case user[s.Name] != nil:
				dims[d] = user[s.Name][d]
			case named && p != "":
				dims[d] = known
			default:
				dims[d] = candidate(len(s.Shape), attempt)
				if p != "" {
					params[p] = dims[d]
				}
			}
		}
		out[s.Name] = dims
	}
	return out, nil
}

// AlternateShapes returns shapes that differ from a (as ResolveShapes
// gives them) in every dimension the model leaves dynamic, the batch axis
// included, so that a model checked at both is not checked at one size
// twice. A size v becomes, by attempt: v+g, v−g, 2v, v+2g, v/2 … where g
// is the largest power of two dividing v, at most 64, so a size that was a
// multiple of a network's stride stays one where it can. Dimensions
// sharing a symbolic name change together. It returns a copy of a when
// the model fixes every dimension.
func AlternateShapes(specs []InputSpec, a map[string][]int64, attempt int) map[string][]int64 {
	out := map[string][]int64{}
	for name, sh := range a {
		out[name] = slices.Clone(sh)
	}
	named := map[string]int64{}
	for _, s := range specs {
		sh := out[s.Name]
		if s.Shape == nil || len(sh) != len(s.Shape) {
			continue
		}
		for d, v := range s.Shape {
			if v >= 0 {
				continue
			}
			p := s.dimParam(d)
			if nv, ok := named[p]; ok && p != "" {
				sh[d] = nv
				continue
			}
			sh[d] = otherSize(sh[d], attempt)
			if p != "" {
				named[p] = sh[d]
			}
		}
	}
	return out
}

func otherSize(v int64, attempt int) int64 {
	g := int64(1)
	for g < 64 && v%(2*g) == 0 {
		g *= 2
	}
	var sizes []int64
	for _, c := range []int64{v + g, v - g, 2 * v, v + 2*g} {
		if c > 0 && c != v {
			sizes = append(sizes, c)
		}
	}
	if v%2 == 0 && v > 2 {
		sizes = append(sizes, v/2)
	}
	return sizes[min(attempt, len(sizes)-1)]
}

// Dynamic reports whether any input dimension may vary.
func Dynamic(specs []InputSpec) bool {
	for _, s := range specs {
		if s.Shape == nil || slices.Contains(s.Shape, -1) {
			return true
		}
	}
	return false
}

// cloneShapes copies a shape map.
func cloneShapes(m map[string][]int64) map[string][]int64 {
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}
