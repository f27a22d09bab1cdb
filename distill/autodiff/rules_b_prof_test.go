package autodiff_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/infer-ml/infer/distill"
	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

func TestZZProfileCNN(t *testing.T) {
	if os.Getenv("ZZPROF") == "" {
		t.Skip()
	}
	testutil.InitORT(t)
	student := testmodels.CNN(testmodels.CNNConfig{})
	p, _, err := distill.PrepareStudent(student)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := distill.BuildTrainGraph(p, "logits", distill.LossConfig{Kind: distill.LossKL, Temperature: 4, Alpha: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inits := map[string]bool{}
	for _, in := range tg.Model.Graph.Initializer {
		inits[in.Name] = true
	}
	feeds := map[string]*tensor.Tensor{}
	rng := rand.New(rand.NewSource(1))
	for _, in := range tg.Model.Graph.Input {
		if inits[in.GetName()] {
			continue
		}
		var shape []int64
		for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			v := d.GetDimValue()
			if v <= 0 {
				v = 32
			}
			shape = append(shape, v)
		}
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		buf := make([]float32, n)
		for i := range buf {
			buf[i] = float32(rng.NormFloat64())
		}
		feeds[in.GetName()] = tensor.MustNew(shape, buf)
	}
	dir := t.TempDir()
	so := ort.Options{}
	if os.Getenv("ZZPROF") == "2" {
		so.ProfilePrefix = filepath.Join(dir, "prof")
	}
	train, err := ort.NewSessionFromModel(tg.Model, so)
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := ort.NewSessionFromModel(student, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	xin := map[string]*tensor.Tensor{}
	for _, in := range fwd.Inputs() {
		xin[in.Name] = feeds[in.Name]
	}
	for i := 0; i < 3; i++ {
		if _, err := train.Run(feeds); err != nil {
			t.Fatal(err)
		}
		fwd.Run(xin)
	}
	var ss, ff []float64
	for r := 0; r < 30; r++ {
		t0 := time.Now()
		for i := 0; i < 10; i++ {
			train.Run(feeds)
		}
		ss = append(ss, float64(time.Since(t0))/10/1e6)
		t0 = time.Now()
		for i := 0; i < 10; i++ {
			fwd.Run(xin)
		}
		ff = append(ff, float64(time.Since(t0))/10/1e6)
	}
	ms, mf := testutil.Median(ss), testutil.Median(ff)
	fmt.Printf("train %.2f ms fwd %.2f ms ratio %.2f  min: train %.2f fwd %.2f ratio %.2f\n", ms, mf, ms/mf, slices.Min(ss), slices.Min(ff), slices.Min(ss)/slices.Min(ff))
	train.Close()
	if so.ProfilePrefix == "" {
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "prof*"))
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var ev []struct {
		Cat  string         `json:"cat"`
		Name string         `json:"name"`
		Dur  float64        `json:"dur"`
		Args map[string]any `json:"args"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	byOp := map[string]float64{}
	byNode := map[string]float64{}
	for _, e := range ev {
		if e.Cat != "Node" {
			continue
		}
		op, _ := e.Args["op_name"].(string)
		if op == "" {
			continue
		}
		byOp[op] += e.Dur
		byNode[e.Name] += e.Dur
	}
	runs := float64(3 + 300)
	type kv struct {
		k string
		v float64
	}
	var l []kv
	for k, v := range byOp {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	for _, e := range l {
		fmt.Printf("%-24s %8.0f us/run\n", e.k, e.v/runs)
	}
	l = nil
	for k, v := range byNode {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	for i, e := range l {
		if i > 25 {
			break
		}
		fmt.Printf("%-60s %8.0f us/run\n", e.k, e.v/runs)
	}
}
