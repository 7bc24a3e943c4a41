package runtime

import (
	"context"
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// GraphTensor names one input or output of a Graph: its element type
// ("float32" or "int64") and its shape without the leading batch axis.
type GraphTensor struct {
	Name   string
	Type   string
	Sample []int64
}

// size returns the number of values per sample.
func (g GraphTensor) size() int {
	n := 1
	for _, d := range g.Sample {
		n *= int(d)
	}
	return n
}

// Graph is an in-memory model with several batch-major inputs and outputs
// (a gradient graph, an attack step), loaded in one ONNX Runtime session on
// the same device and threads as the classifier. Every input and output has
// a dynamic batch axis first. Several GraphRunners may use one Graph
// concurrently.
type Graph struct {
	name     string
	sess     *ort.DynamicAdvancedSession
	ins      []GraphTensor
	outs     []GraphTensor
	resolved cuda.Resolved

	// perBatch builds the model for one batch size (OpenGraphPerBatch):
	// sessions holds the session of each size opened so far.
	perBatch func(n int) ([]byte, error)
	settings SessionSettings
	mu       sync.Mutex
	sessions map[int]*ort.DynamicAdvancedSession
	closed   bool
}

func checkGraphTensors(name string, ins, outs []GraphTensor) error {
	for _, t := range append(append([]GraphTensor(nil), ins...), outs...) {
		if t.Type != "float32" && t.Type != "int64" {
			return errs.Invalidf("open graph %s: tensor %q has type %q; want float32 or int64", name, t.Name, t.Type)
		}
	}
	return nil
}

// open creates a session of model with g's tensors and settings.
func (g *Graph) open(model []byte) (*ort.DynamicAdvancedSession, error) {
	so, resolved, err := NewSessionOptions("open graph "+g.name, g.settings)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	g.resolved = resolved
	inNames := make([]string, len(g.ins))
	for i, t := range g.ins {
		inNames[i] = t.Name
	}
	outNames := make([]string, len(g.outs))
	for i, t := range g.outs {
		outNames[i] = t.Name
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	if err != nil {
		return nil, fmt.Errorf("open graph %s: onnx runtime cannot create a session: %w", g.name, err)
	}
	return sess, nil
}

// OpenGraphPerBatch is OpenGraph for a model that must be specialised on
// its batch size (a gradient graph whose shape arithmetic reads the batch
// size): build returns the model for n samples, and each batch size gets
// its own session, built and opened on its first run and kept until Close.
// The first batch size is opened here (first), so that a model ONNX
// Runtime refuses fails at once.
func OpenGraphPerBatch(env *Environment, name string, first int, build func(n int) ([]byte, error), ins, outs []GraphTensor, opt Options) (*Graph, error) {
	if env == nil || !ort.IsInitialized() {
		return nil, fmt.Errorf("open graph %s: onnx runtime is not initialised (call runtime.Init first)", name)
	}
	if err := checkGraphTensors(name, ins, outs); err != nil {
		return nil, err
	}
	g := &Graph{name: name, ins: ins, outs: outs, perBatch: build, sessions: map[int]*ort.DynamicAdvancedSession{},
		settings: SessionSettings{IntraOpThreads: opt.IntraOpThreads, Device: opt.Device, Optimization: opt.Optimization, ModelDir: opt.ModelDir}}
	if _, err := g.session(first); err != nil {
		return nil, err
	}
	return g, nil
}

// PerBatch reports whether the graph is specialised on each batch size.
func (g *Graph) PerBatch() bool { return g.perBatch != nil }

// session returns the session that runs n samples.
func (g *Graph) session(n int) (*ort.DynamicAdvancedSession, error) {
	if g.perBatch == nil {
		return g.sess, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, fmt.Errorf("graph %s: session is closed", g.name)
	}
	if s := g.sessions[n]; s != nil {
		return s, nil
	}
	model, err := g.perBatch(n)
	if err != nil {
		return nil, fmt.Errorf("graph %s for %d samples: %w", g.name, n, err)
	}
	s, err := g.open(model)
	if err != nil {
		return nil, err
	}
	g.sessions[n] = s
	return s, nil
}

// OpenGraph loads the serialised model under the given name (used in
// messages) with opt's device and threads. ins and outs list the tensors
// fed and read, in order; only float32 and int64 tensors are supported.
func OpenGraph(env *Environment, name string, model []byte, ins, outs []GraphTensor, opt Options) (*Graph, error) {
	if env == nil || !ort.IsInitialized() {
		return nil, fmt.Errorf("open graph %s: onnx runtime is not initialised (call runtime.Init first)", name)
	}
	if err := checkGraphTensors(name, ins, outs); err != nil {
		return nil, err
	}
	g := &Graph{name: name, ins: ins, outs: outs, settings: SessionSettings{IntraOpThreads: opt.IntraOpThreads, Device: opt.Device, Optimization: opt.Optimization, ModelDir: opt.ModelDir}}
	var err error
	if g.sess, err = g.open(model); err != nil {
		return nil, err
	}
	return g, nil
}

// Close releases the sessions. Runners must be closed first.
func (g *Graph) Close() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	if g.sess != nil {
		err = g.sess.Destroy()
		g.sess = nil
	}
	for n, s := range g.sessions {
		if e := s.Destroy(); e != nil && err == nil {
			err = e
		}
		delete(g.sessions, n)
	}
	g.closed = true
	return err
}

// GraphRunner runs a Graph on batches of up to a fixed number of samples
// with preallocated tensors: write inputs into F32In/I64In, call Run, read
// Out. Runs of the same n allocate nothing after the first. A GraphRunner
// is not safe for concurrent use.
type GraphRunner struct {
	g    *Graph
	max  int
	in32 [][]float32 // per input: backing store (nil unless float32)
	in64 [][]int64   // per input: backing store (nil unless int64)
	out  [][]float32 // per output: backing store (float32 outputs)
	o64  [][]int64   // per output: backing store (int64 outputs)

	byN     [][]ort.Value // byN[n]: inputs then outputs over the first n rows
	inputs  []ort.Value
	outputs []ort.Value
	runControl
}

// NewRunner allocates a GraphRunner for batches of up to batch samples.
func (g *Graph) NewRunner(batch int) (*GraphRunner, error) {
	if batch < 1 {
		return nil, fmt.Errorf("graph %s: runner batch %d must be positive", g.name, batch)
	}
	if g.closed || (g.sess == nil && g.perBatch == nil) {
		return nil, fmt.Errorf("graph %s: session is closed", g.name)
	}
	r := &GraphRunner{g: g, max: batch, byN: make([][]ort.Value, batch+1),
		in32: make([][]float32, len(g.ins)), in64: make([][]int64, len(g.ins)),
		out: make([][]float32, len(g.outs)), o64: make([][]int64, len(g.outs)),
		inputs: make([]ort.Value, len(g.ins)), outputs: make([]ort.Value, len(g.outs))}
	for i, t := range g.ins {
		if t.Type == "int64" {
			r.in64[i] = make([]int64, batch*t.size())
		} else {
			r.in32[i] = make([]float32, batch*t.size())
		}
	}
	for i, t := range g.outs {
		if t.Type == "int64" {
			r.o64[i] = make([]int64, batch*t.size())
		} else {
			r.out[i] = make([]float32, batch*t.size())
		}
	}
	if err := r.runControl.init(); err != nil {
		return nil, fmt.Errorf("graph %s: run options: %w", g.name, err)
	}
	return r, nil
}

// Batch returns the largest n Run accepts.
func (r *GraphRunner) Batch() int { return r.max }

// F32In returns the backing store of float32 input i (batch×sample values).
func (r *GraphRunner) F32In(i int) []float32 { return r.in32[i] }

// I64In returns the backing store of int64 input i.
func (r *GraphRunner) I64In(i int) []int64 { return r.in64[i] }

// Out returns the backing store of float32 output i; after Run(n) its
// first n×sample values hold the result.
func (r *GraphRunner) Out(i int) []float32 { return r.out[i] }

// I64Out returns the backing store of int64 output i.
func (r *GraphRunner) I64Out(i int) []int64 { return r.o64[i] }

// values returns the tensors over the first n rows, creating them once.
func (r *GraphRunner) values(n int) ([]ort.Value, error) {
	if v := r.byN[n]; v != nil {
		return v, nil
	}
	var vals []ort.Value
	fail := func(err error) ([]ort.Value, error) {
		for _, v := range vals {
			v.Destroy()
		}
		return nil, err
	}
	add := func(t GraphTensor, f []float32, i64 []int64) error {
		shape := append(ort.Shape{int64(n)}, t.Sample...)
		k := n * t.size()
		var v ort.Value
		var err error
		if f != nil {
			v, err = ort.NewTensor(shape, f[:k])
		} else {
			v, err = ort.NewTensor(shape, i64[:k])
		}
		if err != nil {
			return fmt.Errorf("graph %s: tensor %q %v: %w", r.g.name, t.Name, shape, err)
		}
		vals = append(vals, v)
		return nil
	}
	for i, t := range r.g.ins {
		if err := add(t, r.in32[i], r.in64[i]); err != nil {
			return fail(err)
		}
	}
	for i, t := range r.g.outs {
		if err := add(t, r.out[i], r.o64[i]); err != nil {
			return fail(err)
		}
	}
	r.byN[n] = vals
	return vals, nil
}

// Run runs the graph on the first n rows of every input. When ctx is
// cancelled during the run, ONNX Runtime is told to stop and Run returns
// ctx.Err().
func (r *GraphRunner) Run(ctx context.Context, n int) error {
	if n < 1 || n > r.max {
		return fmt.Errorf("graph %s: run on %d samples, want 1..%d", r.g.name, n, r.max)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	vals, err := r.values(n)
	if err != nil {
		return err
	}
	ni := len(r.g.ins)
	copy(r.inputs, vals[:ni])
	copy(r.outputs, vals[ni:])
	sess, err := r.g.session(n)
	if err != nil {
		return err
	}
	err = r.runControl.run(ctx, sess, r.inputs, r.outputs)
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("graph %s: run on %d samples: %w", r.g.name, n, err)
	}
	return nil
}

// Close releases the runner's tensors and run options.
func (r *GraphRunner) Close() error {
	r.runControl.close()
	for n, vals := range r.byN {
		for _, v := range vals {
			v.Destroy()
		}
		r.byN[n] = nil
	}
	return nil
}
