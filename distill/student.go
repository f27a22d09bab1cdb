package distill

import (
	"fmt"

	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/prune"
)

// StudentFromTeacher builds a student by channel pruning the teacher to
// keep width of the channels of every prunable group (prune.PruneChannels
// on the pre-processed teacher).
func StudentFromTeacher(teacher *onnxpb.ModelProto, width float64) (*onnxpb.ModelProto, []string, error) {
	if !(width > 0 && width < 1) {
		return nil, nil, fmt.Errorf("width %g: the share of channels kept must be in (0, 1)", width)
	}
	s, notes, err := prune.Prepare(teacher, prune.Channel, false)
	if err != nil {
		return nil, nil, err
	}
	r, err := prune.PruneChannels(s, prune.ChannelOptions{Sparsity: 1 - width})
	if err != nil {
		return nil, nil, fmt.Errorf("--student-from-teacher: %w", err)
	}
	pruned := 0
	for _, g := range r.Groups {
		if g.Kept < g.Channels {
			pruned++
		}
	}
	notes = append(notes, fmt.Sprintf("student: the teacher with %d channel groups pruned to %.0f%% of their channels", pruned, 100*width))
	return s, notes, nil
}
