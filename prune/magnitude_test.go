package prune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
)

func TestParsePattern(t *testing.T) {
	for s, want := range map[string]Pattern{"": Unstructured, "unstructured": Unstructured, "channel": Channel, "2:4": NM(2, 4), "1:8": NM(1, 8)} {
		got, err := ParsePattern(s)
		if err != nil || got != want {
			t.Errorf("%q: %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"4:2", "0:4", "2:2", "a:b", "blocks", "1:128"} {
		if _, err := ParsePattern(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if s := NM(2, 4).Sparsity(); s != 0.5 {
		t.Fatal(s)
	}
}

func TestZeroSmallestExactAndDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 100, 1001} {
		for _, s := range []float64{0.1, 0.25, 0.5, 0.9, 0.99} {
			v := make([]float32, n)
			for i := range v {
				// Few distinct magnitudes, both signs: many ties.
				v[i] = float32(r.IntN(5)-2) * 0.5
			}
			orig := append([]float32{}, v...)
			k := int(math.Round(s * float64(n)))
			want := max(int(countZeros(orig)), k)
			zeroSmallest(v, k)
			if got := int(countZeros(v)); got != want {
				t.Fatalf("n=%d s=%v: %d zeros, want %d", n, s, got, want)
			}
			// Every kept magnitude is ≥ every removed one, and ties go to
			// the lower index first.
			var maxRemoved float32
			for i := range v {
				if v[i] == 0 && orig[i] != 0 {
					maxRemoved = max(maxRemoved, abs32(orig[i]))
				}
			}
			seenKeptTie := false
			for i := range v {
				if v[i] != 0 {
					if abs32(v[i]) < maxRemoved {
						t.Fatalf("kept %v smaller than removed %v", v[i], maxRemoved)
					}
					if abs32(v[i]) == maxRemoved {
						seenKeptTie = true
					}
					if v[i] != orig[i] {
						t.Fatal("a kept weight changed")
					}
				} else if seenKeptTie && orig[i] != 0 && abs32(orig[i]) == maxRemoved {
					t.Fatalf("tie at %d removed after a kept tie: not lowest-index first", i)
				}
			}
			again := append([]float32{}, orig...)
			zeroSmallest(again, k)
			for i := range v {
				if v[i] != again[i] {
					t.Fatal("not deterministic")
				}
			}
		}
	}
}

// weights builds Weight values over a throwaway graph.
func weights(t *testing.T, dims [][]int64, inAxis []int, seed uint64) ([]*Weight, *onnxpb.GraphProto) {
	t.Helper()
	g := &onnxpb.GraphProto{}
	r := testmodels.NewRand(seed)
	var ws []*Weight
	for i, d := range dims {
		name := "w" + string(rune('a'+i))
		tp := testmodels.FloatTensor(name, d, r.Normal(d, 1))
		g.Initializer = append(g.Initializer, tp)
		ws = append(ws, &Weight{Name: name, Node: "n" + name, OpType: "Conv", Dims: d, InAxis: inAxis[i], g: g, t: tp})
	}
	return ws, g
}

func TestPruneLayersExact(t *testing.T) {
	ws, _ := weights(t, [][]int64{{8, 3, 3, 3}, {10, 64}, {5, 7}}, []int{1, 1, 1}, 3)
	ls, err := pruneLayers(ws, 0.5, map[string]float64{"wc": 0.2})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{108, 320, 7} {
		if ls[i].ZerosAfter != want {
			t.Errorf("%s: %d zeros, want %d", ls[i].Weight, ls[i].ZerosAfter, want)
		}
		v, _ := ws[i].values()
		if countZeros(v) != want {
			t.Errorf("%s: the stored tensor has %d zeros", ls[i].Weight, countZeros(v))
		}
	}
}

func TestPruneGlobalExact(t *testing.T) {
	ws, _ := weights(t, [][]int64{{16, 8}, {8, 4}}, []int{1, 1}, 4)
	// Make the second weight small: global ranking should prune it first.
	v, _ := ws[1].values()
	for i := range v {
		v[i] *= 0.01
	}
	if err := ws[1].replace(v); err != nil {
		t.Fatal(err)
	}
	ls, err := pruneGlobal(ws, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	if total := ls[0].ZerosAfter + ls[1].ZerosAfter; total != 40 {
		t.Fatalf("%d zeros in total, want 40", total)
	}
	if ls[1].ZerosAfter != 32 {
		t.Fatalf("the small weight has %d zeros, want all 32", ls[1].ZerosAfter)
	}
}

func TestPruneNM(t *testing.T) {
	// Conv [4, 8, 3, 3] along axis 1, MatMul [16, 6] along axis 0.
	ws, _ := weights(t, [][]int64{{4, 8, 3, 3}, {16, 6}}, []int{1, 0}, 5)
	orig := make([][]float32, len(ws))
	for i, w := range ws {
		orig[i], _ = w.values()
	}
	ls, err := pruneNM(ws, NM(2, 4))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		if l.GroupsViolating != 0 || l.Sparsity != 0.5 || l.Groups != l.Params/4 {
			t.Fatalf("%+v", l)
		}
		v, _ := ws[i].values()
		// Each kept element is one of the two largest of its group.
		nmGroups(ws[i].Dims, ws[i].InAxis, 4, func(idx []int) {
			for _, a := range idx {
				if v[a] == 0 {
					continue
				}
				larger := 0
				for _, b := range idx {
					if abs32(orig[i][b]) > abs32(orig[i][a]) {
						larger++
					}
				}
				if larger >= 2 {
					t.Fatalf("kept %v with %d larger elements in its group", orig[i][a], larger)
				}
			}
		})
	}
	// Groups run along the input-channel axis: element (o, c, y, x) and
	// (o, c+1, y, x) share a group.
	var g [][]int
	nmGroups([]int64{1, 4, 1, 2}, 1, 4, func(idx []int) { g = append(g, append([]int{}, idx...)) })
	if len(g) != 2 || g[0][1] != 2 || g[1][0] != 1 {
		t.Fatalf("groups %v", g)
	}
	bad, _ := weights(t, [][]int64{{4, 6, 3, 3}}, []int{1}, 6)
	if err := CheckNM(bad, NM(2, 4)); err == nil || !strings.Contains(err.Error(), "6 input channels") {
		t.Fatalf("got %v", err)
	}
	if _, g := verifyNM([]int64{1, 4}, 1, NM(2, 4), []float32{1, 1, 1, 0}); g != 1 {
		t.Fatal("a group with 3 non-zeros was not flagged")
	}
}

func TestChooseSparsities(t *testing.T) {
	pts := func(loss ...float64) []Point {
		var out []Point
		for i, l := range loss {
			out = append(out, Point{Sparsity: DefaultLevels[i], Loss: l})
		}
		return out
	}
	s := &Sensitivity{Layers: []LayerSensitivity{
		{Name: "robust", Params: 1000, Points: pts(0, 0, 0.1, 0.5)},
		{Name: "fragile", Params: 1000, Points: pts(1, 5, 20, 50)},
	}}
	got, note := chooseSparsities(s, 0.5)
	if note != "" {
		t.Fatal(note)
	}
	total := got["robust"]*1000 + got["fragile"]*1000
	if math.Abs(total-1000) > 1e-6 {
		t.Fatalf("%v prunes %v weights, want 1000", got, total)
	}
	if got["robust"] < got["fragile"] || got["robust"] != 0.9 {
		t.Fatalf("%v: the robust layer should take most", got)
	}
	if _, note := chooseSparsities(s, 0.95); note == "" {
		t.Fatal("an unreachable target gave no note")
	}
}
