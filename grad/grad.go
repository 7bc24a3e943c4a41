package grad

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// DefaultBatch is the batch size Compute uses when Options.Batch is 0.
const DefaultBatch = 64

// Options configure Compute.
type Options struct {
	// Spec selects input, output, output kind and loss head (see autodiff).
	Spec autodiff.Spec
	// Batch is the number of samples per ORT call (0: DefaultBatch). A
	// model with a fixed batch dimension uses that instead.
	Batch int
	// IntraOpThreads is ORT's intra-op thread count (0: ORT's default).
	IntraOpThreads int
	// LibraryPath is the ONNX Runtime library ("": ortexec.FindLibrary).
	// The environment is initialised once per process.
	LibraryPath string
	// Progress, when set, is called after each batch with the samples done.
	Progress func(done, total int)
	// Device is the execution provider to run the gradient graph on (the
	// zero value: CPU); see ortexec.Options.Device.
	Device cuda.Device
}

// Result holds per-sample gradients and losses.
type Result struct {
	// Grad holds N gradients, sample-major, each with the input's sample
	// shape, as float32 (float64 models are rounded).
	Grad []float32
	// Loss holds the N per-sample losses of the head.
	Loss []float32
	// Shape is [N, sample shape...].
	Shape []int
	// Names are the tensors of the gradient graph that was run.
	Names autodiff.Names
	// Provider is the execution provider the graph ran on.
	Provider cuda.Resolved
}

// Compute builds m's gradient graph for opt.Spec and returns the gradient
// of every sample's own loss with respect to its input. d must fit the
// model input (see data.Dataset.FitInput); heads that read labels need d.Y.
// Errors about the model, the data or the spec carry exit code 2.
func Compute(ctx context.Context, m *onnx.Model, d *data.Dataset, opt Options) (*Result, error) {
	gm, nm, err := autodiff.BuildNamed(m, opt.Spec)
	if err != nil {
		return nil, err
	}
	if err := d.FitInput(nm.Input, nm.Shape); err != nil {
		return nil, err
	}
	if d.N == 0 {
		return nil, errs.Invalidf("no samples to differentiate")
	}
	classes := 0
	if nm.Labels != "" {
		if d.Y == nil {
			return nil, errs.Invalidf("loss %q needs labels: give y (a .npy of N integer labels)", orCE(opt.Spec.Loss))
		}
		if len(d.Y) != d.N {
			return nil, errs.Invalidf("labels: %d labels for %d samples", len(d.Y), d.N)
		}
		classes = numClasses(m, nm.Output)
	}
	if err := d.Validate(classes); err != nil {
		return nil, err
	}
	if err := ortexec.Init(opt.LibraryPath); err != nil {
		return nil, err
	}
	ins := []string{nm.Input}
	if nm.Labels != "" {
		ins = append(ins, nm.Labels)
	}
	s, err := ortexec.NewSession(gm.Bytes, ins, []string{nm.Loss, nm.Grad}, ortexec.Options{IntraOpThreads: opt.IntraOpThreads, Device: opt.Device})
	if err != nil {
		return nil, fmt.Errorf("gradient graph of %s: %w", modelName(m), err)
	}
	defer s.Close()

	per := d.SampleSize()
	batch := opt.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	fixed := len(nm.Shape) > 0 && nm.Shape[0] > 0
	if fixed {
		batch = int(nm.Shape[0])
	}
	res := &Result{Grad: make([]float32, d.N*per), Loss: make([]float32, d.N), Names: nm, Provider: s.Provider()}
	res.Shape = append([]int{d.N}, d.SampleShape...)
	sampleShape := make([]int64, len(d.SampleShape))
	for i, v := range d.SampleShape {
		sampleShape[i] = int64(v)
	}
	// Buffers for padded (fixed-batch) or float64 batches, allocated once.
	var xpad []float32
	var x64 []float64
	var ypad []int64
	for start := 0; start < d.N; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, errs.WithCode(errs.Interrupted, err)
		}
		n := min(batch, d.N-start)
		rows := n
		xs := d.X[start*per : (start+n)*per]
		var ys []int64
		if nm.Labels != "" {
			ys = d.Y[start : start+n]
		}
		if fixed && n < batch {
			// pad the last batch with copies of zeros / label 0
			if xpad == nil {
				xpad, ypad = make([]float32, batch*per), make([]int64, batch)
			}
			clear(xpad)
			clear(ypad)
			copy(xpad, xs)
			xs, rows = xpad, batch
			if ys != nil {
				copy(ypad, ys)
				ys = ypad
			}
		}
		in := []ortexec.Tensor{{Shape: append([]int64{int64(rows)}, sampleShape...)}}
		if nm.Elem == onnx.Float64 {
			if x64 == nil {
				x64 = make([]float64, batch*per)
			}
			for i, v := range xs {
				x64[i] = float64(v)
			}
			in[0].F64 = x64[:len(xs)]
		} else if nm.Elem == onnx.Float32 {
			in[0].F32 = xs
		} else {
			return nil, errs.Invalidf("input %q: element type %s is not supported by grad (float32 or float64)", nm.Input, onnx.ElemName(nm.Elem))
		}
		if ys != nil {
			in = append(in, ortexec.Tensor{Shape: []int64{int64(rows)}, I64: ys})
		}
		out, err := s.Run(in)
		if err != nil {
			return nil, fmt.Errorf("samples %d..%d: %w", start, start+n-1, err)
		}
		if err := copyOut(res.Loss[start:start+n], out[0]); err != nil {
			return nil, fmt.Errorf("samples %d..%d: loss: %w", start, start+n-1, err)
		}
		if err := copyOut(res.Grad[start*per:(start+n)*per], out[1]); err != nil {
			return nil, fmt.Errorf("samples %d..%d: gradient: %w", start, start+n-1, err)
		}
		if opt.Progress != nil {
			opt.Progress(start+n, d.N)
		}
	}
	return res, nil
}

// copyOut copies the first len(dst) values of t into dst as float32.
func copyOut(dst []float32, t ortexec.Tensor) error {
	switch {
	case t.F32 != nil && len(t.F32) >= len(dst):
		copy(dst, t.F32)
	case t.F64 != nil && len(t.F64) >= len(dst):
		for i := range dst {
			dst[i] = float32(t.F64[i])
		}
	default:
		return fmt.Errorf("output of shape %v does not hold %d values", t.Shape, len(dst))
	}
	return nil
}

// numClasses returns the static class count of output (the logits, or the
// probabilities), or 0 when unknown.
func numClasses(m *onnx.Model, output string) int {
	s := m.Infer().Types[output].Shape
	if len(s) == 2 && s[1] > 0 {
		return int(s[1])
	}
	return 0
}

func orCE(loss string) string {
	if loss == "" {
		return autodiff.LossCE
	}
	return loss
}

func modelName(m *onnx.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "the model"
}
