package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

func ruleRelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	y := out(n, 0)
	if c.masked[y] {
		return []string{gy[0]}, nil
	}
	// Where(y > 0, g, 0): in ORT 1.30 on the CPU as fast as
	// Mul(g, Cast(y > 0)) and faster than Mul(g, Sign(y)).
	mask := c.op("Greater", []string{y, c.scalar(0, y)})
	return []string{c.op("Where", []string{mask, gy[0], c.scalar(0, y)})}, nil
}

func ruleLeakyRelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 0.01))
	mask := c.op("Greater", []string{x, c.scalar(0, x)})
	return []string{c.op("Where", []string{mask, gy[0], c.op("Mul", []string{gy[0], c.scalar(alpha, x)})})}, nil
}

func ruleSigmoid(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	y := out(n, 0)
	d := c.op("Mul", []string{y, c.op("Sub", []string{c.scalar(1, y), y})})
	return []string{c.op("Mul", []string{gy[0], d})}, nil
}

func ruleTanh(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	y := out(n, 0)
	d := c.op("Sub", []string{c.scalar(1, y), c.op("Mul", []string{y, y})})
	return []string{c.op("Mul", []string{gy[0], d})}, nil
}

// softmaxAxes returns the axes a Softmax/LogSoftmax node normalises over:
// one axis from opset 13, the flattened trailing axes before.
func (c *ctx) softmaxAxes(n *onnxpb.NodeProto) ([]int64, error) {
	x := in(n, 0)
	if c.b.Opset >= 13 {
		return []int64{onnx.AttrIntOr(n, "axis", -1)}, nil
	}
	ax := onnx.AttrIntOr(n, "axis", 1)
	r := len(c.shape(x))
	if c.shape(x) == nil {
		if ax < 0 {
			r = 0
		} else {
			return nil, fmt.Errorf("rank of %q unknown", x)
		}
	}
	if ax < 0 {
		ax += int64(r)
	}
	if r == 0 { // negative axis, unknown rank: axes ax..-1
		var out []int64
		for a := ax; a < 0; a++ {
			out = append(out, a)
		}
		return out, nil
	}
	var out []int64
	for a := ax; a < int64(r); a++ {
		out = append(out, a)
	}
	return out, nil
}

func ruleSoftmax(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	axes, err := c.softmaxAxes(n)
	if err != nil {
		return nil, err
	}
	y := out(n, 0)
	// dx = y ⊙ (g − Σ g⊙y)
	s := c.b.ReduceSum(c.op("Mul", []string{gy[0], y}), axes, true)
	return []string{c.op("Mul", []string{y, c.op("Sub", []string{gy[0], s})})}, nil
}

func ruleLogSoftmax(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	axes, err := c.softmaxAxes(n)
	if err != nil {
		return nil, err
	}
	y := out(n, 0)
	// dx = g − softmax ⊙ Σ g
	s := c.b.ReduceSum(gy[0], axes, true)
	return []string{c.op("Sub", []string{gy[0], c.op("Mul", []string{c.op("Exp", []string{y}), s})})}, nil
}

func ruleClip(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	lo, hi := in(n, 1), in(n, 2)
	if a := onnx.Attr(n, "min"); a != nil {
		lo = c.scalar(float64(a.GetF()), x)
	}
	if a := onnx.Attr(n, "max"); a != nil {
		hi = c.scalar(float64(a.GetF()), x)
	}
	if (len(need) > 1 && need[1]) || (len(need) > 2 && need[2]) {
		return nil, fmt.Errorf("bounds that depend on the input are not supported")
	}
	// The gradient passes where lo ≤ x ≤ hi (PyTorch's clamp convention).
	var mask string
	if lo != "" {
		mask = c.op("Not", []string{c.op("Less", []string{x, lo})})
	}
	if hi != "" {
		m2 := c.op("Not", []string{c.op("Greater", []string{x, hi})})
		if mask == "" {
			mask = m2
		} else {
			mask = c.op("And", []string{mask, m2})
		}
	}
	if mask == "" {
		return []string{gy[0]}, nil
	}
	return []string{c.op("Where", []string{mask, gy[0], c.scalar(0, x)})}, nil
}

func ruleSoftplus(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Mul", []string{gy[0], c.op("Sigmoid", []string{in(n, 0)})})}, nil
}

// negWhere returns Where(x > 0, pos, neg).
func (c *ctx) posWhere(x, pos, neg string) string {
	return c.op("Where", []string{c.op("Greater", []string{x, c.scalar(0, x)}), pos, neg})
}

func ruleElu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1))
	// x ≤ 0: y = α(eˣ − 1), dy/dx = y + α
	neg := c.op("Mul", []string{gy[0], c.op("Add", []string{y, c.scalar(alpha, x)})})
	return []string{c.posWhere(x, gy[0], neg)}, nil
}

func ruleSelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1.67326319217681884765625))
	gamma := float64(onnx.AttrFloatOr(n, "gamma", 1.05070102214813232421875))
	// x > 0: γ; x ≤ 0: y = γα(eˣ − 1), dy/dx = y + γα
	pos := c.op("Mul", []string{gy[0], c.scalar(gamma, x)})
	neg := c.op("Mul", []string{gy[0], c.op("Add", []string{y, c.scalar(gamma*alpha, x)})})
	return []string{c.posWhere(x, pos, neg)}, nil
}

// inside returns the mask lo < t < hi.
func (c *ctx) inside(t string, lo, hi float64, like string) string {
	return c.op("And", []string{c.op("Greater", []string{t, c.scalar(lo, like)}), c.op("Less", []string{t, c.scalar(hi, like)})})
}

func ruleHardSigmoid(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 0.2))
	beta := float64(onnx.AttrFloatOr(n, "beta", 0.5))
	t := c.op("Add", []string{c.op("Mul", []string{x, c.scalar(alpha, x)}), c.scalar(beta, x)})
	g := c.op("Mul", []string{gy[0], c.scalar(alpha, x)})
	return []string{c.op("Where", []string{c.inside(t, 0, 1, x), g, c.scalar(0, x)})}, nil
}

func ruleHardSwish(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// y = x·clip(x/6 + 1/2, 0, 1): dy/dx = 0 below −3, 1 above 3, (2x + 3)/6 between
	mid := c.op("Mul", []string{gy[0], c.op("Add", []string{c.op("Mul", []string{x, c.scalar(1.0/3, x)}), c.scalar(0.5, x)})})
	hi := c.op("Where", []string{c.op("Greater", []string{x, c.scalar(3, x)}), gy[0], c.scalar(0, x)})
	return []string{c.op("Where", []string{c.inside(x, -3, 3, x), mid, hi})}, nil
}

func ruleGelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	if a := onnx.AttrStringOr(n, "approximate", "none"); a != "none" {
		return nil, fmt.Errorf("approximate=%q is not supported", a)
	}
	x := in(n, 0)
	// d/dx x·Φ(x) = Φ(x) + x·φ(x), Φ(x) = (1 + erf(x/√2))/2, φ(x) = e^(−x²/2)/√(2π)
	phi := c.op("Mul", []string{c.op("Add", []string{c.op("Erf", []string{c.op("Mul", []string{x, c.scalar(1/math.Sqrt2, x)})}), c.scalar(1, x)}), c.scalar(0.5, x)})
	dens := c.op("Mul", []string{c.op("Exp", []string{c.op("Mul", []string{c.op("Mul", []string{x, x}), c.scalar(-0.5, x)})}), c.scalar(1/math.Sqrt(2*math.Pi), x)})
	d := c.op("Add", []string{phi, c.op("Mul", []string{x, dens})})
	return []string{c.op("Mul", []string{gy[0], d})}, nil
}

func rulePRelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, slope := in(n, 0), in(n, 1)
	os := c.shape(out(n, 0))
	res := make([]string, 2)
	pos := c.op("Greater", []string{x, c.scalar(0, x)})
	if need[0] {
		g, err := c.sumTo(c.op("Where", []string{pos, gy[0], c.op("Mul", []string{gy[0], slope})}), x, os)
		if err != nil {
			return nil, err
		}
		res[0] = g
	}
	if need[1] {
		g, err := c.sumTo(c.op("Where", []string{pos, c.scalar(0, x), c.op("Mul", []string{gy[0], x})}), slope, os)
		if err != nil {
			return nil, err
		}
		res[1] = g
	}
	return res, nil
}

func ruleSoftsign(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// d/dx x/(1 + |x|) = 1/(1 + |x|)²
	a := c.op("Add", []string{c.op("Abs", []string{x}), c.scalar(1, x)})
	return []string{c.op("Div", []string{gy[0], c.op("Mul", []string{a, a})})}, nil
}

// ruleThresholdedRelu passes the gradient where x > alpha, where the
// output is x (the output is 0 elsewhere, including at x = alpha).
func ruleThresholdedRelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1))
	mask := c.op("Greater", []string{x, c.scalar(alpha, x)})
	return []string{c.op("Where", []string{mask, gy[0], c.scalar(0, x)})}, nil
}

func ruleCelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1))
	// x ≤ 0: y = α(e^(x/α) − 1), dy/dx = e^(x/α) = y/α + 1
	neg := c.op("Mul", []string{gy[0], c.op("Add", []string{c.op("Mul", []string{y, c.scalar(1/alpha, x)}), c.scalar(1, x)})})
	return []string{c.posWhere(x, gy[0], neg)}, nil
}

func ruleMish(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// y = x·tanh(softplus(x)): dy/dx = t + x·σ(x)·(1 − t²), t = tanh(softplus(x))
	t := c.op("Tanh", []string{c.op("Softplus", []string{x})})
	sech2 := c.op("Sub", []string{c.scalar(1, x), c.op("Mul", []string{t, t})})
	d := c.op("Add", []string{t, c.op("Mul", []string{c.op("Mul", []string{x, c.op("Sigmoid", []string{x})}), sech2})})
	return []string{c.op("Mul", []string{gy[0], d})}, nil
}
