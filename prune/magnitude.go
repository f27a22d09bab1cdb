package prune

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Pattern is what pruning removes.
type Pattern struct {
	Kind string // "unstructured", "nm" or "channel"
	N, M int    // for "nm": keep N of every M consecutive input channels
}

// Unstructured, Channel and NM patterns.
var (
	Unstructured = Pattern{Kind: "unstructured"}
	Channel      = Pattern{Kind: "channel"}
)

// NM returns the N:M pattern.
func NM(n, m int) Pattern { return Pattern{Kind: "nm", N: n, M: m} }

func (p Pattern) String() string {
	if p.Kind == "nm" {
		return fmt.Sprintf("%d:%d", p.N, p.M)
	}
	return p.Kind
}

// Sparsity is the share of weights an N:M pattern removes, 0 otherwise.
func (p Pattern) Sparsity() float64 {
	if p.Kind == "nm" {
		return float64(p.M-p.N) / float64(p.M)
	}
	return 0
}

// ParsePattern reads "unstructured", "channel" or "N:M" (such as 2:4).
func ParsePattern(s string) (Pattern, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "unstructured":
		return Unstructured, nil
	case "channel", "channels", "structured":
		return Channel, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if ok {
		n, err1 := strconv.Atoi(strings.TrimSpace(a))
		m, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 == nil && err2 == nil {
			if n < 1 || m < 2 || n >= m {
				return Pattern{}, fmt.Errorf("pattern %q: N:M needs 1 ≤ N < M (such as 2:4)", s)
			}
			if m > 64 {
				return Pattern{}, fmt.Errorf("pattern %q: M above 64 is not a sparsity pattern any hardware accelerates", s)
			}
			return NM(n, m), nil
		}
	}
	return Pattern{}, fmt.Errorf("pattern %q: want unstructured, channel or N:M (such as 2:4)", s)
}

// LayerSparsity is what pruning did to one weight.
type LayerSparsity struct {
	Weight string `json:"weight"`
	Node   string `json:"node"`
	OpType string `json:"op_type"`
	Graph  string `json:"graph,omitempty"`
	Params int64  `json:"params"`
	// ZerosBefore and ZerosAfter count exactly-zero elements.
	ZerosBefore int64   `json:"zeros_before"`
	ZerosAfter  int64   `json:"zeros_after"`
	Target      float64 `json:"target"`
	Sparsity    float64 `json:"sparsity"`
	// Groups and GroupsViolating (N:M): groups of M along the input-channel
	// axis, and those holding more than N non-zeros afterwards.
	Groups          int64 `json:"groups,omitempty"`
	GroupsViolating int64 `json:"groups_violating,omitempty"`
}

func countZeros(v []float32) int64 {
	var n int64
	for _, x := range v {
		if x == 0 {
			n++
		}
	}
	return n
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// zeroSmallest zeros the k elements of v with the smallest magnitude;
// among equal magnitudes the lower index goes first, so the result does
// not depend on anything but v and k.
func zeroSmallest(v []float32, k int) {
	if k <= 0 {
		return
	}
	if k >= len(v) {
		clear(v)
		return
	}
	a := make([]float32, len(v))
	for i, x := range v {
		a[i] = abs32(x)
	}
	slices.Sort(a)
	thr := a[k-1]
	ties := k - sort32Count(a, thr)
	zeroBelow(v, thr, &ties)
}

// zeroBelow zeros the elements of v with magnitude below thr, and the
// first *ties of those equal to it (decrementing *ties).
func zeroBelow(v []float32, thr float32, ties *int) {
	for i, x := range v {
		m := abs32(x)
		switch {
		case m < thr:
			v[i] = 0
		case m == thr && *ties > 0:
			v[i] = 0
			*ties--
		}
	}
}

// sort32Count is the number of elements of the sorted a below thr.
func sort32Count(a []float32, thr float32) int {
	i, _ := slices.BinarySearch(a, thr)
	return i
}

// pruneLayers zeros round(s·n) smallest-magnitude elements of each weight,
// where s is sparsity[w.Name] when present, else def. NaN weights are
// refused.
func pruneLayers(ws []*Weight, def float64, per map[string]float64) ([]LayerSparsity, error) {
	out := make([]LayerSparsity, 0, len(ws))
	for _, w := range ws {
		s := def
		if x, ok := per[w.Name]; ok {
			s = x
		}
		v, err := w.values()
		if err != nil {
			return nil, err
		}
		if err := finite(w, v); err != nil {
			return nil, err
		}
		ls := layer(w, v, s)
		if s > 0 {
			zeroSmallest(v, int(math.Round(s*float64(len(v)))))
			if err := w.replace(v); err != nil {
				return nil, err
			}
		}
		out = append(out, ls.finish(v))
	}
	return out, nil
}

// finish records the zeros of the pruned values.
func (ls LayerSparsity) finish(v []float32) LayerSparsity {
	ls.ZerosAfter = countZeros(v)
	ls.Sparsity = float64(ls.ZerosAfter) / float64(max(1, len(v)))
	return ls
}

func layer(w *Weight, v []float32, target float64) LayerSparsity {
	return LayerSparsity{Weight: w.Name, Node: w.Node, OpType: w.OpType, Graph: w.Graph, Params: int64(len(v)), ZerosBefore: countZeros(v), Target: target}
}

func finite(w *Weight, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("weight %s of node %s holds %v at element %d: magnitude pruning needs finite weights", w.Name, w.Node, x, i)
		}
	}
	return nil
}

