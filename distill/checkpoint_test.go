package distill

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/infer-ml/infer/pkg/tensor"
)

// ckptOddNames are parameter names that need escaping in the archive.
var ckptOddNames = []string{
	"fc1.weight", "encoder/layer.0/attn:0", "a%2Fb", "..", ".hidden", "x.npy",
	"with space", "Ω/ü", "meta", "param/x", "%", "bad\xffutf8", "",
}

func ckptSample(t *testing.T) *Checkpoint {
	t.Helper()
	r := rand.New(rand.NewPCG(4, 2))
	params := make([]Param, len(ckptOddNames))
	shapes := map[string][]int64{}
	for i, name := range ckptOddNames {
		n := 1 + i%4
		data := make([]float32, n*2)
		for j := range data {
			data[j] = float32(r.NormFloat64())
		}
		params[i] = Param{name, data}
		shapes[name] = []int64{int64(n), 2}
	}
	// Values whose bits must survive.
	params[0].Data[0] = float32(math.Copysign(0, -1))
	params[0].Data[1] = math.Float32frombits(1) // smallest subnormal
	params[1].Data[0] = float32(math.NaN())
	params[1].Data[1] = float32(math.Inf(-1))
	shapes[ckptOddNames[2]] = []int64{3, 1, 2}
	params[3].Data = params[3].Data[:1] // a scalar
	shapes[ckptOddNames[3]] = []int64{}

	named := params[:len(params)-1] // the optimizer rejects the empty name
	o, err := NewOptimizer(OptimizerConfig{Name: "adam", LR: 0.01}, optCloneParams(named))
	if err != nil {
		t.Fatal(err)
	}
	grads := make([][]float32, len(named))
	for i, p := range named {
		grads[i] = make([]float32, len(p.Data))
		for j := range grads[i] {
			grads[i][j] = float32(r.NormFloat64())
		}
	}
	if _, _, err := o.Step(grads); err != nil {
		t.Fatal(err)
	}
	pm := map[string][]float32{}
	best := map[string][]float32{}
	for _, p := range params {
		pm[p.Name] = p.Data
		best[p.Name] = slices.Clone(p.Data)
	}
	best[ckptOddNames[4]][0] = 42
	agree, acc := 87.5, math.NaN()
	return &Checkpoint{
		Version:     1,
		Fingerprint: "0123abcd",
		Epoch:       3,
		Step:        120,
		Params:      pm,
		Shapes:      shapes,
		Optimizer:   o.State(),
		RNG:         []byte{0, 1, 2, 255, '"', '\n'},
		Best:        0.1 + 0.2,
		BestEpoch:   2,
		BadEpochs:   1,
		History: []EpochRecord{
			{Epoch: 1, TrainLoss: 1.0 / 3, LR: 1e-3, Seconds: 0.25},
			{Epoch: 2, TrainLoss: math.Nextafter(0.5, 1), EvalAgreement: &agree, EvalAccuracy: &acc, LR: 5e-324, Seconds: math.Inf(1)},
		},
		BestParams: best,
	}
}

