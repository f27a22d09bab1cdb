package distill

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/distill/autodiff"
	"github.com/infer-ml/infer/internal/testmodels"
	"github.com/infer-ml/infer/internal/testutil"
	"github.com/infer-ml/infer/pkg/dataset"
	"github.com/infer-ml/infer/pkg/onnx"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/ort"
	"github.com/infer-ml/infer/pkg/tensor"
)

func randomSource(t *testing.T, m *onnxpb.ModelProto, n, batch int, seed int64, shuffle bool) dataset.Source {
	t.Helper()
	s, err := dataset.Open("random", dataset.SpecsFromGraph(m.Graph), dataset.Options{RandomSamples: n, BatchSize: batch, Seed: seed, Shuffle: shuffle, RandomNormal: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func smallOptions(t *testing.T, student *onnxpb.ModelProto, epochs int) Options {
	return Options{
		Loss:      LossConfig{Kind: LossKL, Temperature: 2, Alpha: 1},
		Optimizer: OptimizerConfig{Name: "adam", LR: 3e-3, Schedule: "constant"},
		Epochs:    epochs, Seed: 3,
		Session: ort.Options{IntraOpThreads: 1},
		Train: func(seed int64) (dataset.Source, error) {
			return dataset.Open("random", dataset.SpecsFromGraph(student.Graph), dataset.Options{RandomSamples: 256, BatchSize: 32, Seed: seed, RandomNormal: true})
		},
		Eval:        randomSource(t, student, 128, 32, 12, false),
		LatencyRuns: 3,
	}
}

// studentBatch draws n random samples for the student and runs them
// through it in ONNX Runtime.
func studentBatch(t *testing.T, student *onnxpb.ModelProto, n int, seed int64) (*dataset.Batch, map[string]*tensor.Tensor) {
	t.Helper()
	b, err := randomSource(t, student, n, n, seed, false).Next()
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ort.NewSessionFromModel(student, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	out, err := ss.Run(b.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// trainGraph prepares student and builds its training graph for the KL
// loss at temperature temp on its "logits" output.
func trainGraph(t *testing.T, student *onnxpb.ModelProto, temp float64) *TrainGraph {
	t.Helper()
	p, _, err := PrepareStudent(student)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := BuildTrainGraph(p, "logits", LossConfig{Kind: LossKL, Temperature: temp, Alpha: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// sameLogits fails t unless the training graph's logits got match the
// student's want within abs + rel·|want| each.
func sameLogits(t *testing.T, want, got *tensor.Tensor, abs, rel float64) {
	t.Helper()
	a, _ := tensor.AsFloat64(want)
	c, _ := tensor.AsFloat64(got)
	for i := range a {
		if math.Abs(a[i]-c[i]) > abs+rel*math.Abs(a[i]) {
			t.Fatalf("logit %d: student %v, training graph %v", i, a[i], c[i])
		}
	}
}

// paramFeeds feeds the training graph the student's own values of its
// trainable weights (copies, returned by name for the caller to change).
func paramFeeds(student *onnxpb.ModelProto, tg *TrainGraph, feeds map[string]*tensor.Tensor) map[string][]float32 {
	params := map[string][]float32{}
	for i, name := range tg.Params {
		for _, in := range student.Graph.Initializer {
			if in.Name == name {
				x, _ := tensor.FromProto(in)
				params[name] = slices.Clone(tensor.Values[float32](x))
				feeds[name] = tensor.MustNew(tg.Shapes[i], params[name])
			}
		}
	}
	return params
}

// TestTrainGraphForward: the training graph computes the same student
// output as the student itself in ONNX Runtime.
func TestTrainGraphForward(t *testing.T) {
	testutil.InitORT(t)
	student := testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{32}, Seed: 5})
	tg := trainGraph(t, student, 4)
	if len(tg.Params) != 4 {
		t.Fatalf("trainable %v", tg.Params)
	}
	b, want := studentBatch(t, student, 8, 1)
	ts, err := ort.NewSessionFromModel(tg.Model, ort.Options{ExtraOutputs: []string{"logits"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	feeds := map[string]*tensor.Tensor{"input": b.Inputs["input"], teacherInput: want["logits"], softScale: scalar(1)}
	paramFeeds(student, tg, feeds)
	got, err := ts.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	sameLogits(t, want["logits"], got["logits"], 1e-5, 0)
	// KL of a model with itself is zero, and so is its gradient.
	l, _ := tensor.AsFloat64(got[lossName])
	if math.Abs(l[0]) > 1e-5 {
		t.Fatalf("KL(self) = %v", l[0])
	}
}

// TestDistillLearns: an MLP student learns a different MLP teacher on
// random inputs: its agreement rises.
func TestDistillLearns(t *testing.T) {
	testutil.InitORT(t)
	teacher := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	student := testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{48}, Seed: 2})
	res, err := Distill(teacher, student, smallOptions(t, student, 6))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("agreement %.1f%% → %.1f%%, loss %v → %v", *res.Before.Agreement, *res.After.Agreement, res.History[0].TrainLoss, res.History[5].TrainLoss)
	if *res.After.Agreement < *res.Before.Agreement+20 || res.History[5].TrainLoss >= res.History[0].TrainLoss {
		t.Fatalf("agreement %.1f%% → %.1f%%, loss %v → %v", *res.Before.Agreement, *res.After.Agreement, res.History[0].TrainLoss, res.History[5].TrainLoss)
	}
	// The graph is the student's, only weights changed.
	if len(res.Model.Graph.Node) != len(student.Graph.Node) || res.Model.Graph.Initializer[0].Name != student.Graph.Initializer[0].Name {
		t.Fatal("the output graph differs from the student's")
	}
}

// TestResumeExact: a run stopped mid-epoch and resumed from its last
// checkpoint ends with the same weights, bit for bit, as one run.
func TestResumeExact(t *testing.T) {
	testutil.InitORT(t)
	teacher := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	student := testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{24}, Seed: 2})
	full, err := Distill(teacher, student, smallOptions(t, student, 3))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := smallOptions(t, student, 3)
	o.CheckpointDir = dir
	o.StopAfterSteps = 8 + 4 // 8 steps per epoch: killed in the middle of epoch 2
	if _, err := Distill(teacher, student, o); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v", err)
	}
	o = smallOptions(t, student, 3)
	o.CheckpointDir, o.Resume = dir, true
	resumed, err := Distill(teacher, student, o)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedAt != 1 {
		t.Fatalf("resumed after epoch %d", resumed.ResumedAt)
	}
	for i, a := range full.Model.Graph.Initializer {
		b := resumed.Model.Graph.Initializer[i]
		x, _ := tensor.FromProto(a)
		y, _ := tensor.FromProto(b)
		if !slices.Equal(tensor.Values[float32](x), tensor.Values[float32](y)) {
			t.Fatalf("weight %s differs after resuming", a.Name)
		}
	}
	// Another student is refused.
	o = smallOptions(t, student, 3)
	o.CheckpointDir, o.Resume = dir, true
	other := testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{24}, Seed: 9})
	if _, err := Distill(teacher, other, o); err == nil || !strings.Contains(err.Error(), "another") {
		t.Fatalf("got %v", err)
	}
}

func TestDistillErrors(t *testing.T) {
	testutil.InitORT(t)
	teacher := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	wrong := testmodels.MLP(testmodels.MLPConfig{Classes: 7, Seed: 2})
	if _, err := Distill(teacher, wrong, smallOptions(t, wrong, 1)); err == nil || !strings.Contains(err.Error(), "does not match the teacher") {
		t.Fatalf("shape mismatch: %v", err)
	}
	// An op without a gradient rule on the path.
	b := testmodels.NewBuilder("hardmax", 17)
	x := b.Input("input", tensor.Float32, "N", 64)
	w := b.Initializer("w", []int64{64, 10}, make([]float32, 640))
	h := b.Op("MatMul", []string{x, w})
	b.Node("Hardmax", []string{h}, []string{"logits"})
	b.Output("logits", tensor.Float32, "N", 10)
	s := b.Model()
	if _, err := Distill(teacher, s, smallOptions(t, s, 1)); !errors.Is(err, autodiff.ErrNoRule) || !strings.Contains(err.Error(), "Hardmax") {
		t.Fatalf("no rule: %v", err)
	}
	// A teacher input the student does not take.
	b = testmodels.NewBuilder("renamed", 17)
	x = b.Input("features", tensor.Float32, "N", 64)
	w = b.Initializer("w", []int64{64, 10}, make([]float32, 640))
	b.Node("MatMul", []string{x, w}, []string{"logits"})
	b.Output("logits", tensor.Float32, "N", 10)
	s = b.Model()
	if _, err := Distill(teacher, s, smallOptions(t, s, 1)); err == nil || !strings.Contains(err.Error(), "not an input of the student") {
		t.Fatalf("inputs: %v", err)
	}
}

// TestStudentFromTeacherMNIST: half the zoo model's channels, and a batch
// dimension that varies although the export fixes it at 1.
func TestStudentFromTeacherMNIST(t *testing.T) {
	testutil.InitORT(t)
	teacher, err := onnx.Load(testutil.Fixture(t, "mnist/model.onnx"), onnx.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, hints, _, err := StudentFromTeacher(teacher.Proto, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// The two pruned groups pair the pooled activations channel for channel.
	if len(hints) != 2 || hints[0].Value != "Pooling66_Output_0" || len(hints[0].Keep) != 4 ||
		hints[1].Value != "Pooling160_Output_0" || len(hints[1].Keep) != 8 {
		t.Fatalf("hints %+v", hints)
	}
	if d := s.Graph.Input[0].Type.GetTensorType().Shape.Dim[0]; d.GetDimParam() == "" {
		t.Fatalf("batch dimension still fixed: %v", d)
	}
	_, out := studentBatch(t, s, 4, 1)
	if sh := out[s.Graph.Output[0].Name].Shape(); sh[0] != 4 || sh[1] != 10 {
		t.Fatalf("output shape %v", sh)
	}
	for _, in := range s.Graph.Initializer {
		if len(in.Dims) == 4 && in.Dims[0] != 4 && in.Dims[0] != 8 {
			t.Fatalf("conv weight %s %v: not half the channels", in.Name, in.Dims)
		}
	}
	if _, _, _, err := StudentFromTeacher(teacher.Proto, 1); err == nil {
		t.Fatal("width 1 accepted")
	}
	// One epoch on 512 digits with and without the hint terms (the same
	// batches; a small rate keeps the runs close): the hints add to the
	// loss, through a teacher that runs one image at a time.
	digits := testutil.Fixture(t, "mnist/digits-shuffled.npz")
	specs := dataset.SpecsFromGraph(s.Graph)
	firstLoss := func(weight float64) float64 {
		ev, err := dataset.Open(digits, specs, dataset.Options{Offset: 9000, Limit: 64, BatchSize: 32})
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		res, err := Distill(teacher.Proto, s, Options{
			Loss:      LossConfig{Kind: LossKL, Temperature: 4, Alpha: 1, Hints: hints, HintWeight: weight},
			Optimizer: OptimizerConfig{Name: OptAdam, LR: 1e-5},
			Epochs:    1, Seed: 1,
			Train: func(seed int64) (dataset.Source, error) {
				return dataset.Open(digits, specs, dataset.Options{Limit: 512, BatchSize: 32, Shuffle: true, Seed: seed})
			},
			Eval: ev, LatencyRuns: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.History[0].TrainLoss
	}
	plain, hinted := firstLoss(0), firstLoss(1)
	if !(hinted > plain+0.01) || math.IsInf(hinted, 0) {
		t.Fatalf("training loss with hints %v, without %v", hinted, plain)
	}
	if _, err := Distill(teacher.Proto, s, Options{Loss: LossConfig{Kind: LossKL, Temperature: 4, Alpha: 1, HintWeight: 1}, Epochs: 1,
		Optimizer: OptimizerConfig{Name: OptAdam, LR: 1e-3}}); err == nil || !strings.Contains(err.Error(), "needs hints") {
		t.Fatalf("hint weight without hints: %v", err)
	}
}

// TestDistillMSE: the mse loss matches the outputs themselves; the output
// error falls.
func TestDistillMSE(t *testing.T) {
	testutil.InitORT(t)
	teacher := testmodels.MLP(testmodels.MLPConfig{Seed: 1})
	student := testmodels.MLP(testmodels.MLPConfig{Hidden: []int64{48}, Seed: 2})
	o := smallOptions(t, student, 4)
	o.Loss = LossConfig{Kind: LossMSE}
	res, err := Distill(teacher, student, o)
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.History[0].TrainLoss, res.History[3].TrainLoss
	t.Logf("mse %v → %v, SQNR %.1f → %.1f dB", first, last, *res.Before.SQNR, *res.After.SQNR)
	if !(last < 0.7*first) || *res.After.SQNR <= *res.Before.SQNR {
		t.Fatalf("mse %v → %v, SQNR %v → %v dB", first, last, *res.Before.SQNR, *res.After.SQNR)
	}
}
