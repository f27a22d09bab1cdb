package ort

import (
	"fmt"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/infer-ml/infer/pkg/tensor"
)

// Prepared holds the input and output buffers of one set of inputs, so a
// caller can run the model repeatedly and time nothing but ONNX Runtime's
// Run: no conversion, validation or allocation happens in Prepared.Run.
// One Prepared must not be run from two goroutines at once; several
// Prepared of one Session may.
type Prepared struct {
	s    *Session
	ins  []ortgo.Value
	outs []ortgo.Value
	// auto marks outputs ONNX Runtime allocates on each run (string
	// tensors, whose memory Go cannot provide).
	auto []bool
	// FirstRun is how long Prepare's own run took (the session's first run
	// on these inputs, output allocation included).
	FirstRun time.Duration
}

// Prepare converts inputs once and runs the model once to learn the output
// shapes; the outputs of that run become the buffers later runs write into.
func (s *Session) Prepare(inputs map[string]*tensor.Tensor) (*Prepared, error) {
	s, err := s.sessionFor(inputs)
	if err != nil {
		return nil, err
	}
	ins, err := s.inputValues(inputs)
	if err != nil {
		destroyAll(ins)
		return nil, err
	}
	p := &Prepared{s: s, ins: ins, outs: make([]ortgo.Value, len(s.outNames)), auto: make([]bool, len(s.outNames))}
	start := time.Now()
	err = s.sess.Run(p.ins, p.outs)
	p.FirstRun = time.Since(start)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("onnxruntime: %s", oneLine(err.Error()))
	}
	for i, v := range p.outs {
		if _, ok := v.(*ortgo.StringTensor); ok {
			v.Destroy()
			p.outs[i], p.auto[i] = nil, true
		}
	}
	return p, nil
}

// Run runs the model on the prepared buffers.
func (p *Prepared) Run() error {
	err := p.s.sess.Run(p.ins, p.outs)
	for i, a := range p.auto {
		if a && p.outs[i] != nil {
			p.outs[i].Destroy()
			p.outs[i] = nil
		}
	}
	if err != nil {
		return fmt.Errorf("onnxruntime: %s", oneLine(err.Error()))
	}
	return nil
}

// Outputs returns the last run's outputs by name (copies).
func (p *Prepared) Outputs() (map[string]*tensor.Tensor, error) {
	res := map[string]*tensor.Tensor{}
	for i, v := range p.outs {
		if v == nil {
			continue
		}
		t, err := fromValue(v)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", p.s.outputs[i].Name, err)
		}
		t = t.Clone()
		if t, err = p.s.adapters[i].undo(t); err != nil {
			return nil, fmt.Errorf("output %q: %w", p.s.outputs[i].Name, err)
		}
		res[p.s.outputs[i].Name] = t
	}
	return res, nil
}

// Close releases the buffers.
func (p *Prepared) Close() {
	destroyAll(p.ins)
	destroyAll(p.outs)
	p.ins, p.outs = nil, nil
}
