package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// binary returns the forward inputs and output shape of a broadcasting
// binary node.
func (c *ctx) binary(n *onnxpb.NodeProto) (a, b string, os []int64) {
	return in(n, 0), in(n, 1), c.shape(out(n, 0))
}

func ruleAdd(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b, os := c.binary(n)
	res := make([]string, 2)
	var err error
	if need[0] {
		if res[0], err = c.sumTo(gy[0], a, os); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if res[1], err = c.sumTo(gy[0], b, os); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func ruleSum(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	os := c.shape(out(n, 0))
	res := make([]string, len(n.GetInput()))
	for i, t := range n.GetInput() {
		if need[i] {
			g, err := c.sumTo(gy[0], t, os)
			if err != nil {
				return nil, err
			}
			res[i] = g
		}
	}
	return res, nil
}

func ruleSub(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b, os := c.binary(n)
	res := make([]string, 2)
	var err error
	if need[0] {
		if res[0], err = c.sumTo(gy[0], a, os); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if res[1], err = c.sumTo(c.op("Neg", []string{gy[0]}), b, os); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func ruleMul(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b, os := c.binary(n)
	res := make([]string, 2)
	var err error
	if need[0] {
		if res[0], err = c.sumTo(c.op("Mul", []string{gy[0], b}), a, os); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if res[1], err = c.sumTo(c.op("Mul", []string{gy[0], a}), b, os); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func ruleDiv(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b, os := c.binary(n)
	res := make([]string, 2)
	var err error
	if need[0] {
		if res[0], err = c.sumTo(c.op("Div", []string{gy[0], b}), a, os); err != nil {
			return nil, err
		}
	}
	if need[1] {
		// d(a/b)/db = −(a/b)/b
		t := c.op("Neg", []string{c.op("Div", []string{c.op("Mul", []string{gy[0], out(n, 0)}), b})})
		if res[1], err = c.sumTo(t, b, os); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func ruleNeg(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Neg", []string{gy[0]})}, nil
}

func rulePow(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, p, os := c.binary(n)
	if need[1] {
		return nil, fmt.Errorf("an exponent that depends on the input is not supported")
	}
	var d string // p · a^(p−1)
	if ct := c.inf.Consts[p]; ct != nil {
		v, err := onnx.TensorValues(ct)
		if err == nil && len(v) == 1 {
			switch v[0] {
			case 1:
				d = c.scalar(1, a)
			case 2:
				d = c.op("Mul", []string{a, c.scalar(2, a)})
			default:
				d = c.op("Mul", []string{c.scalar(v[0], a), c.op("Pow", []string{a, c.scalar(v[0]-1, a)})})
			}
		}
	}
	if d == "" {
		pf := p
		if c.elem(p) != c.elem(a) {
			pf = c.b.Cast(p, c.elem(a))
		}
		d = c.op("Mul", []string{pf, c.op("Pow", []string{a, c.op("Sub", []string{pf, c.scalar(1, a)})})})
	}
	g, err := c.sumTo(c.op("Mul", []string{gy[0], d}), a, os)
	return []string{g, ""}, err
}

func ruleExp(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Mul", []string{gy[0], out(n, 0)})}, nil
}

func ruleLog(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Div", []string{gy[0], in(n, 0)})}, nil
}

func ruleSqrt(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	y := out(n, 0)
	return []string{c.op("Div", []string{c.op("Mul", []string{gy[0], c.scalar(0.5, y)}), y})}, nil
}

func ruleErf(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// d erf(x)/dx = 2/√π · exp(−x²)
	e := c.op("Exp", []string{c.op("Neg", []string{c.op("Mul", []string{x, x})})})
	return []string{c.op("Mul", []string{gy[0], c.op("Mul", []string{e, c.scalar(2/math.Sqrt(math.Pi), x)})})}, nil
}

// hasBroadcast reports whether batch dims s differ from the result's o.
func hasBroadcast(s, o []int64) bool {
	if len(s) != len(o) {
		return true
	}
	for i := range s {
		if s[i] != o[i] {
			return true
		}
	}
	return false
}

func ruleAbs(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Mul", []string{gy[0], c.op("Sign", []string{in(n, 0)})})}, nil
}

func ruleReciprocal(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	y := out(n, 0) // d(1/x)/dx = −y²
	return []string{c.op("Neg", []string{c.op("Mul", []string{gy[0], c.op("Mul", []string{y, y})})})}, nil
}

func ruleMean(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	os := c.shape(out(n, 0))
	k := float64(len(n.GetInput()))
	g := c.op("Mul", []string{gy[0], c.scalar(1/k, out(n, 0))})
	res := make([]string, len(n.GetInput()))
	for i, t := range n.GetInput() {
		if need[i] {
			r, err := c.sumTo(g, t, os)
			if err != nil {
				return nil, err
			}
			res[i] = r
		}
	}
	return res, nil
}

// ruleMaxMin is the rule of the variadic, broadcasting Max and Min. Each
// element's gradient goes to the inputs that hold the extreme; on an exact
// tie it is split evenly among them, as PyTorch's torch.maximum and
// torch.minimum do (Max(x, x) passes g/2 to each operand, g in all).
func ruleMaxMin(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	ins, y := n.GetInput(), out(n, 0)
	if len(ins) == 1 {
		return []string{gy[0]}, nil
	}
	os := c.shape(y)
	masks := make([]string, len(ins))
	for i, t := range ins {
		masks[i] = c.b.Cast(c.op("Equal", []string{t, y}), c.elem(y))
	}
	g := c.op("Div", []string{gy[0], c.op("Sum", masks)})
	res := make([]string, len(ins))
	for i, t := range ins {
		if !need[i] {
			continue
		}
		r, err := c.sumTo(c.op("Mul", []string{g, masks[i]}), t, os)
		if err != nil {
			return nil, err
		}
		res[i] = r
	}
	return res, nil
}

func ruleSin(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Mul", []string{gy[0], c.op("Cos", []string{in(n, 0)})})}, nil
}

func ruleCos(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Neg", []string{c.op("Mul", []string{gy[0], c.op("Sin", []string{in(n, 0)})})})}, nil
}
