package dataset

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/infer-ml/infer/internal/inputfile"
	"github.com/infer-ml/infer/pkg/onnx/onnxpb"
	"github.com/infer-ml/infer/pkg/tensor"
	"google.golang.org/protobuf/proto"
)

// part is one file (or test-data set) of a file-backed dataset.
type part interface {
	where() string
	samples() int
	// rowShapes gives each input's array dimensions after the first.
	rowShapes() map[string][]int64
	// names maps input names to the array names used in messages.
	names() map[string]string
	// labelName is the label array's name, "" without labels.
	labelName() string
	// rowBytes is the stored size of one sample: a row of every input
	// array and of the labels.
	rowBytes() int64
	// open starts reading at row lo.
	open(lo int) (partReader, error)
}

type partReader interface {
	// read returns the next n rows of every input (and the labels), as
	// stored; fewer rows than asked is an error.
	read(n int) (map[string]*tensor.Tensor, *tensor.Tensor, error)
	close() error
}

// chunk is a run of rows from one part.
type chunk struct {
	from      part
	inputs    map[string]*tensor.Tensor
	rawLabels *tensor.Tensor
	labels    []int64
	rows      []int // the part's row number of each sample
}

// fileSource serves batches from parts in order, crossing part boundaries
// when the row shapes allow.
type fileSource struct {
	feed   feed
	opts   Options
	plan   plan
	parts  []part
	starts []int // natural index of each part's first sample
	lo, hi int   // selected natural range
	n      int   // samples per pass
	labels bool

	epoch   int
	order   []int
	next    int
	cur     *cursor
	emitted int
	err     error
}

var errClosed = errors.New("data source is closed")

func newFileSource(parts []part, f feed, opts Options, p plan) (*fileSource, error) {
	s := &fileSource{feed: f, opts: opts, plan: p, parts: parts}
	total := 0
	for i, pt := range parts {
		s.starts = append(s.starts, total)
		total += pt.samples()
		hasLabels := pt.labelName() != ""
		if i == 0 {
			s.labels = hasLabels
		} else if hasLabels != s.labels {
			with, without := parts[0].where(), pt.where()
			if hasLabels {
				with, without = without, with
			}
			return nil, fmt.Errorf("%s has a label array but %s has none", with, without)
		}
		if p.fixed && p.batch > 1 && i > 0 {
			if err := sameRowShapes(parts[0], pt); err != nil {
				return nil, fmt.Errorf("%w; with a fixed batch size of %d every file must have the same shapes", err, p.batch)
			}
		}
	}
	var err error
	s.lo, s.hi, err = selectRange(total, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describeParts(parts), err)
	}
	s.n = p.deliverable(s.hi - s.lo)
	s.start()
	return s, nil
}

func describeParts(parts []part) string {
	if len(parts) == 1 {
		return parts[0].where()
	}
	return fmt.Sprintf("%s and %d more", parts[0].where(), len(parts)-1)
}

func sameRowShapes(a, b part) error {
	as, bs := a.rowShapes(), b.rowShapes()
	for name, sa := range as {
		if !slices.Equal(sa, bs[name]) {
			return fmt.Errorf("input %q has rows of shape %v in %s but %v in %s", name, sa, a.where(), bs[name], b.where())
		}
	}
	return nil
}

// start begins a pass: the parts that hold selected samples, shuffled if
// asked.
func (s *fileSource) start() {
	s.order = s.order[:0]
	for i, pt := range s.parts {
		if s.starts[i] < s.hi && s.starts[i]+pt.samples() > s.lo {
			s.order = append(s.order, i)
		}
	}
	if s.opts.Shuffle {
		r := s.rng(0)
		r.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
	}
	s.next, s.emitted, s.cur, s.err = 0, 0, nil, nil
}

// rng is the shuffling generator for this pass and stream (0 for the
// file order, 1+i for part i's rows).
func (s *fileSource) rng(stream int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(s.epoch)<<32|uint64(stream)))
}

func (s *fileSource) Len() int { return s.n }

func (s *fileSource) Reset() error {
	if s.err == errClosed {
		return errClosed
	}
	s.closeCursor()
	s.epoch++
	s.start()
	return nil
}

