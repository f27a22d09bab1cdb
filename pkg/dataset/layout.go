package dataset

// Layout says how samples map onto a model's inputs. Real exports do not
// all batch on axis 0: a recurrent state may be [layers, N, hidden], a
// sample rate a scalar, and a model exported for one batch size fixes it.
type Layout struct {
	// Axis holds, per input (in the order of the specs), the axis that
	// counts samples, or -1 for an input that is not batched: a scalar, or
	// an input with every dimension fixed beside inputs whose batch
	// dimension may vary. An unbatched input is fed whole, the same value
	// for every sample of a batch.
	Axis []int
	// Fixed is the batch size the model fixes, 0 when it may vary; FixedBy
	// names the input that fixes it.
	Fixed   int
	FixedBy string
}

// LayoutOf finds each input's batch axis. The batch dimension is axis 0
// of the inputs whose first dimension is dynamic; an input whose first
// dimension is fixed is batched on the dynamic axis that shares the batch
// dimension's symbolic name, or on its only dynamic axis when neither is
// named. When no input has a dynamic first dimension, the first input
// with a fixed one sets a fixed batch size; inputs whose first dimension
// differs from it are unbatched.
func LayoutOf(specs []InputSpec) Layout {
	l := Layout{Axis: make([]int, len(specs))}
	votes := map[string]int{}
	dynamic := false
	for _, s := range specs {
		if len(s.Shape) > 0 && s.Shape[0] < 0 {
			dynamic = true
			if p := s.dimParam(0); p != "" {
				votes[p]++
			}
		}
	}
	batchParam, best := "", 0
	for _, s := range specs { // in input order, so ties go to the first input
		if p := s.dimParam(0); p != "" && votes[p] > best {
			batchParam, best = p, votes[p]
		}
	}
	for i, s := range specs {
		switch {
		case s.Shape == nil:
			l.Axis[i] = 0 // rank unknown: samples on the first axis, as stored
		case len(s.Shape) == 0:
			l.Axis[i] = -1
		case s.Shape[0] < 0:
			l.Axis[i] = 0
		case dynamic:
			l.Axis[i] = s.stateAxis(batchParam)
		case l.Fixed == 0:
			l.Axis[i], l.Fixed, l.FixedBy = 0, int(s.Shape[0]), s.Name
		case int(s.Shape[0]) == l.Fixed:
			l.Axis[i] = 0
		default:
			l.Axis[i] = -1
		}
	}
	return l
}

// stateAxis is the batch axis of an input whose first dimension is fixed
// while the model's batch dimension is dynamic (a state [2, N, 128]): the
// dynamic axis named like the batch, else the only dynamic axis when it is
// unnamed, else -1 (fed whole).
func (s InputSpec) stateAxis(batchParam string) int {
	only, count := -1, 0
	for d, v := range s.Shape {
		if v >= 0 {
			continue
		}
		if batchParam != "" && s.dimParam(d) == batchParam {
			return d
		}
		only, count = d, count+1
	}
	if count == 1 && s.dimParam(only) == "" {
		return only
	}
	return -1
}

// rowShape is the shape of one sample of input i as an array stores it:
// the input's dimensions without the batch axis (all of them when the
// input is unbatched).
func (l Layout) rowShape(s InputSpec, i int) []int64 {
	a := l.Axis[i]
	if a < 0 || s.Shape == nil {
		return s.Shape
	}
	out := make([]int64, 0, len(s.Shape)-1)
	out = append(out, s.Shape[:a]...)
	return append(out, s.Shape[a+1:]...)
}

// rowDim maps dimension d of input i to its index in an array of samples
// ([samples, row...]), or -1 for the batch axis itself.
func (l Layout) rowDim(i, d int) int {
	a := l.Axis[i]
	switch {
	case d == a:
		return -1
	case a >= 0 && d > a:
		return d
	}
	return d + 1
}
