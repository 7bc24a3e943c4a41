package onnx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// inferGemm infers a Gemm output: [M, N] from the 2-D operands, each
// read transposed where transA or transB says.
func inferGemm(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	a, b := x.Shape, inf.typ(inf.in(n, 1)).Shape
	vt := ValueType{Elem: x.Elem}
	if len(a) == 2 && len(b) == 2 {
		m, k := a[0], b[1]
		if AttrIntOr(n, "transA", 0) != 0 {
			m = a[1]
		}
		if AttrIntOr(n, "transB", 0) != 0 {
			k = b[0]
		}
		vt.Shape = []int64{m, k}
	}
	set(0, vt)
}

// inferMatMul infers a MatMul output as numpy.matmul shapes it: the
// broadcast batch axes, then the rows of a and the columns of b, a 1-D
// operand losing its axis.
func inferMatMul(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	a, b := x.Shape, inf.typ(inf.in(n, 1)).Shape
	vt := ValueType{Elem: x.Elem}
	if len(a) >= 2 && len(b) >= 2 {
		batch := broadcastShape(a[:len(a)-2], b[:len(b)-2])
		vt.Shape = append(batch, a[len(a)-2], b[len(b)-1])
	} else if len(a) >= 2 && len(b) == 1 {
		vt.Shape = clone(a[:len(a)-1])
	} else if len(a) == 1 && len(b) >= 2 {
		vt.Shape = append(clone(b[:len(b)-2]), b[len(b)-1])
	} else if len(a) == 1 && len(b) == 1 {
		vt.Shape = []int64{} // a dot product
	}
	set(0, vt)
}

// inferEinsum infers an Einsum output (einsumType).
func inferEinsum(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, inf.einsumType(n))
}

// einsumType infers an Einsum output: each output index takes its size
// from an operand that has it (a static size where one has).
func (inf *Inference) einsumType(n *onnxpb.NodeProto) ValueType {
	ins := n.GetInput()
	vt := ValueType{Elem: inf.typ(inf.in(n, 0)).Elem}
	ranks := make([]int, len(ins))
	for i, t := range ins {
		ranks[i] = inf.typ(t).Rank()
	}
	terms, out, err := EinsumTerms(AttrStringOr(n, "equation", ""), ranks)
	if err != nil {
		return vt
	}
	size := map[rune]int64{}
	for i, t := range terms {
		s := inf.typ(ins[i]).Shape
		if s == nil {
			continue
		}
		for j, l := range t {
			if d, ok := size[l]; !ok || d < 0 || d == 1 {
				size[l] = s[j]
			}
		}
	}
	vt.Shape = make([]int64, 0, len(out))
	for _, l := range out {
		d, ok := size[l]
		if !ok {
			d = -1
		}
		vt.Shape = append(vt.Shape, d)
	}
	return vt
}

// EinsumTerms parses an Einsum equation for operands of the given ranks
// (-1: unknown) into one subscript string per operand and one for the
// output, each with one letter per axis: an ellipsis becomes letters the
// equation does not use (needing the ranks of the operands that have
// one), aligned from the right across operands, and an implicit output
// (no "->") is the ellipsis axes followed by the letters that occur once,
// in increasing order.
func EinsumTerms(eq string, ranks []int) (terms []string, out string, err error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	parts := strings.Split(lhs, ",")
	if len(parts) != len(ranks) {
		return nil, "", fmt.Errorf("einsum equation %q has %d operands, the node %d", eq, len(parts), len(ranks))
	}
	used := map[rune]bool{}
	for _, r := range eq {
		used[r] = true
	}
	var free []rune
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		if !used[r] {
			free = append(free, r)
		}
	}
	check := func(t string) error {
		for _, r := range strings.ReplaceAll(t, "...", "") {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("einsum equation %q: %q is not a subscript letter", eq, r)
			}
		}
		if strings.Count(t, "...") > 1 || strings.Count(t, ".") != 3*strings.Count(t, "...") {
			return fmt.Errorf("einsum equation %q: malformed ellipsis in %q", eq, t)
		}
		return nil
	}
	// ellipsis ranks
	ell := make([]int, len(parts))
	maxEll := 0
	for i, t := range parts {
		if err := check(t); err != nil {
			return nil, "", err
		}
		if !strings.Contains(t, "...") {
			continue
		}
		if ranks[i] < 0 {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has an ellipsis and an unknown rank", eq, i)
		}
		ell[i] = ranks[i] - (len(t) - 3)
		if ell[i] < 0 {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has rank %d, below its subscripts", eq, i, ranks[i])
		}
		maxEll = max(maxEll, ell[i])
	}
	if maxEll > len(free) {
		return nil, "", fmt.Errorf("einsum equation %q: too many ellipsis axes", eq)
	}
	ellLetters := string(free[:maxEll])
	terms = make([]string, len(parts))
	for i, t := range parts {
		terms[i] = strings.Replace(t, "...", ellLetters[maxEll-ell[i]:], 1)
		if ranks[i] >= 0 && len(terms[i]) != ranks[i] {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has %d subscripts for rank %d", eq, i, len(terms[i]), ranks[i])
		}
	}
	if explicit {
		if err := check(rhs); err != nil {
			return nil, "", err
		}
		return terms, strings.Replace(rhs, "...", ellLetters, 1), nil
	}
	count := map[rune]int{}
	for _, t := range parts {
		for _, r := range strings.ReplaceAll(t, "...", "") {
			count[r]++
		}
	}
	var once []rune
	for r, k := range count {
		if k == 1 {
			once = append(once, r)
		}
	}
	slices.Sort(once)
	return terms, ellLetters + string(once), nil
}