func (s *fileSource) Close() error {
	err := s.closeCursor()
	s.err = errClosed
	return err
}

func (s *fileSource) closeCursor() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.r.close()
	s.cur = nil
	return err
}

func (s *fileSource) fail(err error) (*Batch, error) {
	s.closeCursor()
	s.err = err
	return nil, err
}

func (s *fileSource) Next() (*Batch, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.emitted >= s.n {
		return nil, io.EOF
	}
	want := min(s.plan.batch, s.n-s.emitted)
	var chunks []chunk
	var first part
	got := 0
	for got < want {
		if s.cur == nil {
			if err := s.advance(); err != nil {
				return s.fail(err)
			}
		}
		pt := s.cur.p
		if first == nil {
			first = pt
		} else if sameRowShapes(first, pt) != nil {
			break // arrays of different shapes cannot share a batch
		}
		ready, err := s.cur.ready()
		if err != nil {
			return s.fail(err)
		}
		k := min(want-got, ready)
		ch, err := s.cur.take(k)
		if err != nil {
			return s.fail(err)
		}
		ch.from = pt
		if err := prepare(pt.where(), s.feed.specs, pt.names(), pt.labelName(), &ch, s.opts.AllowNonFinite); err != nil {
			return s.fail(err)
		}
		chunks = append(chunks, ch)
		got += k
		if s.cur.remaining() == 0 {
			if err := s.closeCursor(); err != nil {
				return s.fail(fmt.Errorf("%s: %w", pt.where(), err))
			}
		}
	}
	b, err := s.assemble(chunks, got)
	if err != nil {
		return s.fail(err)
	}
	b.Index, b.N = s.emitted, got
	s.emitted += got
	return b, nil
}

func (s *fileSource) assemble(chunks []chunk, n int) (*Batch, error) {
	b := &Batch{Inputs: map[string]*tensor.Tensor{}}
	for i, spec := range s.feed.specs {
		parts := make([]*tensor.Tensor, len(chunks))
		for j, ch := range chunks {
			parts[j] = ch.inputs[spec.Name]
		}
		t := parts[0]
		var err error
		if len(parts) > 1 {
			t, err = tensor.Concat(parts...)
		}
		// Rows are samples first; the model takes them on its batch axis.
		switch a := s.feed.layout.Axis[i]; {
		case err != nil:
		case a < 0:
			t, err = t.Reshape(t.Shape()[1:])
		case a > 0:
			t, err = tensor.MoveFirstAxis(t, a)
		}
		if err != nil {
			return nil, fmt.Errorf("model input %q: %w", spec.Name, err)
		}
		b.Inputs[spec.Name] = t
	}
	if err := s.addValues(b, n); err != nil {
		return nil, err
	}
	if s.labels {
		for _, ch := range chunks {
			b.Labels = append(b.Labels, ch.labels...)
		}
		b.labelRef = labelRefs(chunks)
	}
	return b, nil
}

// labelRefs names where each label of a batch made of chunks was read,
// keeping only names and row numbers, not the chunks' data.
func labelRefs(chunks []chunk) func(i int) string {
	type run struct {
		where, array string
		rows         []int
	}
	runs := make([]run, len(chunks))
	for j, ch := range chunks {
		runs[j] = run{ch.from.where(), ch.from.labelName(), ch.rows}
	}
	return func(i int) string {
		for _, r := range runs {
			if i < len(r.rows) {
				return fmt.Sprintf("%s: label array %q, sample %d", r.where, r.array, r.rows[i])
			}
			i -= len(r.rows)
		}
		return fmt.Sprintf("sample %d past the batch", i)
	}
}

// LabelSource names where the label of the batch's i-th sample was read
// (file, label array and sample number in the file), for messages.
func (b *Batch) LabelSource(i int) string {
	if b.labelRef == nil {
		return fmt.Sprintf("sample %d", b.Index+i)
	}
	return b.labelRef(i)
}

