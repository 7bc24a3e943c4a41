package autodiff

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// Output declares a graph output that an extension adds.
type Output struct {
	Name  string
	Elem  int32
	Shape []int64 // nil: unknown; -1: dynamic
}

// Extension appends nodes after the gradient of a model that Build made
// and returns the outputs to declare. It may read every tensor in nm
// (input, labels, loss, gradient) and add inputs with b.AddInput.
type Extension func(b *onnx.Builder, nm Names) ([]Output, error)

// Extend runs f on m (a model from BuildNamed, with its names nm), declares
// the outputs f returns, checks the result and refreshes m.Bytes. This is
// the hook for attack steps: sign or normalise the gradient, step,
// project, clip — so that a whole step runs inside one ORT call.
func Extend(m *onnx.Model, nm Names, f Extension) error {
	b := onnx.NewBuilder(m, "gauntlet_ext/")
	outs, err := f(b, nm)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if m.IsOutput(o.Name) {
			return errs.Invalidf("extension output %q is already a graph output", o.Name)
		}
		b.AddOutput(o.Name, o.Elem, o.Shape, dimNames(o.Shape)...)
	}
	if err := m.Check(); err != nil {
		return fmt.Errorf("extended gradient graph: %w", err)
	}
	_, err = m.Marshal()
	return err
}

func dimNames(shape []int64) []string {
	if len(shape) > 0 && shape[0] < 0 {
		return []string{"N"}
	}
	return nil
}

// FGSM configures an L∞ fast-gradient-sign step, x' = clip(x ± ε·sign(∇x L),
// Min, Max).
type FGSM struct {
	// Eps is the step size ε (> 0).
	Eps float64
	// Min and Max bound the result (the valid input domain, e.g. 0 and 1);
	// both 0 means no clipping.
	Min, Max float64
	// Descend steps against the gradient (for targeted losses, which the
	// attacker minimises); the default ascends (untargeted).
	Descend bool
	// Output names the adversarial input ("": "x_adv").
	Output string
}

// FGSMStep returns the Extension appending one FGSM step after the
// gradient: Sign, Mul by ±ε, Add to the input, Clip.
func FGSMStep(cfg FGSM) Extension {
	return func(b *onnx.Builder, nm Names) ([]Output, error) {
		if !(cfg.Eps > 0) {
			return nil, errs.Invalidf("fgsm: eps %v must be > 0", cfg.Eps)
		}
		if cfg.Min > cfg.Max {
			return nil, errs.Invalidf("fgsm: clip range [%v, %v] is empty", cfg.Min, cfg.Max)
		}
		name := cfg.Output
		if name == "" {
			name = "x_adv"
		}
		if b.Used(name) {
			return nil, errs.Invalidf("fgsm: output name %q is already used", name)
		}
		step := cfg.Eps
		if cfg.Descend {
			step = -step
		}
		d := b.Op("Mul", []string{b.Op("Sign", []string{nm.Grad}), b.Scalar(step, nm.Elem)})
		x := b.Op("Add", []string{nm.Input, d})
		if cfg.Min != 0 || cfg.Max != 0 {
			x = b.Op("Clip", []string{x, b.Scalar(cfg.Min, nm.Elem), b.Scalar(cfg.Max, nm.Elem)})
		}
		b.Identity(x, name)
		return []Output{{Name: name, Elem: nm.Elem, Shape: nm.Shape}}, nil
	}
}
