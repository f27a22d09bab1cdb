package distill

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/infer-ml/infer/pkg/tensor"
)

// Checkpoint file format (version 1): one .npz archive holding
//
//	param/<name>           float32, the parameter's shape
//	best/<name>            float32, the same shape (when BestParams != nil)
//	opt/<buffer>/<name>    float32, 1-D (OptimizerState.Buffers)
//	meta                   uint8, the JSON of checkpointMeta
//
// Names are escaped with ckptEscape so that any name, '/' and ':' included,
// round-trips. meta holds the scalar fields and a SHA-256 over every other
// array (name, shape and little-endian bytes, in name order), which Load
// checks; zip's CRC-32 covers meta itself. Floats are stored as their bits
// (arrays) or as shortest round-trip decimals (JSON, with "NaN", "+Inf" and
// "-Inf" as strings), so every value comes back bit for bit (NaN as
// math.NaN()).

// CheckpointVersion is the format version SaveCheckpoint writes and
// LoadCheckpoint reads.
const CheckpointVersion = 1

// ckptFormat marks a checkpoint's meta, to tell it from other .npz files.
const ckptFormat = "infer-distill-checkpoint"

// Checkpoint is everything needed to resume training exactly.
type Checkpoint struct {
	// Version is the format version; SaveCheckpoint accepts 0 or
	// CheckpointVersion and LoadCheckpoint returns CheckpointVersion.
	Version int
	// Fingerprint identifies the models and options a resume must match.
	Fingerprint string
	// Epoch and Step count the completed epochs and optimizer steps.
	Epoch, Step int
	// Params holds the weights; Shapes their shapes (a parameter without
	// a shape is stored 1-D and loads with shape [len]).
	Params map[string][]float32
	Shapes map[string][]int64
	// Optimizer is the optimizer's state (see Optimizer.State).
	Optimizer OptimizerState
	// RNG is the caller's serialized random state.
	RNG []byte
	// Best is the best evaluation metric so far (NaN: none yet), reached
	// at BestEpoch; BadEpochs counts the epochs since.
	Best                 float64
	BestEpoch, BadEpochs int
	History              []EpochRecord
	// BestParams are the weights of the best epoch (nil: none kept).
	BestParams map[string][]float32
}

// EpochRecord is one epoch of training.
type EpochRecord struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	// EvalAgreement and EvalAccuracy are in percent; nil when not measured.
	EvalAgreement *float64 `json:"eval_agreement,omitempty"`
	EvalAccuracy  *float64 `json:"eval_accuracy,omitempty"`
	// LR is the learning rate of the epoch's last step.
	LR      float64 `json:"lr"`
	Seconds float64 `json:"seconds"`
}

// checkpointMeta is the JSON stored in the meta array.
type checkpointMeta struct {
	Format      string      `json:"format"`
	Version     int         `json:"version"`
	Fingerprint string      `json:"fingerprint"`
	Epoch       int         `json:"epoch"`
	Step        int         `json:"step"`
	Best        ckptFloat   `json:"best"`
	BestEpoch   int         `json:"best_epoch"`
	BadEpochs   int         `json:"bad_epochs"`
	HasBest     bool        `json:"has_best_params"`
	RNG         []byte      `json:"rng"`
	History     []ckptEpoch `json:"history"`
	OptName     string      `json:"optimizer"`
	OptStep     int         `json:"optimizer_step"`
	// OptCounts and OptBuffers (which lists the buffers, so that an empty
	// one survives) hold escaped names, as JSON would mangle invalid UTF-8.
	OptCounts  map[string]int `json:"optimizer_counts"`
	OptBuffers []string       `json:"optimizer_buffers"`
	SHA256     string         `json:"sha256"`
}

type ckptEpoch struct {
	Epoch         int        `json:"epoch"`
	TrainLoss     ckptFloat  `json:"train_loss"`
	EvalAgreement *ckptFloat `json:"eval_agreement"`
	EvalAccuracy  *ckptFloat `json:"eval_accuracy"`
	LR            ckptFloat  `json:"lr"`
	Seconds       ckptFloat  `json:"seconds"`
}