// addValues adds the inputs given a value, sized like the stored inputs
// they share symbolic dimensions with (an attention mask of ones follows
// the token ids' length).
func (s *fileSource) addValues(b *Batch, n int) error {
	if len(s.opts.Values) == 0 {
		return nil
	}
	known := map[string][]int64{}
	for _, spec := range s.feed.specs {
		known[spec.Name] = b.Inputs[spec.Name].Shape()
	}
	for k, v := range s.opts.Shapes {
		if _, ok := known[k]; !ok {
			known[k] = v
		}
	}
	shapes, err := ResolveShapes(s.feed.all, known, n, 0)
	if err != nil {
		return err
	}
	for _, spec := range s.feed.all {
		v, ok := s.opts.Values[spec.Name]
		if !ok {
			continue
		}
		if b.Inputs[spec.Name], err = Constant(spec.DType, shapes[spec.Name], v); err != nil {
			return fmt.Errorf("model input %q: %w", spec.Name, err)
		}
	}
	return nil
}

// advance opens the next part of the pass at its first selected row.
func (s *fileSource) advance() error {
	if s.next >= len(s.order) {
		return fmt.Errorf("%s: fewer samples than the %d counted when opened", describeParts(s.parts), s.n)
	}
	i := s.order[s.next]
	s.next++
	pt := s.parts[i]
	lo := max(s.lo-s.starts[i], 0)
	hi := min(s.hi-s.starts[i], pt.samples())
	r, err := pt.open(lo)
	if err != nil {
		return err
	}
	c := &cursor{p: pt, r: r, lo: lo, hi: hi}
	if s.opts.Shuffle {
		c.shuffle = s.rng(1 + i)
		c.window = hi - lo
		if b := pt.rowBytes(); b > 0 {
			c.window = int(min(int64(c.window), max(shuffleWindow/b, 1)))
		}
	}
	s.cur = c
	return nil
}

// shuffleWindow bounds the bytes of one part held at a time to shuffle
// its rows: a part larger than this (a real one, or a zip bomb of zeros)
// is shuffled in consecutive windows of rows, read one after the other,
// so memory does not grow with the file.
const shuffleWindow = 64 << 20

// cursor reads the selected rows [lo, hi) of one part, in order or, when
// shuffle is set, window by window, each window's rows in a random order.
type cursor struct {
	p      part
	r      partReader
	lo, hi int
	pos    int

	shuffle   *rand.Rand
	window    int // rows per shuffle window
	base      int // first row of the loaded window, counted from lo
	perm      []int
	wpos      int // rows of perm taken
	all       map[string]*tensor.Tensor
	allLabels *tensor.Tensor
}

func (c *cursor) remaining() int { return c.hi - c.lo - c.pos }

// ready returns how many rows take can deliver now: the rest of the
// part, or when shuffling the rest of the window, loading the next
// window when the current one is used up.
func (c *cursor) ready() (int, error) {
	if c.shuffle == nil {
		return c.remaining(), nil
	}
	if c.wpos < len(c.perm) {
		return len(c.perm) - c.wpos, nil
	}
	c.base += len(c.perm)
	n := min(c.window, c.remaining())
	c.all, c.allLabels = nil, nil
	in, labels, err := c.r.read(n)
	if err != nil {
		return 0, err
	}
	c.all, c.allLabels = in, labels
	c.perm, c.wpos = c.shuffle.Perm(n), 0
	return n, nil
}

// take returns the next k rows; k must not exceed what ready returned.
func (c *cursor) take(k int) (chunk, error) {
	ch := chunk{rows: make([]int, k)}
	if c.shuffle == nil {
		in, labels, err := c.r.read(k)
		if err != nil {
			return ch, err
		}
		for i := range ch.rows {
			ch.rows[i] = c.lo + c.pos + i
		}
		ch.inputs, ch.rawLabels = in, labels
		c.pos += k
		return ch, nil
	}
	idx := c.perm[c.wpos : c.wpos+k]
	for i, r := range idx {
		ch.rows[i] = c.lo + c.base + r
	}
	ch.inputs = map[string]*tensor.Tensor{}
	for name, t := range c.all {
		rows, err := t.TakeRows(idx)
		if err != nil {
			return ch, fmt.Errorf("%s: %w", c.p.where(), err)
		}
		ch.inputs[name] = rows
	}
	if c.allLabels != nil {
		rows, err := c.allLabels.TakeRows(idx)
		if err != nil {
			return ch, fmt.Errorf("%s: %w", c.p.where(), err)
		}
		ch.rawLabels = rows
	}
	c.pos += k
	c.wpos += k
	return ch, nil
}

