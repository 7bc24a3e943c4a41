package differential

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Outcomes are the per-sample results of one variant against the model,
// index-aligned with the evaluation data, so that figures over any subset
// of samples (a group of by:) are Tally over that subset's indices.
type Outcomes struct {
	// Reference and Variant are each sample's predicted class (first arg
	// max); Label its label.
	Reference, Variant []int32
	Label              []int64
	// ProbDelta is max_c |p_model(c) − p_variant(c)|, on softmax
	// probabilities (the outputs themselves for probability models).
	ProbDelta []float64
}

// newOutcomes returns Outcomes for n samples.
func newOutcomes(n int, label []int64) *Outcomes {
	return &Outcomes{Reference: make([]int32, n), Variant: make([]int32, n), Label: label, ProbDelta: make([]float64, n)}
}

// set records sample i from the two output rows.
func (o *Outcomes) set(i int, ref, vari []float64) {
	o.Reference[i], o.Variant[i] = int32(stats.Argmax(ref)), int32(stats.Argmax(vari))
	var d float64
	for c := range ref {
		d = math.Max(d, math.Abs(ref[c]-vari[c]))
	}
	o.ProbDelta[i] = d
}

// Tally is the sufficient statistics of Outcomes over a set of samples.
type Tally struct {
	N, Agree                   int
	RefCorrect, VarCorrect     int
	RefOnly, VarOnly           int // discordant pairs: only the model / only the variant correct
	MaxProbDelta, SumProbDelta float64
}

// Tally sums o over the samples idx (every sample when idx is nil), in
// index order.
func (o *Outcomes) Tally(idx []int) Tally {
	var t Tally
	add := func(i int) {
		t.N++
		rc, vc := int64(o.Reference[i]) == o.Label[i], int64(o.Variant[i]) == o.Label[i]
		if o.Reference[i] == o.Variant[i] {
			t.Agree++
		}
		switch {
		case rc && !vc:
			t.RefOnly++
		case vc && !rc:
			t.VarOnly++
		}
		if rc {
			t.RefCorrect++
		}
		if vc {
			t.VarCorrect++
		}
		t.MaxProbDelta = math.Max(t.MaxProbDelta, o.ProbDelta[i])
		t.SumProbDelta += o.ProbDelta[i]
	}
	if idx == nil {
		for i := range o.Reference {
			add(i)
		}
	} else {
		for _, i := range idx {
			add(i)
		}
	}
	return t
}

// Flips lists the samples whose decision differs, in index order.
func (o *Outcomes) Flips() []int {
	var out []int
	for i := range o.Reference {
		if o.Reference[i] != o.Variant[i] {
			out = append(out, i)
		}
	}
	return out
}

// set writes t's metrics under prefix ("int8.").
func (t Tally) set(r *suite.Result, prefix string, level float64) {
	r.SetProportion(prefix+"agreement", t.Agree, t.N, level)
	r.SetProportion(prefix+"accuracy", t.VarCorrect, t.N, level)
	ok := t.N > 0
	r.Set(prefix+"accuracy_delta", float64(t.VarCorrect-t.RefCorrect)/float64(t.N), ok)
	r.Set(prefix+"mcnemar_p", stats.McNemarExact(t.RefOnly, t.VarOnly), ok)
	r.Set(prefix+"max_abs_prob_delta", t.MaxProbDelta, ok)
	r.Set(prefix+"mean_abs_prob_delta", t.SumProbDelta/float64(t.N), ok)
	r.Set(prefix+"flips", float64(t.N-t.Agree), true)
}

// probs writes the probabilities of one output row into dst: the row
// itself for a probability model, its softmax for logits.
func probs(dst []float64, row []float32, isProb bool) {
	if isProb {
		for i, v := range row {
			dst[i] = float64(v)
		}
		return
	}
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for i, v := range row {
		dst[i] = math.Exp(float64(v) - m)
		s += dst[i]
	}
	for i := range dst {
		dst[i] /= s
	}
}