// ckptFloat is a float64 that JSON carries exactly, NaN and Inf included.
type ckptFloat float64

func (f ckptFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(`"NaN"`), nil
	case math.IsInf(x, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(x, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
}

func (f *ckptFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = ckptFloat(math.NaN())
		return nil
	case `"+Inf"`:
		*f = ckptFloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = ckptFloat(math.Inf(-1))
		return nil
	}
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("bad number %s", b)
	}
	*f = ckptFloat(x)
	return nil
}

func ckptFloatPtr(p *float64) *ckptFloat {
	if p == nil {
		return nil
	}
	f := ckptFloat(*p)
	return &f
}

func ckptFloat64Ptr(p *ckptFloat) *float64 {
	if p == nil {
		return nil
	}
	f := float64(*p)
	return &f
}

// Array name prefixes in the archive.
const (
	ckptParam = "param/"
	ckptBest  = "best/"
	ckptOpt   = "opt/"
	ckptMeta  = "meta"
)

// ckptEscape makes name safe as one path segment of a zip entry: bytes
// other than ASCII letters, digits, '_', '-' and '.' (and a leading '.')
// become %XX. It is injective, so distinct names stay distinct.
func ckptEscape(name string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// ckptUnescape inverts ckptEscape; it rejects anything ckptEscape would
// not have written.
func ckptUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in array name %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in array name %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	name := b.String()
	if ckptEscape(name) != s {
		return "", fmt.Errorf("array name %q is not in canonical form", s)
	}
	return name, nil
}

// ckptHash hashes arrays in the order given: name, shape and data.
type ckptHash struct{ h hash.Hash }

func (c ckptHash) add(name string, t *tensor.Tensor) error {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(name)))
	c.h.Write(n[:])
	c.h.Write([]byte(name))
	binary.LittleEndian.PutUint64(n[:], uint64(len(t.Shape())))
	c.h.Write(n[:])
	for _, d := range t.Shape() {
		binary.LittleEndian.PutUint64(n[:], uint64(d))
		c.h.Write(n[:])
	}
	b, err := tensor.Bytes(t)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	c.h.Write(n[:])
	c.h.Write(b)
	return nil
}

// SaveCheckpoint writes c to path atomically: the archive is built in a
// temporary file in path's folder, synced and renamed over path, so path
// holds either the old checkpoint or the new one, never part of one. It
// returns an error if c is nil, its version is neither 0 nor
// CheckpointVersion, a shape disagrees with its parameter's length or
// names no parameter, or the file cannot be written.
func SaveCheckpoint(path string, c *Checkpoint) error {
	if c == nil {
		return fmt.Errorf("checkpoint %s: nothing to save (nil checkpoint)", path)
	}
	if c.Version != 0 && c.Version != CheckpointVersion {
		return fmt.Errorf("checkpoint %s: cannot write format version %d (this infer writes %d)", path, c.Version, CheckpointVersion)
	}
	return saveCheckpoint(path, c, CheckpointVersion)
}