// ckptEqual compares bit for bit; NaNs are equal to NaNs.
func ckptEqual(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	f64 := func(what string, a, b float64) {
		t.Helper()
		if math.Float64bits(a) != math.Float64bits(b) && !(math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("%s: %v (%x), want %v (%x)", what, a, math.Float64bits(a), b, math.Float64bits(b))
		}
	}
	ptr := func(what string, a, b *float64) {
		t.Helper()
		if (a == nil) != (b == nil) {
			t.Errorf("%s: %v, want %v", what, a, b)
		} else if a != nil {
			f64(what, *a, *b)
		}
	}
	weights := func(what string, a, b map[string][]float32) {
		t.Helper()
		if len(a) != len(b) {
			t.Errorf("%s: %d arrays, want %d", what, len(a), len(b))
		}
		for name, w := range b {
			if !optSameBits(a[name], w) {
				t.Errorf("%s %q: %v, want %v", what, name, a[name], w)
			}
		}
	}
	if got.Version != 1 || got.Fingerprint != want.Fingerprint || got.Epoch != want.Epoch || got.Step != want.Step ||
		got.BestEpoch != want.BestEpoch || got.BadEpochs != want.BadEpochs || !slices.Equal(got.RNG, want.RNG) ||
		(got.RNG == nil) != (want.RNG == nil) {
		t.Errorf("scalars: got %+v", got)
	}
	f64("Best", got.Best, want.Best)
	weights("param", got.Params, want.Params)
	for name, w := range want.Params {
		s, ok := want.Shapes[name]
		if !ok {
			s = []int64{int64(len(w))}
		}
		if !slices.Equal(got.Shapes[name], s) {
			t.Errorf("shape of %q: %v, want %v", name, got.Shapes[name], s)
		}
	}
	if (got.BestParams == nil) != (want.BestParams == nil) {
		t.Errorf("BestParams nil %v, want nil %v", got.BestParams == nil, want.BestParams == nil)
	}
	weights("best", got.BestParams, want.BestParams)
	if len(got.History) != len(want.History) || (got.History == nil) != (want.History == nil) {
		t.Fatalf("history %+v, want %+v", got.History, want.History)
	}
	for i, w := range want.History {
		g := got.History[i]
		if g.Epoch != w.Epoch {
			t.Errorf("history[%d].Epoch %d", i, g.Epoch)
		}
		f64("TrainLoss", g.TrainLoss, w.TrainLoss)
		f64("LR", g.LR, w.LR)
		f64("Seconds", g.Seconds, w.Seconds)
		ptr("EvalAgreement", g.EvalAgreement, w.EvalAgreement)
		ptr("EvalAccuracy", g.EvalAccuracy, w.EvalAccuracy)
	}
	og, ow := got.Optimizer, want.Optimizer
	if og.Name != ow.Name || og.Step != ow.Step || len(og.Counts) != len(ow.Counts) || len(og.Buffers) != len(ow.Buffers) {
		t.Errorf("optimizer %s/%d/%d/%d, want %s/%d/%d/%d", og.Name, og.Step, len(og.Counts), len(og.Buffers), ow.Name, ow.Step, len(ow.Counts), len(ow.Buffers))
	}
	if !reflect.DeepEqual(og.Counts, ow.Counts) && len(ow.Counts) > 0 {
		t.Errorf("counts %v, want %v", og.Counts, ow.Counts)
	}
	for b, m := range ow.Buffers {
		weights("opt/"+b, og.Buffers[b], m)
	}
}