// partsOfDir lists a folder's test-data sets or .npz files.
func partsOfDir(dir string, f feed) ([]part, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, errors.Unwrap(err))
	}
	var sets, npzs []string
	inputPB := false
	for _, e := range entries {
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), "test_data_set_"):
			sets = append(sets, e.Name())
		case !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".npz"):
			npzs = append(npzs, e.Name())
		case !e.IsDir() && inputFile.MatchString(e.Name()):
			inputPB = true
		}
	}
	var parts []part
	switch {
	case len(sets) > 0 && len(npzs) > 0:
		return nil, fmt.Errorf("%s holds both .npz files and test_data_set_* folders; point at one kind", dir)
	case len(sets) > 0:
		sort.Slice(sets, func(i, j int) bool { return naturalLess(sets[i], sets[j]) })
		for _, name := range sets {
			tp, err := inspectTestSet(filepath.Join(dir, name), f)
			if err != nil {
				return nil, err
			}
			parts = append(parts, tp)
		}
	case inputPB:
		tp, err := inspectTestSet(dir, f)
		if err != nil {
			return nil, err
		}
		parts = append(parts, tp)
	case len(npzs) > 0:
		sort.Strings(npzs)
		for _, name := range npzs {
			np, err := inspectNPZ(filepath.Join(dir, name), f)
			if err != nil {
				return nil, err
			}
			parts = append(parts, np)
		}
	default:
		return nil, fmt.Errorf("%s has no .npz files, test_data_set_* folders or input_*.pb files", dir)
	}
	return parts, nil
}

// naturalLess orders test_data_set_2 before test_data_set_10.
func naturalLess(a, b string) bool {
	na, ea := strconv.Atoi(a[strings.LastIndex(a, "_")+1:])
	nb, eb := strconv.Atoi(b[strings.LastIndex(b, "_")+1:])
	if ea == nil && eb == nil && na != nb {
		return na < nb
	}
	if (ea == nil) != (eb == nil) {
		return ea == nil
	}
	return a < b
}

// npzPart is one .npz file; arrays are named after model inputs.
type npzPart struct {
	file   string
	n      int
	label  string
	heads  map[string]tensor.NPYHeader // by input name
	nameOf map[string]string
}

// labelNames are the array names that hold labels, unless a model input
// has that name.
var labelNames = []string{"label", "labels"}

func inspectNPZ(file string, f feed) (*npzPart, error) {
	specs := f.specs
	z, err := tensor.OpenNPZ(file)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	p := &npzPart{file: file, heads: map[string]tensor.NPYHeader{}, nameOf: map[string]string{}}
	infos := make([]arrayInfo, len(specs))
	inputs := map[string]bool{}
	for i, s := range specs {
		inputs[s.Name] = true
		if !z.Has(s.Name) {
			return nil, fmt.Errorf("%s has no array for model input %q (arrays: %s)", file, s.Name, strings.Join(z.Names(), ", "))
		}
		h, err := z.Header(s.Name)
		if err != nil {
			return nil, err
		}
		p.heads[s.Name] = h
		p.nameOf[s.Name] = s.Name
		infos[i] = arrayInfo{name: s.Name, dtype: h.DType, shape: h.Shape}
	}
	var label *arrayInfo
	for _, name := range labelNames {
		if inputs[name] || !z.Has(name) {
			continue
		}
		if label != nil {
			return nil, fmt.Errorf("%s has both %q and %q arrays; keep one label array", file, label.name, name)
		}
		h, err := z.Header(name)
		if err != nil {
			return nil, err
		}
		label = &arrayInfo{name: name, dtype: h.DType, shape: h.Shape}
		p.label = name
		p.heads[""] = h
	}
	if p.n, err = checkArrays(file, f, infos, label); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *npzPart) where() string            { return p.file }
func (p *npzPart) samples() int             { return p.n }
func (p *npzPart) names() map[string]string { return p.nameOf }
func (p *npzPart) labelName() string        { return p.label }
func (p *npzPart) rowBytes() int64 {
	var n int64
	for _, h := range p.heads {
		n += rowSize(h.DType, h.Shape)
	}
	return n
}