// pruneGlobal zeros the round(s·N) smallest-magnitude elements over all
// weights together (N their total size); ties go to the earlier weight,
// then the lower index.
func pruneGlobal(ws []*Weight, s float64) ([]LayerSparsity, error) {
	vals := make([][]float32, len(ws))
	total := 0
	for i, w := range ws {
		v, err := w.values()
		if err != nil {
			return nil, err
		}
		if err := finite(w, v); err != nil {
			return nil, err
		}
		vals[i] = v
		total += len(v)
	}
	a := make([]float32, 0, total)
	for _, v := range vals {
		for _, x := range v {
			a = append(a, abs32(x))
		}
	}
	slices.Sort(a)
	k := int(math.Round(s * float64(total)))
	out := make([]LayerSparsity, 0, len(ws))
	var thr float32
	ties := 0
	if k > 0 {
		thr = a[k-1]
		ties = k - sort32Count(a, thr)
	}
	a = nil
	for i, w := range ws {
		v := vals[i]
		ls := layer(w, v, s)
		if k > 0 {
			zeroBelow(v, thr, &ties)
			if err := w.replace(v); err != nil {
				return nil, err
			}
		}
		out = append(out, ls.finish(v))
	}
	return out, nil
}

// nmGroups calls fn for every group of m consecutive elements along axis of
// a tensor with the given dims; idx holds the flat indices of the group.
func nmGroups(dims []int64, axis, m int, fn func(idx []int)) {
	inner := 1
	for _, d := range dims[axis+1:] {
		inner *= int(d)
	}
	outer := 1
	for _, d := range dims[:axis] {
		outer *= int(d)
	}
	c := int(dims[axis])
	idx := make([]int, m)
	for o := 0; o < outer; o++ {
		for g := 0; g+m <= c; g += m {
			for in := 0; in < inner; in++ {
				for j := range idx {
					idx[j] = (o*c+g+j)*inner + in
				}
				fn(idx)
			}
		}
	}
}

// FitNM splits ws into the weights that can take the N:M pattern (their
// input-channel count is a multiple of M) and those left dense, with the
// reason: the first convolution of an image model reads 3 channels, and
// refusing the whole model for it would make 2:4 fail on every CNN.
func FitNM(ws []*Weight, p Pattern) ([]*Weight, []Skipped) {
	var fit []*Weight
	var left []Skipped
	for _, w := range ws {
		if c := w.Dims[w.InAxis]; c%int64(p.M) != 0 {
			left = append(left, Skipped{w.Node, w.OpType, fmt.Sprintf("%d input channels, not a multiple of %d: left dense (pattern %s)", c, p.M, p)})
			continue
		}
		fit = append(fit, w)
	}
	return fit, left
}

// CheckNM reports whether every weight can take the N:M pattern: its
// input-channel count must be a multiple of M.
func CheckNM(ws []*Weight, p Pattern) error {
	for _, w := range ws {
		c := w.Dims[w.InAxis]
		if c%int64(p.M) != 0 {
			return fmt.Errorf("pattern %s: node %s (%s) has %d input channels, not a multiple of %d; leave it out with --exclude-nodes %s (or --keep-first-last when it is the first or last layer)", p, w.Node, w.OpType, c, p.M, w.Node)
		}
	}
	return nil
}

// pruneNM keeps the N largest-magnitude elements of every group of M
// consecutive input channels (ties: the lower index is kept) and zeros the
// rest, then counts the groups that hold more than N non-zeros.
func pruneNM(ws []*Weight, p Pattern) ([]LayerSparsity, error) {
	if err := CheckNM(ws, p); err != nil {
		return nil, err
	}
	out := make([]LayerSparsity, 0, len(ws))
	order := make([]int, p.M)
	for _, w := range ws {
		v, err := w.values()
		if err != nil {
			return nil, err
		}
		if err := finite(w, v); err != nil {
			return nil, err
		}
		ls := layer(w, v, p.Sparsity())
		nmGroups(w.Dims, w.InAxis, p.M, func(idx []int) {
			for j := range order {
				order[j] = j
			}
			// Stable by magnitude, largest first: ties keep the lower index.
			slices.SortStableFunc(order, func(a, b int) int {
				x, y := abs32(v[idx[a]]), abs32(v[idx[b]])
				switch {
				case x > y:
					return -1
				case x < y:
					return 1
				}
				return 0
			})
			for _, j := range order[p.N:] {
				v[idx[j]] = 0
			}
		})
		if err := w.replace(v); err != nil {
			return nil, err
		}
		ls.Groups, ls.GroupsViolating = verifyNM(w.Dims, w.InAxis, p, v)
		out = append(out, ls.finish(v))
	}
	return out, nil
}

// verifyNM counts the groups and those with more than N non-zeros.
func verifyNM(dims []int64, axis int, p Pattern, v []float32) (groups, bad int64) {
	nmGroups(dims, axis, p.M, func(idx []int) {
		groups++
		nz := 0
		for _, i := range idx {
			if v[i] != 0 {
				nz++
			}
		}
		if nz > p.N {
			bad++
		}
	})
	return groups, bad
}