func ckptSaveLoad(t *testing.T, c *Checkpoint) *Checkpoint {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoint.npz")
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := ckptSample(t)
	got := ckptSaveLoad(t, c)
	ckptEqual(t, got, c)

	// The restored optimizer state continues exactly.
	named := make([]Param, 0, len(ckptOddNames))
	for _, n := range ckptOddNames[:len(ckptOddNames)-1] {
		named = append(named, Param{n, slices.Clone(c.Params[n])})
	}
	o, err := NewOptimizer(OptimizerConfig{Name: "adam", LR: 0.01}, named)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Restore(got.Optimizer); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointRoundTripEmpty(t *testing.T) {
	for name, c := range map[string]*Checkpoint{
		"zero":       {Best: math.NaN(), BestEpoch: -1},
		"plain sgd":  {Version: 1, Params: map[string][]float32{"w": {1, 2}}, Optimizer: OptimizerState{Name: "sgd", Step: 7, Buffers: map[string]map[string][]float32{}}, History: []EpochRecord{}, RNG: []byte{}, BestParams: map[string][]float32{}},
		"no shapes":  {Params: map[string][]float32{"w": {1, 2, 3}, "e": {}}},
		"empty bufs": {Optimizer: OptimizerState{Name: "adam", Counts: map[string]int{}, Buffers: map[string]map[string][]float32{"m": {}, "v": {}}}},
	} {
		t.Run(name, func(t *testing.T) {
			got := ckptSaveLoad(t, c)
			ckptEqual(t, got, c)
			if c.Optimizer.Buffers != nil && len(got.Optimizer.Buffers) != len(c.Optimizer.Buffers) {
				t.Errorf("buffers %v, want %v", got.Optimizer.Buffers, c.Optimizer.Buffers)
			}
		})
	}
}

// TestCheckpointRestoresOptimizer round-trips each optimizer's State
// through a file and checks the continuation is bit-identical.
func TestCheckpointRestoresOptimizer(t *testing.T) {
	for _, cfg := range optResumeConfigs {
		ps := optParams(6, 1, 4)
		o := optNew(t, cfg, ps...)
		for s := range 3 {
			optStepT(t, o, optRandGrads(rand.New(rand.NewPCG(uint64(s), 9)), ps, s%3)...)
		}
		c := &Checkpoint{Params: map[string][]float32{}, Optimizer: o.State()}
		for _, p := range ps {
			c.Params[p.Name] = p.Data
		}
		got := ckptSaveLoad(t, c)
		resumed := make([]Param, len(ps))
		for i, p := range ps {
			resumed[i] = Param{p.Name, got.Params[p.Name]}
		}
		o2 := optNew(t, cfg, resumed...)
		if err := o2.Restore(got.Optimizer); err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		for s := 3; s < 6; s++ {
			g := optRandGrads(rand.New(rand.NewPCG(uint64(s), 9)), ps, s%3)
			optStepT(t, o, g...)
			optStepT(t, o2, g...)
		}
		for i := range ps {
			if !optSameBits(ps[i].Data, resumed[i].Data) {
				t.Fatalf("%s: parameter %s differs after a resume from file", cfg.Name, ps[i].Name)
			}
		}
	}
}

func TestCheckpointEscape(t *testing.T) {
	for _, name := range append(ckptOddNames, "\x00\xff", "a/../b", "%41", "ABC_def-1.2") {
		e := ckptEscape(name)
		if strings.ContainsAny(e, "/:\\ ") || e == "." || e == ".." || strings.HasPrefix(e, ".") {
			t.Errorf("escape(%q) = %q is not a safe segment", name, e)
		}
		back, err := ckptUnescape(e)
		if err != nil || back != name {
			t.Errorf("unescape(%q) = %q, %v; want %q", e, back, err, name)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz", "%2f", "a/b", "%41"} {
		if _, err := ckptUnescape(bad); err == nil {
			t.Errorf("unescape(%q) accepted", bad)
		}
	}
}

func ckptWriteSample(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoint.npz")
	if err := SaveCheckpoint(path, ckptSample(t)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func ckptWantLoadError(t *testing.T, path, want string) {
	t.Helper()
	_, err := LoadCheckpoint(path)
	if err == nil {
		t.Fatalf("LoadCheckpoint(%s) succeeded, want an error with %q", path, want)
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q: want one line naming the file and containing %q", err, want)
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	path, b := ckptWriteSample(t)
	// The archive is stored uncompressed: find a weight's bytes.
	w := ckptSample(t).Params["with space"][0]
	off := bytes.Index(b, binary.LittleEndian.AppendUint32(nil, math.Float32bits(w)))
	if off < 0 {
		t.Fatal("weight bytes not found in the archive")
	}
	for _, at := range []int{off + 2, len(b) / 2, len(b) - 30} {
		c := slices.Clone(b)
		c[at] ^= 0x10
		if err := os.WriteFile(path, c, 0o644); err != nil {
			t.Fatal(err)
		}
		ckptWantLoadError(t, path, "corrupt")
	}
}

// TestCheckpointEveryByte flips each byte of a small checkpoint in turn:
// loading must fail or give back exactly the saved checkpoint (some zip
// bytes, such as timestamps, carry nothing).
func TestCheckpointEveryByte(t *testing.T) {
	c := &Checkpoint{
		Fingerprint: "fp", Epoch: 1, Step: 2, Best: 0.5,
		Params:    map[string][]float32{"a/b": {1, 2, 3}},
		Optimizer: OptimizerState{Name: "sgd", Step: 2, Buffers: map[string]map[string][]float32{"momentum": {"a/b": {4, 5, 6}}}},
		History:   []EpochRecord{{Epoch: 1, TrainLoss: 0.75, LR: 0.1}},
	}
	path := filepath.Join(t.TempDir(), "c.npz")
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	silent := 0
	for off := range b {
		x := slices.Clone(b)
		x[off] ^= 0x04
		if err := os.WriteFile(path, x, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCheckpoint(path)
		if err != nil {
			continue
		}
		silent++
		ckptEqual(t, got, c)
		if t.Failed() {
			t.Fatalf("flipping byte %d of %d changed the checkpoint without an error", off, len(b))
		}
	}
	t.Logf("%d of %d flipped bytes load unchanged", silent, len(b))
}

func TestCheckpointTruncated(t *testing.T) {
	path, b := ckptWriteSample(t)
	for _, n := range []int{0, 10, len(b) / 2, len(b) - 1} {
		if err := os.WriteFile(path, b[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		ckptWantLoadError(t, path, "truncated or corrupt")
	}
}

func TestCheckpointMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.npz")
	_, err := LoadCheckpoint(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err %v, want fs.ErrNotExist", err)
	}
	ckptWantLoadError(t, path, "does not exist")
}

func TestCheckpointWrongVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.npz")
	if err := saveCheckpoint(path, ckptSample(t), 2); err != nil {
		t.Fatal(err)
	}
	ckptWantLoadError(t, path, "format version 2; this infer reads version 1")
	if err := SaveCheckpoint(path, &Checkpoint{Version: 2}); err == nil {
		t.Fatal("SaveCheckpoint wrote version 2")
	}
}

func TestCheckpointNotACheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.npz")
	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("x", tensor.MustNew([]int64{2}, []float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ckptWantLoadError(t, path, "not a training checkpoint")
}

func TestCheckpointBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.npz")
	for _, c := range []*Checkpoint{
		{Params: map[string][]float32{"w": {1, 2}}, Shapes: map[string][]int64{"w": {3}}},
		{Params: map[string][]float32{"w": {1, 2}}, Shapes: map[string][]int64{"w": {2}, "x": {1}}},
	} {
		if err := SaveCheckpoint(path, c); err == nil {
			t.Errorf("saved %+v", c)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused save left %s: %v", path, err)
	}
}

func TestCheckpointAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.npz")
	old := ckptSample(t)
	if err := SaveCheckpoint(path, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	unchanged := func(what string) {
		t.Helper()
		after, err := os.ReadFile(path)
		if err != nil || string(after) != string(before) {
			t.Fatalf("%s: the existing checkpoint changed (%v)", what, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("%s: stray files left in %s: %v", what, dir, entries)
		}
	}

	// Refused input: nothing is written.
	bad := ckptSample(t)
	bad.Shapes["fc1.weight"] = []int64{99}
	if err := SaveCheckpoint(path, bad); err == nil {
		t.Fatal("bad shape saved")
	}
	unchanged("refused checkpoint")

	// The final rename fails: the destination is a non-empty directory.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "checkpoint.npz", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveCheckpoint(filepath.Join(sub, "checkpoint.npz"), old); err == nil {
		t.Fatal("saved over a directory")
	}
	if entries, _ := os.ReadDir(sub); len(entries) != 1 {
		t.Fatalf("a failed rename left files: %v", entries)
	}
	os.RemoveAll(sub)

	// A missing directory.
	if err := SaveCheckpoint(filepath.Join(dir, "missing", "checkpoint.npz"), old); err == nil {
		t.Fatal("saved into a missing directory")
	}
	unchanged("missing directory")

	// A read-only directory (root ignores permissions, so probe first).
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Log("directory permissions not enforced (root?); read-only case skipped")
	} else {
		if err := SaveCheckpoint(path, ckptSample(t)); err == nil {
			t.Fatal("saved into a read-only directory")
		}
		unchanged("read-only directory")
	}
	os.Chmod(dir, 0o755)

	// A successful overwrite replaces the file whole.
	next := ckptSample(t)
	next.Epoch = 4
	if err := SaveCheckpoint(path, next); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil || got.Epoch != 4 {
		t.Fatalf("after overwrite: %v, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("stray files after overwrite: %v", entries)
	}
}

// ckptSmallShapes are the trained weights of ckptSmall's student.
var ckptSmallShapes = map[string][]int64{"w": {2, 3}, "b": {3}}

// ckptSmall is a valid checkpoint of a student with ckptSmallShapes: adam
// state after one step, best weights kept.
func ckptSmall(t testing.TB) *Checkpoint {
	t.Helper()
	params := []Param{{"b", []float32{0.5, -1, 2}}, {"w", []float32{1, 2, 3, 4, 5, 6}}}
	o, err := NewOptimizer(OptimizerConfig{Name: "adam", LR: 0.01}, optCloneParams(params))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Step([][]float32{{0.1, 0.2, 0.3}, {1, -1, 1, -1, 1, -1}}); err != nil {
		t.Fatal(err)
	}
	pm := map[string][]float32{}
	for _, p := range params {
		pm[p.Name] = p.Data
	}
	return &Checkpoint{
		Fingerprint: "fp", Epoch: 1, Step: 1, Params: pm, Shapes: maps.Clone(ckptSmallShapes),
		Optimizer: o.State(), Best: 50, BestEpoch: 1, BestParams: cloneWeights(pm),
	}
}

// TestCheckpointValidate: a tampered checkpoint whose checksum was
// recomputed (it was saved again) loads, and Validate refuses it with one
// line naming the tensor.
func TestCheckpointValidate(t *testing.T) {
	if err := ckptSaveLoad(t, ckptSmall(t)).Validate(ckptSmallShapes); err != nil {
		t.Fatalf("a valid checkpoint: %v", err)
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name   string
		tamper func(c *Checkpoint)
		want   string
	}{
		{"NaN weight", func(c *Checkpoint) { c.Params["w"][4] = nan }, "tensor param/w holds NaN at index 4"},
		{"Inf best weight", func(c *Checkpoint) { c.BestParams["b"][0] = inf }, "tensor best/b holds +Inf"},
		{"NaN optimizer state", func(c *Checkpoint) { c.Optimizer.Buffers[BufV]["w"][1] = nan }, "tensor opt/v/w holds NaN"},
		{"transposed weight", func(c *Checkpoint) { c.Shapes["w"] = []int64{3, 2} }, "tensor param/w has shape [3 2]; the student's weight w has shape [2 3]"},
		{"flattened weight", func(c *Checkpoint) { c.Shapes["w"] = []int64{6} }, "tensor param/w has shape [6]"},
		{"short weight", func(c *Checkpoint) { c.Params["b"], c.Shapes["b"] = c.Params["b"][:2], []int64{2} }, "tensor param/b has shape [2]"},
		{"short best weight", func(c *Checkpoint) { c.BestParams["w"] = c.BestParams["w"][:5] }, "tensor best/w has shape [5]"},
		{"long optimizer state", func(c *Checkpoint) { c.Optimizer.Buffers[BufM]["b"] = make([]float32, 4) }, "tensor opt/m/b has shape [4]"},
		{"missing weight", func(c *Checkpoint) { delete(c.Params, "b"); delete(c.Shapes, "b") }, "does not hold weight b"},
		{"unknown weight", func(c *Checkpoint) { c.Params["x"] = []float32{1} }, "tensor param/x is not a trained weight"},
		{"unknown best weight", func(c *Checkpoint) { c.BestParams["x"] = []float32{1} }, "tensor best/x is not a trained weight"},
		{"negative epoch", func(c *Checkpoint) { c.Epoch = -1 }, "epoch -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck := ckptSmall(t)
			c.tamper(ck)
			err := ckptSaveLoad(t, ck).Validate(ckptSmallShapes)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, c.want)
			}
		})
	}
}

// ckptWriteRaw writes arrays and meta as a checkpoint, with the checksum
// computed as SaveCheckpoint does: what only a deliberate forger writes.
func ckptWriteRaw(t testing.TB, path string, arrays map[string]*tensor.Tensor, meta checkpointMeta) {
	t.Helper()
	names := slices.Sorted(maps.Keys(arrays))
	h := ckptHash{sha256.New()}
	for _, name := range names {
		if err := h.add(name, arrays[name]); err != nil {
			t.Fatal(err)
		}
	}
	meta.Format, meta.Version, meta.SHA256 = ckptFormat, CheckpointVersion, hex.EncodeToString(h.h.Sum(nil))
	js, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := w.Add(name, arrays[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(ckptMeta, tensor.MustNew([]int64{int64(len(js))}, js)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointForgedShapes: shapes and dtypes SaveCheckpoint never
// writes (a 2-D optimizer buffer, a best weight shaped unlike its weight,
// a float64 weight) are refused even with a matching checksum.
func TestCheckpointForgedShapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint.npz")
	w := tensor.MustNew([]int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	for _, c := range []struct {
		arrays map[string]*tensor.Tensor
		meta   checkpointMeta
		want   string
	}{
		{map[string]*tensor.Tensor{"param/w": w, "opt/momentum/w": tensor.MustNew([]int64{3, 2}, make([]float32, 6))},
			checkpointMeta{OptName: "sgd", OptBuffers: []string{"momentum"}}, `array "opt/momentum/w" has shape [3 2]`},
		{map[string]*tensor.Tensor{"param/w": w, "best/w": tensor.MustNew([]int64{3, 2}, make([]float32, 6))},
			checkpointMeta{HasBest: true}, `array "best/w" has shape [3 2], its weight [2 3]`},
		{map[string]*tensor.Tensor{"param/w": tensor.MustNew([]int64{2}, []float64{1, 2})},
			checkpointMeta{}, `array "param/w" is float64, want float32`},
	} {
		ckptWriteRaw(t, path, c.arrays, c.meta)
		ckptWantLoadError(t, path, c.want)
	}
}

// FuzzCheckpoint: reading any bytes as a checkpoint, and validating what
// loads against a student, never panics; what passes Validate holds
// finite values of the student's shapes.
func FuzzCheckpoint(f *testing.F) {
	dir := f.TempDir()
	seed := func(c *Checkpoint) []byte {
		path := filepath.Join(dir, "seed.npz")
		if err := SaveCheckpoint(path, c); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	valid := seed(ckptSmall(f))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	nan := ckptSmall(f)
	nan.Params["w"][2] = float32(math.NaN())
	f.Add(seed(nan))
	shape := ckptSmall(f)
	shape.Shapes["w"] = []int64{3, 2}
	f.Add(seed(shape))
	path := filepath.Join(dir, "checkpoint.npz") // inputs run one at a time
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadCheckpoint(path)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on several lines: %q", err)
			}
			return
		}
		if c.Validate(ckptSmallShapes) != nil {
			return
		}
		for name, shape := range ckptSmallShapes {
			if !slices.Equal(c.Shapes[name], shape) {
				t.Fatalf("weight %s validated with shape %v", name, c.Shapes[name])
			}
			for _, v := range c.Params[name] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("weight %s validated holding %v", name, v)
				}
			}
		}
	})
}
