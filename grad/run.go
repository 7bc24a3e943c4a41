package grad

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// Args are the arguments of `gauntlet grad -m MODEL --x X.npy [--y Y.npy]
// [--loss ce|targeted_ce|cw|dlr|logit:K] --out G.npy [--png DIR]`.
type Args struct {
	Model string // -m: the ONNX model
	X     string // --x: inputs, .npy or .npz (data.Spec.X)
	Y     string // --y: labels (or targets for targeted_ce), .npy or .npz
	Scale float64
	// Loss is the loss head (default ce); Input, Output and OutputKind
	// override autodiff's choices (see autodiff.Spec).
	Loss, Input, Output, OutputKind string
	Out                             string // --out: gradients, float32 .npy with x's shape
	PNGDir                          string // --png: one saliency PNG per sample
	Batch, IntraOpThreads           int
	Device                          string // --device: cpu (default), cuda[:N], tensorrt[:N] or auto
	LibraryPath                     string // the ONNX Runtime library ("": found as in ortexec)
	Progress                        func(done, total int)
}

// Summary says what Run wrote.
type Summary struct {
	Samples int            `json:"samples"`
	Shape   []int          `json:"shape"`
	Loss    string         `json:"loss"`
	Out     string         `json:"out"`
	PNGs    []string       `json:"pngs,omitempty"`
	Names   autodiff.Names `json:"-"`
	// MeanLoss is the mean per-sample loss, a quick sanity figure.
	MeanLoss float64 `json:"mean_loss"`
	// ExecutionProvider and Device say where the gradient graph ran;
	// Fallback, why not on the GPU asked for under device auto.
	ExecutionProvider string `json:"execution_provider"`
	Device            string `json:"device"`
	Fallback          string `json:"fallback,omitempty"`
}

// Run loads the model and data, computes the per-sample input gradients
// and writes them (and saliency PNGs when PNGDir is set). Bad arguments,
// models and data are errors with exit code 2.
func Run(ctx context.Context, a Args) (*Summary, error) {
	if a.Model == "" {
		return nil, errs.Invalidf("grad: no model (-m)")
	}
	if a.X == "" {
		return nil, errs.Invalidf("grad: no inputs (--x)")
	}
	if a.Out == "" && a.PNGDir == "" {
		return nil, errs.Invalidf("grad: nothing to write: give --out and/or --png")
	}
	dev, err := cuda.ParseDevice(a.Device)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("grad --device: %w", err))
	}
	m, err := onnx.Load(a.Model)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, err)
	}
	head, _, err := autodiff.ParseLoss(a.Loss)
	if err != nil {
		return nil, err
	}
	spec := data.Spec{X: a.X, Y: a.Y, Scale: a.Scale}
	d, err := data.Load(spec, "")
	if err != nil {
		return nil, err
	}
	if autodiff.NeedsLabels(head) && d.Y == nil {
		return nil, errs.Invalidf("grad: loss %q needs labels: give --y", head)
	}
	res, err := Compute(ctx, m, d, Options{
		Spec:           autodiff.Spec{Input: a.Input, Output: a.Output, OutputKind: a.OutputKind, Loss: a.Loss},
		Batch:          a.Batch,
		IntraOpThreads: a.IntraOpThreads,
		LibraryPath:    a.LibraryPath,
		Progress:       a.Progress,
		Device:         dev,
	})
	if err != nil {
		return nil, fmt.Errorf("grad %s: %w", a.Model, err)
	}
	sum := &Summary{Samples: res.Shape[0], Shape: res.Shape, Loss: head, Out: a.Out, Names: res.Names,
		ExecutionProvider: res.Provider.Provider, Device: res.Provider.Device, Fallback: res.Provider.Fallback}
	for _, l := range res.Loss {
		sum.MeanLoss += float64(l)
	}
	sum.MeanLoss /= float64(len(res.Loss))
	if a.Out != "" {
		if err := WriteNPY(a.Out, res.Grad, res.Shape); err != nil {
			return nil, errs.WithCode(errs.Invalid, err)
		}
	}
	if a.PNGDir != "" {
		if _, _, _, ok := ImageShape(res.Shape[1:]); !ok {
			return nil, errs.Invalidf("grad --png: sample shape %v is not an image ([C,H,W] or [H,W])", res.Shape[1:])
		}
		p, err := WritePNGs(a.PNGDir, res.Grad, res.Shape)
		if err != nil {
			return nil, errs.WithCode(errs.Invalid, err)
		}
		sum.PNGs = p
	}
	return sum, nil
}