// rowSize is the byte size of one row (a slice along the first axis) of
// an array of the given type and shape.
func rowSize(d tensor.DType, shape []int64) int64 {
	n := int64(d.Bits())
	for _, s := range shape[1:] {
		n *= s
	}
	return (n + 7) / 8
}

func (p *npzPart) rowShapes() map[string][]int64 {
	out := map[string][]int64{}
	for name, h := range p.heads {
		if name != "" {
			out[name] = h.Shape[1:]
		}
	}
	return out
}

func (p *npzPart) open(lo int) (partReader, error) {
	z, err := tensor.OpenNPZ(p.file)
	if err != nil {
		return nil, err
	}
	r := &npzReader{z: z, arrays: map[string]*tensor.ArrayReader{}}
	openArray := func(name string, want tensor.NPYHeader) (*tensor.ArrayReader, error) {
		a, err := z.OpenArray(name)
		if err != nil {
			return nil, err
		}
		if !sameHeader(a.Header(), want) {
			err = fmt.Errorf("%s: array %q changed since it was opened", p.file, name)
		} else {
			err = a.SkipRows(lo)
		}
		if err != nil {
			a.Close()
			return nil, err
		}
		return a, nil
	}
	for input := range p.nameOf {
		a, err := openArray(input, p.heads[input])
		if err != nil {
			r.close()
			return nil, err
		}
		r.arrays[input] = a
	}
	if p.label != "" {
		if r.label, err = openArray(p.label, p.heads[""]); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func sameHeader(a, b tensor.NPYHeader) bool {
	return a.DType == b.DType && slices.Equal(a.Shape, b.Shape)
}

type npzReader struct {
	z      *tensor.NPZ
	arrays map[string]*tensor.ArrayReader
	label  *tensor.ArrayReader
}

func (r *npzReader) read(n int) (map[string]*tensor.Tensor, *tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	get := func(a *tensor.ArrayReader) (*tensor.Tensor, error) {
		t, err := a.ReadRows(n)
		if err == io.EOF || (err == nil && t.Shape()[0] != int64(n)) {
			return nil, fmt.Errorf("%s: array ended early", r.z.Path())
		}
		return t, err
	}
	for name, a := range r.arrays {
		t, err := get(a)
		if err != nil {
			return nil, nil, err
		}
		out[name] = t
	}
	var labels *tensor.Tensor
	if r.label != nil {
		var err error
		if labels, err = get(r.label); err != nil {
			return nil, nil, err
		}
	}
	return out, labels, nil
}

func (r *npzReader) close() error {
	for _, a := range r.arrays {
		a.Close()
	}
	if r.label != nil {
		r.label.Close()
	}
	return r.z.Close()
}

// inputFile matches the input files of an ONNX test-data set.
var inputFile = regexp.MustCompile(`^input_(\d+)\.pb$`)

// testPart is one ONNX test-data set folder: input_K.pb feeds the K-th
// model input.
type testPart struct {
	dir    string
	files  []string // by index in specs
	specs  []InputSpec
	axis   []int // batch axis of each, -1 when unbatched
	number []int // model input number of each (its K in input_K.pb)
	n      int
	size   int64 // bytes per sample
	shapes map[string][]int64
	nameOf map[string]string
}

// inspectTestSet reads a test-data set. input_K.pb is the K-th model
// input, whether or not it is fed from the files.
func inspectTestSet(dir string, f feed) (*testPart, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, errors.Unwrap(err))
	}
	p := &testPart{dir: dir, files: make([]string, len(f.specs)), specs: f.specs, axis: f.layout.Axis, shapes: map[string][]int64{}, nameOf: map[string]string{}}
	index := map[string]int{}
	for i, s := range f.specs {
		index[s.Name] = i
	}
	for _, e := range entries {
		m := inputFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		k, err := strconv.Atoi(m[1])
		if err != nil || k >= len(f.all) {
			return nil, fmt.Errorf("%s: %s has no model input to feed (the model has %d inputs: %s)", dir, e.Name(), len(f.all), specNames(f.all))
		}
		if i, fed := index[f.all[k].Name]; fed {
			p.files[i] = filepath.Join(dir, e.Name())
		}
	}
	for k, s := range f.all {
		i, fed := index[s.Name]
		if !fed {
			continue
		}
		if p.files[i] == "" {
			return nil, fmt.Errorf("%s has no input_%d.pb for model input %d %q", dir, k, k, s.Name)
		}
		p.nameOf[s.Name] = filepath.Base(p.files[i])
		p.number = append(p.number, k)
	}
	ts, err := p.load()
	if err != nil {
		return nil, err
	}
	infos := make([]arrayInfo, len(f.specs))
	for k, s := range f.specs {
		infos[k] = arrayInfo{name: p.nameOf[s.Name], dtype: ts[s.Name].DType(), shape: ts[s.Name].Shape()}
		if len(ts[s.Name].Shape()) > 0 {
			p.shapes[s.Name] = ts[s.Name].Shape()[1:]
			p.size += rowSize(ts[s.Name].DType(), ts[s.Name].Shape())
		}
	}
	if p.n, err = checkArrays(dir, f, infos, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// load reads every input of the set, samples first: a test-data tensor
// is shaped as the model input, so its batch axis moves to the front and
// an unbatched input (a scalar too) counts as one sample. A uint16 tensor
// for a bfloat16 input holds bfloat16 bits.
func (p *testPart) load() (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for k, s := range p.specs {
		t, name, err := readTensorFile(p.files[k])
		if err != nil {
			return nil, err
		}
		if name != "" && name != s.Name && slices.ContainsFunc(p.specs, func(o InputSpec) bool { return o.Name == name }) {
			return nil, fmt.Errorf("%s holds tensor %q, but model input %d is %q; input_K.pb must follow the model's input order", p.files[k], name, p.number[k], s.Name)
		}
		if s.DType == tensor.BFloat16Type && t.DType() == tensor.Uint16 {
			// ONNX test data written through NumPy, which has no
			// bfloat16, stores bfloat16 bits as uint16 tensors.
			bits := make([]tensor.BFloat16, t.Len())
			for i, b := range tensor.Values[uint16](t) {
				bits[i] = tensor.BFloat16(b)
			}
			if t, err = tensor.New(t.Shape(), bits); err != nil {
				return nil, fmt.Errorf("%s: %w", p.files[k], err)
			}
		}
		switch a := p.axis[k]; {
		case a < 0:
			t, err = t.Reshape(append([]int64{1}, t.Shape()...))
		case a > 0 && a < len(t.Shape()):
			t, err = tensor.MoveAxisFirst(t, a)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.files[k], err)
		}
		out[s.Name] = t
	}
	return out, nil
}

// readTensorFile reads one serialized TensorProto.
func readTensorFile(path string) (*tensor.Tensor, string, error) {
	b, err := inputfile.ReadFile(path)
	if err != nil {
		if nr := (*inputfile.NotRegularError)(nil); errors.As(err, &nr) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, "", fmt.Errorf("%s: not a serialized TensorProto: %w", path, err)
	}
	t, err := tensor.FromProto(&tp)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return t, tp.GetName(), nil
}

func (p *testPart) where() string                 { return p.dir }
func (p *testPart) samples() int                  { return p.n }
func (p *testPart) names() map[string]string      { return p.nameOf }
func (p *testPart) labelName() string             { return "" }
func (p *testPart) rowShapes() map[string][]int64 { return p.shapes }
func (p *testPart) rowBytes() int64               { return p.size }

func (p *testPart) open(lo int) (partReader, error) {
	ts, err := p.load()
	if err != nil {
		return nil, err
	}
	for name, t := range ts {
		if len(t.Shape()) == 0 || int(t.Shape()[0]) != p.n || !slices.Equal(t.Shape()[1:], p.shapes[name]) {
			return nil, fmt.Errorf("%s: %s changed since it was opened", p.dir, p.nameOf[name])
		}
	}
	return &testReader{ts: ts, pos: lo}, nil
}

type testReader struct {
	ts  map[string]*tensor.Tensor
	pos int
}

func (r *testReader) read(n int) (map[string]*tensor.Tensor, *tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	for name, t := range r.ts {
		rows, err := t.Rows(r.pos, r.pos+n)
		if err != nil {
			return nil, nil, err
		}
		out[name] = rows
	}
	r.pos += n
	return out, nil, nil
}

func (r *testReader) close() error { r.ts = nil; return nil }
