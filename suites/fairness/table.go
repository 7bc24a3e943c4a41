package fairness

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Input holds, per row, what the metrics need from the model and the
// labels: the true class, the predicted class and the probability of the
// positive class.
type Input struct {
	// Classes is the number of classes K; Positive the favourable class.
	Classes, Positive int
	Y                 []int64
	Pred              []int32
	Score             []float64
}

// Row kinds within the cells of one predicted class. With pred = k:
// kindPos: y is the positive class (a TP when k is positive, else an FN);
// kindHit: y = k ≠ positive (a correct negative); kindOther: anything else
// (an FP when k is positive, else a wrong negative). The K×3 counts of a
// group are a sufficient statistic for every rate and disparity the
// bootstrap resamples, and stay O(K) per group on many-class models.
const (
	kindPos = iota
	kindHit
	kindOther
	nKinds
)

// Table holds the sufficient statistics of the rows of each cell (group)
// of a partition. Slices are cell-major.
type Table struct {
	K, Bins, Cells int
	// Conf counts rows by [cell][pred][kind].
	Conf []int64
	// Label counts rows by [cell][true class]; Hit the correct ones.
	Label, Hit []int64
	// Score sums the positive-class probability per cell.
	Score []float64
	// BinN, BinScore and BinPos count rows, sum scores and count positive
	// labels per [cell][score bin].
	BinN, BinPos []int64
	BinScore     []float64
}

// NewTable returns an empty table of cells cells for K classes and bins
// score bins.
func NewTable(cells, classes, bins int) *Table {
	return &Table{K: classes, Bins: bins, Cells: cells,
		Conf:  make([]int64, cells*classes*nKinds),
		Label: make([]int64, cells*classes), Hit: make([]int64, cells*classes),
		Score: make([]float64, cells),
		BinN:  make([]int64, cells*bins), BinPos: make([]int64, cells*bins), BinScore: make([]float64, cells*bins),
	}
}

// scoreBin returns the bin of score s among n equal-width bins
// (k/n, (k+1)/n], as accuracy.Bin; 0 falls into bin 0.
func scoreBin(s float64, n int) int {
	b := int(math.Ceil(s*float64(n))) - 1
	return max(0, min(b, n-1))
}

// Add tallies every row of in into t, row i into cell cell[i]: one pass, no
// allocation. Rows are added in order, so float sums are reproducible.
func (t *Table) Add(in *Input, cell []int32) error {
	k, pos, nb := t.K, in.Positive, t.Bins
	n := len(in.Y)
	if len(in.Pred) != n || len(in.Score) != n || len(cell) != n {
		return fmt.Errorf("fairness: input lengths differ: %d labels, %d predictions, %d scores, %d groups", n, len(in.Pred), len(in.Score), len(cell))
	}
	for i := range n {
		y, pr, c := int(in.Y[i]), int(in.Pred[i]), int(cell[i])
		if y < 0 || y >= k {
			return errs.Invalidf("fairness: label %d of sample %d is outside [0,%d)", y, i, k)
		}
		if pr < 0 || pr >= k || c < 0 || c >= t.Cells {
			return fmt.Errorf("fairness: sample %d: prediction %d or group %d out of range", i, pr, c)
		}
		kind := kindOther
		if y == pos {
			kind = kindPos
		} else if y == pr {
			kind = kindHit
		}
		t.Conf[(c*k+pr)*nKinds+kind]++
		t.Label[c*k+y]++
		if y == pr {
			t.Hit[c*k+y]++
		}
		s := in.Score[i]
		t.Score[c] += s
		b := c*nb + scoreBin(s, nb)
		t.BinN[b]++
		t.BinScore[b] += s
		if y == pos {
			t.BinPos[b]++
		}
	}
	return nil
}

// Collapse returns the table of groups, where cell c of t joins group
// of[c]. Float sums are added in cell order.
func (t *Table) Collapse(of []int32, groups int) *Table {
	d := NewTable(groups, t.K, t.Bins)
	k, w, nb := t.K, t.K*nKinds, t.Bins
	for c := range t.Cells {
		g := int(of[c])
		addInts(d.Conf[g*w:(g+1)*w], t.Conf[c*w:(c+1)*w])
		addInts(d.Label[g*k:(g+1)*k], t.Label[c*k:(c+1)*k])
		addInts(d.Hit[g*k:(g+1)*k], t.Hit[c*k:(c+1)*k])
		d.Score[g] += t.Score[c]
		addInts(d.BinN[g*nb:(g+1)*nb], t.BinN[c*nb:(c+1)*nb])
		addInts(d.BinPos[g*nb:(g+1)*nb], t.BinPos[c*nb:(c+1)*nb])
		for b := range nb {
			d.BinScore[g*nb+b] += t.BinScore[c*nb+b]
		}
	}
	return d
}

// addInts adds src to dst element-wise.
func addInts(dst, src []int64) {
	for i, v := range src {
		dst[i] += v
	}
}

// conf is a group's binary confusion table for the positive class, with
// the multiclass hit count.
type conf struct {
	tp, fp, fn, tn, hit, n int64
}

// binary reduces a group's K×3 counts (cells) to its confusion table.
func binary(cells []int64, k, pos int) conf {
	var c conf
	for pr := range k {
		p, h, o := cells[pr*nKinds+kindPos], cells[pr*nKinds+kindHit], cells[pr*nKinds+kindOther]
		if pr == pos {
			c.tp += p
			c.fp += h + o // h is always 0 here
			c.hit += p
		} else {
			c.fn += p
			c.tn += h + o
			c.hit += h
		}
	}
	c.n = c.tp + c.fp + c.fn + c.tn
	return c
}

func (c *conf) add(o conf) {
	c.tp += o.tp
	c.fp += o.fp
	c.fn += o.fn
	c.tn += o.tn
	c.hit += o.hit
	c.n += o.n
}

// ratio returns a/b, NaN when b is 0 (undefined, never 0).
func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func (c conf) selectionRate() float64 { return ratio(c.tp+c.fp, c.n) }
func (c conf) tpr() float64           { return ratio(c.tp, c.tp+c.fn) }
func (c conf) fpr() float64           { return ratio(c.fp, c.fp+c.tn) }
func (c conf) ppv() float64           { return ratio(c.tp, c.tp+c.fp) }
func (c conf) accuracy() float64      { return ratio(c.hit, c.n) }

// theil returns AIF360's Theil index (generalized entropy, alpha = 1) of
// the benefits b = ŷ − y + 1 (1 = favourable) over all rows: FN rows have
// b = 0, FP rows b = 2, the others b = 1; mean((b/μ) ln(b/μ)) with
// 0 ln 0 = 0. NaN when μ = 0 (every row a false negative).
func theil(fn, fp, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	nf := float64(n)
	mu := float64(n-fn+fp) / nf
	if mu == 0 {
		return math.NaN()
	}
	one := float64(n-fn-fp) * (1 / mu) * math.Log(1/mu)
	two := float64(fp) * (2 / mu) * math.Log(2/mu)
	return (one + two) / nf
}
