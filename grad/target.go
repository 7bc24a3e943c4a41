package grad

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TargetSpec returns the autodiff.Spec of loss head loss for the target's
// classifier input and output, with its output kind, and the added tensors
// named <prefix>_labels, <prefix>_loss and <prefix>_grad so that they cannot
// clash with the model's own names.
func TargetSpec(t *suite.Target, loss, prefix string) autodiff.Spec {
	kind := autodiff.OutputLogits
	if t.OutputKind == runtime.Probabilities {
		kind = autodiff.OutputProbabilities
	}
	return autodiff.Spec{
		Input: t.Session.Input().Name, Output: t.Session.Output().Name, OutputKind: kind, Loss: loss,
		LabelsName: prefix + "_labels", LossName: prefix + "_loss", GradName: prefix + "_grad",
	}
}

// OpenTargetGraph builds the gradient graph of src (the target's model, or
// a copy with extra nodes) for spec and opens it on the target's ONNX
// Runtime environment, device and threads, with the given inputs and
// outputs. name appears in errors. A graph that builds only for a known
// batch size (its shape arithmetic reads the batch size) is specialised on
// each batch size in use (runtime.OpenGraphPerBatch; Graph.PerBatch says so).
func OpenTargetGraph(t *suite.Target, name string, src *onnx.Model, spec autodiff.Spec,
	ins func(autodiff.Names) []runtime.GraphTensor, outs func(autodiff.Names) []runtime.GraphTensor) (*runtime.Graph, error) {
	m, nm, err := autodiff.BuildNamed(src, spec)
	if err != nil {
		// Shape arithmetic that reads a dynamic batch size cannot fold:
		// specialise the graph on each batch size in use instead.
		if t.Session.FixedBatch() > 0 {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		build := func(n int) ([]byte, error) {
			m, _, err := autodiff.BuildForBatch(src, spec, n)
			if err != nil {
				return nil, err
			}
			return m.Marshal()
		}
		_, nm2, err2 := autodiff.BuildForBatch(src, spec, max(1, t.BatchSize))
		if err2 != nil {
			return nil, fmt.Errorf("%s: %w", name, err) // the dynamic build's reason
		}
		return runtime.OpenGraphPerBatch(t.Env, name+" of "+t.Session.Info().Path+" (specialised per batch size)",
			max(1, t.BatchSize), build, ins(nm2), outs(nm2), t.SessionOptions)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return runtime.OpenGraph(t.Env, name+" of "+t.Session.Info().Path, b, ins(nm), outs(nm), t.SessionOptions)
}
