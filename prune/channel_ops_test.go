package prune

import (
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/tensor"
)

// TestChannelOpRegistry checks that the tracer's knowledge of operators
// is its channelOps entries: an operator without one blocks the channels
// it reads, and adding one entry (Floor, channel-wise) is all it takes to
// let them through. The producers are the entries with a source layout.
func TestChannelOpRegistry(t *testing.T) {
	b := testmodels.NewBuilder("floor", 17)
	r := testmodels.NewRand(3)
	x := b.Input("x", tensor.Float32, "N", 3, 8, 8)
	h := b.Op("Conv", []string{x, b.Initializer("w1", []int64{4, 3, 3, 3}, r.He([]int64{4, 3, 3, 3}, 27))})
	y := b.Op("Conv", []string{b.Op("Floor", []string{h}), b.Initializer("w2", []int64{2, 4, 1, 1}, r.He([]int64{2, 4, 1, 1}, 4))})
	b.Output(y, tensor.Float32, "N", 2, 8, 8)
	m := b.Model()

	first := func() ChannelGroup {
		t.Helper()
		groups, err := ChannelGroups(m, ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 2 {
			t.Fatalf("groups %+v, want the two Convs", groups)
		}
		return groups[0]
	}
	if g := first(); !strings.HasPrefix(g.Reason, "read by Floor ") {
		t.Errorf("without an entry for Floor: reason %q, want it read by Floor", g.Reason)
	}
	channelOps["Floor"] = channelWise{}.op()
	t.Cleanup(func() { delete(channelOps, "Floor") })
	if g := first(); g.Reason != "" {
		t.Errorf("with an entry for Floor: reason %q, want the group prunable", g.Reason)
	}

	if want := []string{"Conv", "Gemm", "MatMul"}; !slices.Equal(sourceOpTypes(), want) || !slices.Equal(channelOpTypes, want) {
		t.Errorf("producers %v (default OpTypes %v), want %v", sourceOpTypes(), channelOpTypes, want)
	}
}
