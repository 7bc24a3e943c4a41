package poisoning

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// DefaultLayer returns the activation tensor the data detectors read when
// no layer is configured: the data input of the last Gemm or MatMul node
// (the penultimate representation of a classifier whose head is a linear
// layer). The error (exit code 2) says when the model has no such node.
func DefaultLayer(m *onnx.Model) (string, error) {
	nodes := m.Proto.GetGraph().GetNode()
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if (n.GetOpType() == "Gemm" || n.GetOpType() == "MatMul") && len(n.GetInput()) > 0 {
			a, b := n.GetInput()[0], ""
			if len(n.GetInput()) > 1 {
				b = n.GetInput()[1]
			}
			// The data operand is the one that is not a weight initializer.
			if m.Initializer(a) != nil && b != "" && m.Initializer(b) == nil {
				a = b
			}
			return a, nil
		}
	}
	return "", errs.Invalidf("model has no Gemm or MatMul node: set suites.poisoning.data.layer to a tensor name")
}

// layerShape returns the per-sample shape and size of tensor name, which
// must be a float32 tensor with a leading batch axis and known other
// dimensions.
func layerShape(m *onnx.Model, name, key string) ([]int64, int, error) {
	inf := m.Infer()
	vt, ok := inf.Types[name]
	if !ok {
		return nil, 0, errs.Invalidf("config suites.poisoning.data.%s: the model has no tensor %q", key, name)
	}
	if vt.Elem != onnx.Float32 {
		return nil, 0, errs.Invalidf("config suites.poisoning.data.%s: tensor %q has element type %s; want float32", key, name, onnx.ElemName(vt.Elem))
	}
	if len(vt.Shape) < 2 {
		return nil, 0, errs.Invalidf("config suites.poisoning.data.%s: tensor %q has shape %v; want a batch axis and at least one more", key, name, vt.Shape)
	}
	size := 1
	for _, d := range vt.Shape[1:] {
		if d <= 0 {
			return nil, 0, errs.Invalidf("config suites.poisoning.data.%s: tensor %q has shape %v with a dynamic per-sample dimension", key, name, vt.Shape)
		}
		size *= int(d)
	}
	return vt.Shape[1:], size, nil
}

// Activations runs the model on d and returns the values of tensor layer
// for every sample (n×size, sample-major) and size. The tensor is exposed
// as an extra output by graph surgery on a copy of t.Model and run on t's
// device, one runner per worker, batches in any order (each writes its own
// rows).
func Activations(ctx context.Context, t *suite.Target, d *data.Dataset, layer string) ([]float32, int, error) {
	in := t.Session.Input()
	if layer == in.Name {
		return d.X, d.SampleSize(), nil
	}
	m := t.Model.Clone()
	sample, size, err := layerShape(m, layer, "layer")
	if err != nil {
		return nil, 0, err
	}
	if err := m.ExposeTensor(layer); err != nil {
		return nil, 0, fmt.Errorf("config suites.poisoning.data.layer: %w", err)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, 0, fmt.Errorf("activation graph: %w", err)
	}
	ins := []runtime.GraphTensor{{Name: in.Name, Type: "float32", Sample: t.Session.SampleShape()}}
	outs := []runtime.GraphTensor{{Name: layer, Type: "float32", Sample: sample}}
	g, err := runtime.OpenGraph(t.Env, "activations "+layer, b, ins, outs, t.SessionOptions)
	if err != nil {
		return nil, 0, err
	}
	defer g.Close()
	nb := t.Batches(d.N)
	workers := max(1, min(t.Pool.Workers, nb))
	runners := make([]*runtime.GraphRunner, workers)
	defer func() {
		for _, r := range runners {
			if r != nil {
				r.Close()
			}
		}
	}()
	for w := range runners {
		if runners[w], err = g.NewRunner(t.BatchSize); err != nil {
			return nil, 0, err
		}
	}
	acts := make([]float32, d.N*size)
	ss := d.SampleSize()
	pool := t.Pool
	pool.Workers = workers
	err = pool.Run(ctx, nb, func(ctx context.Context, w, b int) error {
		lo, hi := t.BatchRange(b, d.N)
		r := runners[w]
		copy(r.F32In(0), d.X[lo*ss:hi*ss])
		if err := r.Run(ctx, hi-lo); err != nil {
			return fmt.Errorf("activations, batch %d (samples %d..%d): %w", b, lo, hi-1, err)
		}
		copy(acts[lo*size:hi*size], r.Out(0)[:(hi-lo)*size])
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return acts, size, nil
}