func saveCheckpoint(path string, c *Checkpoint, version int) error {
	arrays := map[string]*tensor.Tensor{}
	for name, data := range c.Params {
		shape, ok := c.Shapes[name]
		if !ok {
			shape = []int64{int64(len(data))}
		}
		n, err := tensor.NumElements(shape)
		if err != nil || n != len(data) {
			return fmt.Errorf("checkpoint %s: parameter %s has %d values but shape %v", path, name, len(data), shape)
		}
		arrays[ckptParam+ckptEscape(name)] = tensor.MustNew(shape, data)
	}
	for name := range c.Shapes {
		if _, ok := c.Params[name]; !ok {
			return fmt.Errorf("checkpoint %s: shape given for %s, which is not a parameter", path, name)
		}
	}
	for name, data := range c.BestParams {
		shape := []int64{int64(len(data))}
		if s, ok := c.Shapes[name]; ok {
			if n, _ := tensor.NumElements(s); n == len(data) {
				shape = s
			}
		}
		arrays[ckptBest+ckptEscape(name)] = tensor.MustNew(shape, data)
	}
	bufNames := make([]string, 0, len(c.Optimizer.Buffers))
	for buf, m := range c.Optimizer.Buffers {
		bufNames = append(bufNames, ckptEscape(buf))
		for name, data := range m {
			arrays[ckptOpt+ckptEscape(buf)+"/"+ckptEscape(name)] = tensor.MustNew([]int64{int64(len(data))}, data)
		}
	}
	slices.Sort(bufNames)
	names := make([]string, 0, len(arrays))
	for name := range arrays {
		names = append(names, name)
	}
	slices.Sort(names)
	h := ckptHash{sha256.New()}
	for _, name := range names {
		if err := h.add(name, arrays[name]); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	meta := checkpointMeta{
		Format: ckptFormat, Version: version, Fingerprint: c.Fingerprint,
		Epoch: c.Epoch, Step: c.Step,
		Best: ckptFloat(c.Best), BestEpoch: c.BestEpoch, BadEpochs: c.BadEpochs,
		HasBest: c.BestParams != nil, RNG: c.RNG,
		OptName: c.Optimizer.Name, OptStep: c.Optimizer.Step,
		OptBuffers: bufNames,
		SHA256:     hex.EncodeToString(h.h.Sum(nil)),
	}
	if c.Optimizer.Counts != nil {
		meta.OptCounts = make(map[string]int, len(c.Optimizer.Counts))
		for name, n := range c.Optimizer.Counts {
			meta.OptCounts[ckptEscape(name)] = n
		}
	}
	if c.History != nil {
		meta.History = make([]ckptEpoch, len(c.History))
		for i, r := range c.History {
			meta.History[i] = ckptEpoch{
				Epoch: r.Epoch, TrainLoss: ckptFloat(r.TrainLoss),
				EvalAgreement: ckptFloatPtr(r.EvalAgreement), EvalAccuracy: ckptFloatPtr(r.EvalAccuracy),
				LR: ckptFloat(r.LR), Seconds: ckptFloat(r.Seconds),
			}
		}
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}

	w, err := tensor.CreateNPZ(path, false)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, name := range names {
		if err := w.Add(name, arrays[name]); err != nil {
			w.Abort()
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := w.Add(ckptMeta, tensor.MustNew([]int64{int64(len(js))}, js)); err != nil {
		w.Abort()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// Make the rename itself durable; best effort, the file is whole
	// either way.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint. It returns a
// one-line error, naming the file, if the file is missing (wrapping
// fs.ErrNotExist), is not a checkpoint, has another format version, or is
// truncated or corrupt (its checksum does not match).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	corrupt := func(why string, a ...any) error {
		return fmt.Errorf("checkpoint %s is truncated or corrupt: %s", path, fmt.Sprintf(why, a...))
	}
	z, err := tensor.OpenNPZ(path)
	if err != nil {
		return nil, corrupt("%v", ckptOneLine(err))
	}
	defer z.Close()
	if !z.Has(ckptMeta) {
		return nil, fmt.Errorf("checkpoint %s is not a training checkpoint, or is corrupt: it has no meta array", path)
	}
	mt, err := z.Read(ckptMeta)
	if err != nil {
		return nil, corrupt("%v", ckptOneLine(err))
	}
	if mt.DType() != tensor.Uint8 || len(mt.Shape()) != 1 {
		return nil, corrupt("meta is %v, want a 1-D uint8 array", mt)
	}
	js := tensor.Values[uint8](mt)
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, corrupt("meta: %v", err)
	}
	if head.Format != ckptFormat {
		return nil, fmt.Errorf("checkpoint %s is not a training checkpoint, or is corrupt: its meta names format %q", path, head.Format)
	}
	if head.Version != CheckpointVersion {
		return nil, fmt.Errorf("checkpoint %s has format version %d; this infer reads version %d", path, head.Version, CheckpointVersion)
	}
	var meta checkpointMeta
	if err := json.Unmarshal(js, &meta); err != nil {
		return nil, corrupt("meta: %v", err)
	}

	c := &Checkpoint{
		Version: CheckpointVersion, Fingerprint: meta.Fingerprint,
		Epoch: meta.Epoch, Step: meta.Step,
		Params: map[string][]float32{}, Shapes: map[string][]int64{},
		Optimizer: OptimizerState{Name: meta.OptName, Step: meta.OptStep},
		RNG:       meta.RNG, Best: float64(meta.Best), BestEpoch: meta.BestEpoch, BadEpochs: meta.BadEpochs,
	}
	if meta.History != nil {
		c.History = make([]EpochRecord, len(meta.History))
		for i, r := range meta.History {
			c.History[i] = EpochRecord{
				Epoch: r.Epoch, TrainLoss: float64(r.TrainLoss),
				EvalAgreement: ckptFloat64Ptr(r.EvalAgreement), EvalAccuracy: ckptFloat64Ptr(r.EvalAccuracy),
				LR: float64(r.LR), Seconds: float64(r.Seconds),
			}
		}
	}
	if meta.HasBest {
		c.BestParams = map[string][]float32{}
	}
	if meta.OptCounts != nil {
		c.Optimizer.Counts = make(map[string]int, len(meta.OptCounts))
		for e, n := range meta.OptCounts {
			name, err := ckptUnescape(e)
			if err != nil {
				return nil, corrupt("meta: %v", err)
			}
			c.Optimizer.Counts[name] = n
		}
	}
	if meta.OptBuffers != nil {
		c.Optimizer.Buffers = map[string]map[string][]float32{}
		for _, e := range meta.OptBuffers {
			b, err := ckptUnescape(e)
			if err != nil {
				return nil, corrupt("meta: %v", err)
			}
			c.Optimizer.Buffers[b] = map[string][]float32{}
		}
	}

	names := slices.DeleteFunc(z.Names(), func(n string) bool { return n == ckptMeta })
	slices.Sort(names)
	h := ckptHash{sha256.New()}
	bestShapes := map[string][]int64{}
	for _, entry := range names {
		t, err := z.Read(entry)
		if err != nil {
			return nil, corrupt("%v", ckptOneLine(err))
		}
		if t.DType() != tensor.Float32 {
			return nil, corrupt("array %q is %v, want float32", entry, t.DType())
		}
		if err := h.add(entry, t); err != nil {
			return nil, corrupt("array %q: %v", entry, err)
		}
		data := tensor.Values[float32](t)
		var name string
		switch {
		case strings.HasPrefix(entry, ckptOpt) && len(t.Shape()) != 1:
			err = fmt.Errorf("array %q has shape %v; optimizer buffers are 1-D", entry, t.Shape())
		case strings.HasPrefix(entry, ckptParam):
			if name, err = ckptUnescape(strings.TrimPrefix(entry, ckptParam)); err == nil {
				c.Params[name] = data
				c.Shapes[name] = append([]int64{}, t.Shape()...)
			}
		case strings.HasPrefix(entry, ckptBest) && meta.HasBest:
			if name, err = ckptUnescape(strings.TrimPrefix(entry, ckptBest)); err == nil {
				c.BestParams[name] = data
				bestShapes[name] = t.Shape()
			}
		case strings.HasPrefix(entry, ckptOpt):
			buf, pname, ok := strings.Cut(strings.TrimPrefix(entry, ckptOpt), "/")
			if !ok {
				err = fmt.Errorf("unexpected array %q", entry)
				break
			}
			if buf, err = ckptUnescape(buf); err != nil {
				break
			}
			if name, err = ckptUnescape(pname); err != nil {
				break
			}
			m, ok := c.Optimizer.Buffers[buf]
			if !ok {
				err = fmt.Errorf("array %q belongs to no listed optimizer buffer", entry)
				break
			}
			m[name] = data
		default:
			err = fmt.Errorf("unexpected array %q", entry)
		}
		if err != nil {
			return nil, corrupt("%v", err)
		}
	}
	if got := hex.EncodeToString(h.h.Sum(nil)); got != meta.SHA256 {
		return nil, corrupt("checksum mismatch (sha256 %s, recorded %s)", got, meta.SHA256)
	}
	if err := ckptBestShapes(c.Shapes, bestShapes); err != nil {
		return nil, corrupt("%v", err)
	}
	return c, nil
}

// ckptBestShapes checks that every best weight has the shape
// SaveCheckpoint gives it: its weight's shape when the sizes agree.
func ckptBestShapes(shapes, best map[string][]int64) error {
	for _, name := range slices.Sorted(maps.Keys(best)) {
		s, ok := shapes[name]
		if !ok {
			continue
		}
		n, _ := tensor.NumElements(s)
		m, _ := tensor.NumElements(best[name])
		if n == m && !slices.Equal(s, best[name]) {
			return fmt.Errorf("array %q has shape %v, its weight %v", ckptBest+ckptEscape(name), best[name], s)
		}
	}
	return nil
}

// CheckpointPath is the file in dir that Distill writes its checkpoints
// to and resumes from.
func CheckpointPath(dir string) string { return filepath.Join(dir, checkpointFile) }

// Validate checks that c can be restored into a student whose trained
// weights have the given shapes (by name): it holds every one of those
// weights with its shape, each best weight and optimizer buffer names one
// of them and has its number of values, every value is finite, and the
// epoch and step counts are not negative. The one-line error names the
// first tensor that fails as the archive names it (param/W, best/W,
// opt/BUFFER/W). Optimizer.Restore checks the rest of the optimizer
// state.
func (c *Checkpoint) Validate(shapes map[string][]int64) error {
	if c.Epoch < 0 || c.Step < 0 {
		return fmt.Errorf("it counts epoch %d and step %d; neither may be negative", c.Epoch, c.Step)
	}
	for _, name := range slices.Sorted(maps.Keys(shapes)) {
		if _, ok := c.Params[name]; !ok {
			return fmt.Errorf("it does not hold weight %s", name)
		}
	}
	if err := ckptCheckTensors(ckptParam, c.Params, c.Shapes, shapes); err != nil {
		return err
	}
	if err := ckptCheckTensors(ckptBest, c.BestParams, nil, shapes); err != nil {
		return err
	}
	for _, buf := range slices.Sorted(maps.Keys(c.Optimizer.Buffers)) {
		if err := ckptCheckTensors(ckptOpt+buf+"/", c.Optimizer.Buffers[buf], nil, shapes); err != nil {
			return err
		}
	}
	return nil
}

// ckptCheckTensors checks the tensors of one group of a checkpoint, named
// prefix+name: each names a weight in want and has its number of values
// and, where got is not nil, its shape; every value is finite. A tensor
// with got == nil is 1-D.
func ckptCheckTensors(prefix string, tensors map[string][]float32, got, want map[string][]int64) error {
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		data := tensors[name]
		shape, ok := want[name]
		if !ok {
			return fmt.Errorf("tensor %s%s is not a trained weight of the student", prefix, name)
		}
		have := []int64{int64(len(data))}
		if got != nil {
			have = got[name]
		}
		n, _ := tensor.NumElements(shape)
		if len(data) != n || got != nil && !slices.Equal(have, shape) {
			return fmt.Errorf("tensor %s%s has shape %v; the student's weight %s has shape %v", prefix, name, have, name, shape)
		}
		for i, v := range data {
			if x := float64(v); math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("tensor %s%s holds %v at index %d; weights and optimizer state must be finite", prefix, name, v, i)
			}
		}
	}
	return nil
}

// ckptOneLine keeps an error on one line.
func ckptOneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
