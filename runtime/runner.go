package runtime

import (
	"context"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// Runner runs batches on a Session with its own preallocated tensors; one
// per worker. A Runner is not safe for concurrent use; several Runners on
// one Session are.
type Runner struct {
	s    *Session
	max  int // largest n accepted by Run
	rows int // rows of the full tensors: the fixed batch, or max

	in32 []float32 // input backing store (float32 models)
	in64 []float64 // input backing store (float64 models)
	out  []float32 // output backing store, rows*classes
	res  []float32 // results of chunked runs (fixed batch < max), max*classes

	fullIn, fullOut ort.Value
	tails           map[int][2]ort.Value // dynamic batch, n < max: tensors of n rows

	inputs, outputs []ort.Value // reused argument slices
	runControl

	fullShape ort.Shape // [rows, sample shape...]
	views     []view    // input tensors over callers' full batches
	viewCap   int
	tick      uint64
}

// NewRunner allocates a Runner for batches of up to batch samples. On a
// model with a fixed batch size F the tensors hold F rows and Run works in
// chunks of F, padding the last one with zeros.
func (s *Session) NewRunner(batch int) (*Runner, error) {
	if batch < 1 {
		return nil, fmt.Errorf("new runner for %s: batch %d must be positive", s.info.Path, batch)
	}
	if s.sess == nil {
		return nil, fmt.Errorf("new runner for %s: session is closed", s.info.Path)
	}
	r := &Runner{s: s, max: batch, rows: batch, inputs: make([]ort.Value, 1), outputs: make([]ort.Value, 1)}
	if s.fixedBatch > 0 {
		r.rows = s.fixedBatch
		if batch > s.fixedBatch {
			r.res = make([]float32, batch*s.classes)
		}
	}
	if s.inputType == ort.TensorElementDataTypeDouble {
		r.in64 = make([]float64, r.rows*s.sampleSize)
	} else {
		r.in32 = make([]float32, r.rows*s.sampleSize)
	}
	r.out = make([]float32, r.rows*s.classes)
	r.fullShape = append(ort.Shape{int64(r.rows)}, s.sampleShape...)
	r.viewCap = min(maxViews, max(1, maxViewBytes/(4*r.rows*s.sampleSize)))
	r.views = make([]view, 0, r.viewCap)
	var err error
	if r.fullIn, r.fullOut, err = r.tensors(r.rows); err != nil {
		return nil, fmt.Errorf("new runner for %s: %w", s.info.Path, err)
	}
	if err = r.runControl.init(); err != nil {
		r.Close()
		return nil, fmt.Errorf("new runner for %s: run options: %w", s.info.Path, err)
	}
	return r, nil
}

// tensors creates input and output tensors of n rows over the first rows of
// the Runner's backing stores.
func (r *Runner) tensors(n int) (in, out ort.Value, err error) {
	s := r.s
	shape := append(ort.Shape{int64(n)}, s.sampleShape...)
	if r.in64 != nil {
		in, err = ort.NewTensor(shape, r.in64[:n*s.sampleSize])
	} else {
		in, err = ort.NewTensor(shape, r.in32[:n*s.sampleSize])
	}
	if err != nil {
		return nil, nil, fmt.Errorf("input tensor %v: %w", shape, err)
	}
	out, err = ort.NewTensor(ort.Shape{int64(n), int64(s.classes)}, r.out[:n*s.classes])
	if err != nil {
		in.Destroy()
		return nil, nil, fmt.Errorf("output tensor [%d %d]: %w", n, s.classes, err)
	}
	return in, out, nil
}

// Input returns the Runner's own input buffer for float32 models (nil for
// float64 ones), room for min(Batch, fixed batch) samples. A caller that
// writes samples into it and passes it as x to Run saves the copy Run
// otherwise makes. It is overwritten by every Run.
func (r *Runner) Input() []float32 {
	if r.in32 == nil {
		return nil
	}
	return r.in32[:min(r.max, r.rows)*r.s.sampleSize]
}

// maxViewBytes bounds the caller memory a Runner keeps reachable through
// its cached input views: at most max(1, maxViewBytes / batch bytes) views,
// and never more than maxViews; the least recently used is dropped first.
const (
	maxViewBytes = 64 << 20
	maxViews     = 64
)

// view is a cached input tensor over a caller's full batch.
type view struct {
	p    *float32
	t    ort.Value
	used uint64
}

// view returns an input tensor over x, a full batch, from the cache or new.
func (r *Runner) view(x []float32) (ort.Value, error) {
	p := &x[0]
	r.tick++
	for i := range r.views {
		if r.views[i].p == p {
			r.views[i].used = r.tick
			return r.views[i].t, nil
		}
	}
	t, err := ort.NewTensor(r.fullShape, x)
	if err != nil {
		return nil, fmt.Errorf("input view %v: %w", r.fullShape, err)
	}
	v := view{p: p, t: t, used: r.tick}
	if len(r.views) < r.viewCap {
		r.views = append(r.views, v)
		return t, nil
	}
	old := 0
	for i := range r.views {
		if r.views[i].used < r.views[old].used {
			old = i
		}
	}
	r.views[old].t.Destroy()
	r.views[old] = v
	return t, nil
}

// Batch returns the largest number of samples Run accepts.
func (r *Runner) Batch() int { return r.max }

// Run runs n samples (x holds n*sampleSize values) and returns n*classes
// outputs, valid until the next call to Run. When ctx is cancelled during
// the run, ONNX Runtime is told to stop and Run returns ctx.Err().
//
// A full batch (n equal to the tensors' rows) of a float32 model is not
// copied: Run hands ONNX Runtime a tensor over x itself and keeps it for
// the next Run on the same x (see maxViewBytes), so passes over a dataset in
// fixed batches copy nothing and allocate nothing after the first. Other
// calls copy x into the Runner's buffers, padding with zeros as needed.
func (r *Runner) Run(ctx context.Context, x []float32, n int) ([]float32, error) {
	s := r.s
	if n < 0 || n > r.max {
		return nil, fmt.Errorf("run %s: %d samples, want 0..%d (the runner's batch)", s.info.Path, n, r.max)
	}
	if len(x) < n*s.sampleSize {
		return nil, fmt.Errorf("run %s: x has %d values, want %d (%d samples of %v)", s.info.Path, len(x), n*s.sampleSize, n, s.sampleShape)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.classes
	if n == r.rows && r.in32 != nil && &x[0] != &r.in32[0] {
		// A full batch of float32 samples: run on a tensor over x itself.
		in, err := r.view(x[:n*s.sampleSize])
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", s.info.Path, err)
		}
		if err := r.run(ctx, in, r.fullOut, n); err != nil {
			return nil, err
		}
		return r.out[:n*c], nil
	}
	if s.fixedBatch > 0 {
		if n <= r.rows {
			r.load(x, n)
			if err := r.run(ctx, r.fullIn, r.fullOut, n); err != nil {
				return nil, err
			}
			return r.out[:n*c], nil
		}
		for off := 0; off < n; off += r.rows {
			m := min(r.rows, n-off)
			r.load(x[off*s.sampleSize:], m)
			if err := r.run(ctx, r.fullIn, r.fullOut, m); err != nil {
				return nil, err
			}
			copy(r.res[off*c:], r.out[:m*c])
		}
		return r.res[:n*c], nil
	}
	if n == 0 {
		return r.out[:0], nil
	}
	in, out := r.fullIn, r.fullOut
	if n < r.rows {
		tv, ok := r.tails[n]
		if !ok {
			ti, to, err := r.tensors(n)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", s.info.Path, err)
			}
			if r.tails == nil {
				r.tails = map[int][2]ort.Value{}
			}
			tv = [2]ort.Value{ti, to}
			r.tails[n] = tv
		}
		in, out = tv[0], tv[1]
	}
	r.load(x, n)
	if err := r.run(ctx, in, out, n); err != nil {
		return nil, err
	}
	return r.out[:n*c], nil
}

