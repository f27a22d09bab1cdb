package tensor

import (
	"slices"
	"testing"
)

func TestMoveFirstAxis(t *testing.T) {
	// x[i][j][k] = 100i + 10j + k, shape [2, 3, 2].
	var v []float32
	for i := range 2 {
		for j := range 3 {
			for k := range 2 {
				v = append(v, float32(100*i+10*j+k))
			}
		}
	}
	x := MustNew([]int64{2, 3, 2}, v)
	for to, want := range map[int][]int64{1: {3, 2, 2}, 2: {3, 2, 2}} {
		y, err := MoveFirstAxis(x, to)
		if err != nil {
			t.Fatal(err)
		}
		back, err := MoveAxisFirst(y, to)
		if err != nil || !slices.Equal(back.Shape(), x.Shape()) || !slices.Equal(Values[float32](back), v) {
			t.Fatalf("to %d and back: %v, %v", to, back, err)
		}
		if !slices.Equal(y.Shape(), want) {
			t.Fatalf("to %d: shape %v, want %v", to, y.Shape(), want)
		}
		got := Values[float32](y)
		for a := range 3 {
			for b := range 2 {
				for i := range 2 {
					// to 1: y[a][i][b] = x[i][a][b]; to 2: y[a][b][i] = x[i][a][b].
					at := (a*2+i)*2 + b
					if to == 2 {
						at = (a*2+b)*2 + i
					}
					if w := float32(100*i + 10*a + b); got[at] != w {
						t.Fatalf("to %d: element (%d,%d,%d) = %v, want %v", to, a, b, i, got[at], w)
					}
				}
			}
		}
	}
	if _, err := MoveFirstAxis(x, 3); err == nil {
		t.Fatal("position past the rank accepted")
	}
	if _, err := MoveFirstAxis(MustNew([]int64{}, []float32{1}), 0); err == nil {
		t.Fatal("scalar accepted")
	}
}
