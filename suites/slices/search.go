package slices

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// column is one slicing column, encoded: Code[i] is row i's value (a
// category, or a quantile bin of a numeric column), Labels name them as
// conditions ("sex=Female", "age>60").
type column struct {
	Name    string
	Numeric bool
	// Edges are a numeric column's bin edges: bin 0 is x ≤ Edges[0], bin
	// j is Edges[j−1] < x ≤ Edges[j], the last bin x > the last edge.
	Edges  []float64
	Labels []string
	Code   []int32
}

// encode encodes the column name with one string per row. The column is
// numeric when every value parses as a finite number and it has more than
// bins distinct values; its bin edges are then the type-7 quantiles k/bins,
// k = 1..bins−1, of its values in the evaluation data (numpy's default),
// duplicate edges and an edge at the maximum dropped (a column left with no
// edge is categorical). Otherwise each distinct value is a category. An
// empty value, or a categorical column with more than MaxValues values, is
// errs.Invalid naming key, the column and the row.
func encode(key, name string, vals []string, bins int) (column, error) {
	c := column{Name: name, Code: make([]int32, len(vals))}
	nums := make([]float64, len(vals))
	numeric := true
	distinct := map[string]int32{}
	for i, v := range vals {
		if v == "" {
			return c, errs.Invalidf("%s: column %q: empty value at sample %d (fill or drop those rows)", key, name, i)
		}
		if _, ok := distinct[v]; !ok {
			distinct[v] = 0
		}
		if numeric {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				numeric = false
			}
			nums[i] = x
		}
	}
	if numeric && len(distinct) > bins {
		c.Numeric = true
		sorted := slices.Clone(nums)
		slices.Sort(sorted)
		for k := 1; k < bins; k++ {
			e := stats.Quantile(sorted, float64(k)/float64(bins))
			if len(c.Edges) == 0 || e > c.Edges[len(c.Edges)-1] {
				c.Edges = append(c.Edges, e)
			}
		}
		// The top edge may equal the maximum: that bin would be empty.
		if c.Edges[len(c.Edges)-1] >= sorted[len(sorted)-1] {
			c.Edges = c.Edges[:len(c.Edges)-1]
		}
	}
	if c.Numeric && len(c.Edges) > 0 {
		for i, x := range nums {
			j, _ := slices.BinarySearch(c.Edges, x) // first edge ≥ x
			c.Code[i] = int32(j)
		}
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
		for j := 0; j <= len(c.Edges); j++ {
			switch {
			case j == 0:
				c.Labels = append(c.Labels, name+"<="+f(c.Edges[0]))
			case j == len(c.Edges):
				c.Labels = append(c.Labels, name+">"+f(c.Edges[j-1]))
			default:
				c.Labels = append(c.Labels, f(c.Edges[j-1])+"<"+name+"<="+f(c.Edges[j]))
			}
		}
		return c, nil
	}
	// No edge left (every quantile at the maximum): one slice per value.
	c.Numeric, c.Edges = false, nil
	if len(distinct) > MaxValues {
		return c, errs.Invalidf("%s: column %q has %d distinct values, more than %d: slice on a coarser column, or a numeric one", key, name, len(distinct), MaxValues)
	}
	keys := make([]string, 0, len(distinct))
	for v := range distinct {
		keys = append(keys, v)
	}
	slices.Sort(keys)
	for j, v := range keys {
		distinct[v] = int32(j)
		c.Labels = append(c.Labels, name+"="+v)
	}
	for i, v := range vals {
		c.Code[i] = distinct[v]
	}
	return c, nil
}

// Slice is one tested conjunction of conditions and its figures for one
// metric.
type Slice struct {
	// Cols and Vals are the conditions: column index and value code,
	// columns ascending.
	Cols, Vals []int
	Name       string
	// N and Hits are the slice's rows and those where the metric holds;
	// RestN and RestHits the complement's.
	N, Hits, RestN, RestHits int
	Rate, RestRate           float64
	// Gap is RestRate − Rate: positive when the slice is worse.
	Gap       float64
	Test      string
	P, PAdj   float64
	Tested    bool
	Reported  bool // significant, worse than the rest and than its parents
	WorseThan bool // worse than every parent (true at depth 1)
}

func (s *Slice) key() string { return sliceKey(s.Cols, s.Vals) }

func sliceKey(cols, vals []int) string {
	var b strings.Builder
	for i := range cols {
		b.WriteString(strconv.Itoa(cols[i]))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(vals[i]))
		b.WriteByte(',')
	}
	return b.String()
}

