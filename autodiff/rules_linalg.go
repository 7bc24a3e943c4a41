package autodiff

import (
	"fmt"
	"strings"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

func ruleGemm(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b := in(n, 0), in(n, 1)
	ta, tb := onnx.AttrIntOr(n, "transA", 0), onnx.AttrIntOr(n, "transB", 0)
	alpha, beta := onnx.AttrFloatOr(n, "alpha", 1), onnx.AttrFloatOr(n, "beta", 1)
	g := gy[0]
	res := make([]string, 3)
	al := onnx.AttrFloat("alpha", alpha)
	if need[0] {
		if ta == 0 { // dA = α g B'ᵀ
			res[0] = c.op("Gemm", []string{g, b}, al, onnx.AttrInt("transB", 1-tb))
		} else { // dA = α B' gᵀ
			res[0] = c.op("Gemm", []string{b, g}, al, onnx.AttrInt("transA", tb), onnx.AttrInt("transB", 1))
		}
	}
	if need[1] {
		if tb == 0 { // dB = α A'ᵀ g
			res[1] = c.op("Gemm", []string{a, g}, al, onnx.AttrInt("transA", 1-ta))
		} else { // dB = α gᵀ A'
			res[1] = c.op("Gemm", []string{g, a}, al, onnx.AttrInt("transA", 1), onnx.AttrInt("transB", ta))
		}
	}
	if len(need) > 2 && need[2] {
		gc := g
		if beta != 1 {
			gc = c.op("Mul", []string{g, c.scalar(float64(beta), a)})
		}
		var err error
		if res[2], err = c.sumTo(gc, in(n, 2), c.shape(out(n, 0))); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// swapLast returns a Transpose of t swapping its last two axes (rank r).
func (c *ctx) swapLast(t string, r int) string {
	p := make([]int64, r)
	for i := range p {
		p[i] = int64(i)
	}
	p[r-1], p[r-2] = p[r-2], p[r-1]
	return c.op("Transpose", []string{t}, onnx.AttrInts("perm", p...))
}

// ruleMatMul views a 1-D operand as a matrix, as MatMul does (numpy
// semantics: a 1-D left operand [K] as [1, K], a 1-D right one as [K, 1],
// the added axis removed from the result), and applies matMulGrad.
func ruleMatMul(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	a, b := in(n, 0), in(n, 1)
	sa, sb := c.shape(a), c.shape(b)
	os := c.shape(out(n, 0))
	if len(sa) == 0 || len(sb) == 0 || os == nil {
		return nil, fmt.Errorf("operands of rank 0 or of unknown rank are not supported")
	}
	a1, b1 := len(sa) == 1, len(sb) == 1
	if !a1 && !b1 {
		return c.matMulGrad(a, b, sa, sb, gy[0], os, need)
	}
	g, os2 := gy[0], append([]int64{}, os...)
	switch {
	case a1 && b1: // a dot product: the result is a scalar
		g, os2 = c.b.Reshape(g, 1, 1), []int64{1, 1}
	case a1: // [..., N] → [..., 1, N]
		g = c.b.Unsqueeze(g, int64(len(os)-1))
		os2 = append(append(os2[:len(os)-1:len(os)-1], 1), os[len(os)-1])
	default: // [..., M] → [..., M, 1]
		g = c.b.Unsqueeze(g, int64(len(os)))
		os2 = append(os2, 1)
	}
	if a1 {
		sa = []int64{1, sa[0]}
		a = c.b.Unsqueeze(a, 0)
		c.setType(a, c.elem(in(n, 0)), sa)
	}
	if b1 {
		sb = []int64{sb[0], 1}
		b = c.b.Unsqueeze(b, 1)
		c.setType(b, c.elem(in(n, 1)), sb)
	}
	res, err := c.matMulGrad(a, b, sa, sb, g, os2, need)
	if err != nil {
		return nil, err
	}
	if a1 && res[0] != "" {
		res[0] = c.b.Reshape(res[0], -1)
	}
	if b1 && res[1] != "" {
		res[1] = c.b.Reshape(res[1], -1)
	}
	return res, nil
}

// setType records the static type of a tensor a rule made, for the rules
// and helpers (sumTo) that read shapes by name.
func (c *ctx) setType(t string, elem int32, shape []int64) {
	c.inf.Types[t] = onnx.ValueType{Elem: elem, Shape: shape}
}

// matMulGrad is the rule of MatMul on operands a, b of rank 2 or more
// (static shapes sa, sb) with result gradient g of static shape os.
func (c *ctx) matMulGrad(a, b string, sa, sb []int64, g string, os []int64, need []bool) ([]string, error) {
	res := make([]string, 2)
	var err error
	if need[0] {
		ga := c.op("MatMul", []string{g, c.swapLast(b, len(sb))})
		// batch axes are compared with the result's; the matrix axes are a's own
		if len(os) > len(sa) || hasBroadcast(sa[:len(sa)-2], os[:len(os)-2]) {
			res[0], err = c.sumTo(ga, a, append(append([]int64{}, os[:len(os)-2]...), sa[len(sa)-2:]...))
		} else {
			res[0] = ga
		}
		if err != nil {
			return nil, err
		}
	}
	if need[1] {
		gb := c.op("MatMul", []string{c.swapLast(a, len(sa)), g})
		if len(os) > len(sb) || hasBroadcast(sb[:len(sb)-2], os[:len(os)-2]) {
			res[1], err = c.sumTo(gb, b, append(append([]int64{}, os[:len(os)-2]...), sb[len(sb)-2:]...))
		} else {
			res[1] = gb
		}
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ruleEinsum differentiates C = einsum(A, B, …) with respect to each
// operand as another einsum: dA = einsum(dC, B, … → A's subscripts), which
// sums over every index that A lacks. An index of A that occurs neither in
// the output nor in another operand was summed over in A alone; the
// gradient does not depend on it and is broadcast along it (Unsqueeze,
// Expand). An index repeated within one operand (a diagonal or trace) is
// refused. An ellipsis becomes letters (onnx.EinsumTerms); ellipsis axes
// that broadcast (size 1 against a larger size) are refused.
func ruleEinsum(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	eq := onnx.AttrStringOr(n, "equation", "")
	ins := n.GetInput()
	ranks := make([]int, len(ins))
	for i, t := range ins {
		ranks[i] = onnx.ValueType{Shape: c.shape(t)}.Rank()
	}
	terms, outT, err := onnx.EinsumTerms(eq, ranks)
	if err != nil {
		return nil, err
	}
	size := map[rune]int64{}
	for i, t := range append(append([]string{}, terms...), outT) {
		seen := map[rune]bool{}
		for _, l := range t {
			if seen[l] {
				return nil, fmt.Errorf("equation %q: an index repeated within one operand or the output (a diagonal or trace) is not supported", eq)
			}
			seen[l] = true
		}
		if i == len(terms) {
			continue
		}
		s := c.shape(ins[i])
		for j, l := range t {
			if s == nil || s[j] < 0 {
				continue
			}
			if d, ok := size[l]; ok && d != s[j] {
				return nil, fmt.Errorf("equation %q: index sizes %d and %d broadcast, which is not supported", eq, d, s[j])
			}
			size[l] = s[j]
		}
	}
	res := make([]string, len(ins))
	for i, t := range terms {
		if !need[i] {
			continue
		}
		others := map[rune]bool{}
		for _, l := range outT {
			others[l] = true
		}
		opIns := []string{gy[0]}
		sub := []string{outT}
		for j, u := range terms {
			if j == i {
				continue
			}
			for _, l := range u {
				others[l] = true
			}
			opIns = append(opIns, ins[j])
			sub = append(sub, u)
		}
		var keep []rune
		var drop []int64
		for j, l := range t {
			if others[l] {
				keep = append(keep, l)
			} else {
				drop = append(drop, int64(j))
			}
		}
		ge := c.op("Einsum", opIns, onnx.AttrString("equation", strings.Join(sub, ",")+"->"+string(keep)))
		if len(drop) > 0 {
			ge = c.op("Expand", []string{c.b.Unsqueeze(ge, drop...), c.b.Shape(ins[i])})
		}
		res[i] = ge
	}
	return res, nil
}
