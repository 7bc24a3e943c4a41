package onnx

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Unknown marks an element of a partially known integer tensor
// (Inference.Partial).
const Unknown = math.MinInt64

// maxPartial is the most elements a partially known tensor may have: the
// shape sub-graph handles shape vectors and scalars.
const maxPartial = 64

// vals returns the values of a small integer tensor, fully known (Ints)
// or in part (Partial, Unknown where not known).
func (inf *Inference) vals(name string) ([]int64, bool) {
	if name == "" {
		return nil, false
	}
	if v, ok := inf.Ints[name]; ok {
		return v, true
	}
	v, ok := inf.Partial[name]
	return v, ok
}

// unknownToDynamic returns shape values with Unknown as -1 (a dynamic
// dim).
func unknownToDynamic(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, d := range v {
		out[i] = d
		if d == Unknown {
			out[i] = -1
		}
	}
	return out
}

// foldPartial evaluates n on the partially known values of its inputs:
// the shape sub-graph exporters write around a dynamic batch axis
// (Shape → Gather → arithmetic → Concat/Unsqueeze → Reshape, Slice,
// Expand, Split). Every value that does not depend on an unknown element
// is computed; the others are Unknown. Outputs that end fully known join
// Ints, so that the rules reading constants (Slice bounds, Split sizes,
// Reshape targets) see them as constants. The operator's fold rule in
// inferRules computes the values.
func (inf *Inference) foldPartial(n *onnxpb.NodeProto) {
	outs := n.GetOutput()
	if len(outs) == 0 || outs[0] == "" {
		return
	}
	if _, ok := inf.Ints[outs[0]]; ok {
		return
	}
	fold := inferRules[n.GetOpType()].fold
	if fold == nil {
		return
	}
	v, ok := fold(inf, n)
	if !ok || len(v) > maxPartial {
		return
	}
	for _, x := range v {
		if x == Unknown {
			inf.Partial[outs[0]] = v
			return
		}
	}
	inf.Ints[outs[0]] = v
}

// dimsProd returns the product of s, or -1 when a dim is negative or the
// product overflows int64.
func dimsProd(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		if d < 0 || (d > 0 && p > math.MaxInt64/d) {
			return -1
		}
		p *= d
	}
	return p
}

// maxRank bounds the length of a shape tensor whose values are unknown
// (dynamicOfLength): a shape of more dims than this is a declared size,
// not a tensor rank, and is left unknown rather than allocated.
const maxRank = 64

// gatherND returns the elements of d (row-major, shape xs) at the index
// lists keep[a] of each axis, in row-major order of the result whose axes
// are xs's permuted by perm (nil: in order).
func gatherND(d, xs []int64, keep [][]int64, perm []int64) []int64 {
	r := len(xs)
	if perm == nil {
		perm = make([]int64, r)
		for i := range perm {
			perm[i] = int64(i)
		}
	}
	strides := make([]int64, r)
	st := int64(1)
	for a := r - 1; a >= 0; a-- {
		strides[a] = st
		st *= xs[a]
	}
	out := []int64{}
	pos := make([]int, r) // position in the output's axes
	for {
		for a := 0; a < r; a++ {
			if len(keep[perm[a]]) == 0 {
				return out
			}
		}
		off := int64(0)
		for a := 0; a < r; a++ {
			off += keep[perm[a]][pos[a]] * strides[perm[a]]
		}
		out = append(out, d[off])
		a := r - 1
		for ; a >= 0; a-- {
			pos[a]++
			if pos[a] < len(keep[perm[a]]) {
				break
			}
			pos[a] = 0
		}
		if a < 0 {
			return out
		}
	}
}