// Search is the outcome of one metric's search.
type Search struct {
	Metric string
	// All are the slices of at least minSize rows (tested or not);
	// Tested counts those whose complement also has minSize rows: the
	// family of the correction.
	All    []*Slice
	Tested int
	// Found are the reported slices, ranked by Gap (largest first), then
	// by adjusted p-value, then by name.
	Found []*Slice
	// Rate is the metric over every row.
	Rate float64

	cols []column
}

// search tests every conjunction of up to depth conditions on distinct
// columns of cols with at least minSize rows (slice and complement) for a
// lower rate of hit than on the rest: the two-sided two-proportion test
// of stats.TwoProportionTest (pooled z, or Fisher's exact test when an
// expected cell is below 5), adjusted over every slice tested by method,
// significant at alpha. A slice is reported when it is significant, its
// rate is below the rest's, and (depth > 1) below each parent's, the
// slices with one condition fewer.
func search(metric string, cols []column, hit []bool, depth, minSize int, alpha float64, method string) *Search {
	n := len(hit)
	total := 0
	for _, h := range hit {
		if h {
			total++
		}
	}
	s := &Search{Metric: metric, cols: cols, Rate: float64(total) / float64(max(n, 1))}
	byKey := map[string]*Slice{}
	combo := make([]int, 0, depth)
	var rec func(start int)
	rec = func(start int) {
		if len(combo) > 0 {
			s.count(cols, combo, hit, n, total, minSize, byKey)
		}
		if len(combo) == depth {
			return
		}
		for c := start; c < len(cols); c++ {
			combo = append(combo, c)
			rec(c + 1)
			combo = combo[:len(combo)-1]
		}
	}
	rec(0)
	slices.SortStableFunc(s.All, func(a, b *Slice) int {
		if c := cmp.Compare(len(a.Cols), len(b.Cols)); c != 0 {
			return c
		}
		return strings.Compare(a.key(), b.key())
	})
	var ps []float64
	var tested []*Slice
	for _, x := range s.All {
		if x.Tested {
			ps = append(ps, x.P)
			tested = append(tested, x)
		}
	}
	s.Tested = len(tested)
	adj := stats.AdjustP(make([]float64, len(ps)), ps, method)
	for i, x := range tested {
		x.PAdj = adj[i]
	}
	for _, x := range s.All {
		x.WorseThan = true
		if len(x.Cols) > 1 {
			for drop := range x.Cols {
				pc := slices.Delete(slices.Clone(x.Cols), drop, drop+1)
				pv := slices.Delete(slices.Clone(x.Vals), drop, drop+1)
				if p, ok := byKey[sliceKey(pc, pv)]; ok && !(x.Rate < p.Rate) {
					x.WorseThan = false
				}
			}
		}
		x.Reported = x.Tested && x.PAdj <= alpha && x.Gap > 0 && x.WorseThan
		if x.Reported {
			s.Found = append(s.Found, x)
		}
	}
	slices.SortStableFunc(s.Found, func(a, b *Slice) int {
		if c := cmp.Compare(b.Gap, a.Gap); c != 0 {
			return c
		}
		if c := cmp.Compare(a.PAdj, b.PAdj); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return s
}

// count adds the slices of the columns combo to s.
func (s *Search) count(cols []column, combo []int, hit []bool, n, total, minSize int, byKey map[string]*Slice) {
	cells := 1
	for _, c := range combo {
		cells *= len(cols[c].Labels)
	}
	cn := make([]int, cells)
	ch := make([]int, cells)
	for i := range n {
		x := 0
		for _, c := range combo {
			x = x*len(cols[c].Labels) + int(cols[c].Code[i])
		}
		cn[x]++
		if hit[i] {
			ch[x]++
		}
	}
	for x := range cells {
		if cn[x] < minSize {
			continue
		}
		vals := make([]int, len(combo))
		r := x
		for j := len(combo) - 1; j >= 0; j-- {
			card := len(cols[combo[j]].Labels)
			vals[j] = r % card
			r /= card
		}
		names := make([]string, len(combo))
		for j, c := range combo {
			names[j] = cols[c].Labels[vals[j]]
		}
		sl := &Slice{Cols: slices.Clone(combo), Vals: vals, Name: strings.Join(names, " & "),
			N: cn[x], Hits: ch[x], RestN: n - cn[x], RestHits: total - ch[x]}
		sl.Rate = float64(sl.Hits) / float64(sl.N)
		if sl.RestN > 0 {
			sl.RestRate = float64(sl.RestHits) / float64(sl.RestN)
			sl.Gap = sl.RestRate - sl.Rate
		}
		if sl.RestN >= minSize {
			sl.Tested = true
			sl.Test, sl.P, _ = stats.TwoProportionTest(int64(sl.Hits), int64(sl.N), int64(sl.RestHits), int64(sl.RestN))
		}
		s.All = append(s.All, sl)
		byKey[sl.key()] = sl
	}
}