// load copies n samples of x into the input store (converting for float64
// models; nothing when x is the store itself, see Input) and zeroes the
// rest of the full-batch rows.
func (r *Runner) load(x []float32, n int) {
	k := n * r.s.sampleSize
	if r.in64 != nil {
		for i, v := range x[:k] {
			r.in64[i] = float64(v)
		}
		clear(r.in64[k:])
		return
	}
	if k > 0 && &x[0] != &r.in32[0] {
		copy(r.in32, x[:k])
	}
	clear(r.in32[k:])
}

// run runs the session once; ctx's cancellation stops it (runControl).
func (r *Runner) run(ctx context.Context, in, out ort.Value, n int) error {
	r.inputs[0], r.outputs[0] = in, out
	err := r.runControl.run(ctx, r.s.sess, r.inputs, r.outputs)
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("run %s on %d samples: %w", r.s.info.Path, n, err)
	}
	return nil
}

func (r *Runner) dropTail() {
	for _, tv := range r.tails {
		tv[0].Destroy()
		tv[1].Destroy()
	}
	r.tails = nil
}

// Close releases the Runner's tensors and run options.
func (r *Runner) Close() error {
	r.runControl.close()
	for _, v := range r.views {
		v.t.Destroy()
	}
	r.views = nil
	r.dropTail()
	if r.fullIn != nil {
		r.fullIn.Destroy()
		r.fullOut.Destroy()
		r.fullIn, r.fullOut = nil, nil
	}
	return nil
}
