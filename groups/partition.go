package groups

import (
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// IntersectionSep joins attribute names into the intersection's name
// ("sex&race") and group values into an intersectional group's name
// ("Female&Black").
const IntersectionSep = "&"

// Attribute is one analysed attribute: a grouping column, or the
// intersection of several. Its groups are the observed values (value
// tuples for an intersection), sorted as Fairlearn sorts them.
type Attribute struct {
	// Name is the column name, or the parts joined by IntersectionSep.
	Name string
	// Parts are the columns the attribute is made of.
	Parts []string
	// Groups are the group names (intersections: values joined by
	// IntersectionSep).
	Groups []string
	// Values holds, per group, the value of each part.
	Values [][]string
	// Of maps each cell of the finest partition to its group.
	Of []int32
}

// maxDense is the largest number of value combinations indexed densely
// when the finest partition is built; beyond it a map is used.
const maxDense = 1 << 22

// Partition splits rows by the grouping columns. Cell[i] is row i's cell
// of the finest partition (the observed value combinations of all columns,
// in sorted tuple order); each attribute maps cells to its groups.
type Partition struct {
	Cell   []int32
	NCells int
	Attrs  []Attribute
}

// NewPartition encodes the grouping columns cols (named names, one string
// per row each). With intersections, the intersection of all columns is
// added as the last attribute. Empty values and columns with a single
// value are errors (exit code 2); noun names the columns in them
// ("sensitive column" for fairness, "by column" for the others).
func NewPartition(noun string, names []string, cols [][]string, intersections bool) (*Partition, error) {
	if len(cols) == 0 {
		return nil, errs.Invalidf("no %ss", noun)
	}
	n := len(cols[0])
	if n == 0 {
		return nil, errs.Invalidf("%s %q is empty (no rows)", noun, names[0])
	}
	k := len(cols)
	values := make([][]string, k) // sorted distinct values per column
	codes := make([][]int32, k)
	for j, col := range cols {
		if len(col) != n {
			return nil, errs.Invalidf("%s %q has %d rows, %q has %d", noun, names[j], len(col), names[0], n)
		}
		// One map lookup per row: provisional codes in first-seen order,
		// renumbered to sorted order afterwards.
		idx := map[string]int32{}
		var seen []string
		cs := make([]int32, n)
		empty, first := 0, -1
		for i, v := range col {
			if v == "" {
				if empty == 0 {
					first = i
				}
				empty++
				continue
			}
			c, ok := idx[v]
			if !ok {
				c = int32(len(seen))
				idx[v] = c
				seen = append(seen, v)
			}
			cs[i] = c
		}
		if empty > 0 {
			return nil, errs.Invalidf("%s %q: %d empty value(s); first at sample %d (fill or drop those rows)", noun, names[j], empty, first)
		}
		vals := slices.Clone(seen)
		slices.Sort(vals)
		if len(vals) < 2 {
			return nil, errs.Invalidf("%s %q has a single group (%q): comparing groups needs at least two", noun, names[j], vals[0])
		}
		renum := make([]int32, len(seen))
		for c, v := range vals {
			renum[idx[v]] = int32(c)
		}
		for i, c := range cs {
			cs[i] = renum[c]
		}
		values[j], codes[j] = vals, cs
	}

	// Mixed-radix key of each row's value tuple: sorting keys sorts tuples.
	stride := make([]uint64, k)
	prod := uint64(1)
	for j := k - 1; j >= 0; j-- {
		stride[j] = prod
		card := uint64(len(values[j]))
		if prod > (1<<62)/card {
			return nil, errs.Invalidf("%ss %s: too many value combinations", noun, strings.Join(names, ", "))
		}
		prod *= card
	}
	key := func(i int) uint64 {
		var x uint64
		for j := range codes {
			x += uint64(codes[j][i]) * stride[j]
		}
		return x
	}
	p := &Partition{Cell: make([]int32, n)}
	var keys []uint64
	if prod <= maxDense {
		dense := make([]int32, prod)
		for i := range n {
			dense[key(i)] = 1
		}
		for x, used := range dense {
			if used != 0 {
				dense[x] = int32(len(keys))
				keys = append(keys, uint64(x))
			}
		}
		for i := range n {
			p.Cell[i] = dense[key(i)]
		}
	} else {
		m := map[uint64]int32{}
		for i := range n {
			m[key(i)] = 0
		}
		for x := range m {
			keys = append(keys, x)
		}
		slices.Sort(keys)
		for c, x := range keys {
			m[x] = int32(c)
		}
		for i := range n {
			p.Cell[i] = m[key(i)]
		}
	}
	p.NCells = len(keys)
	cellValue := func(c, j int) int32 { return int32(keys[c] / stride[j] % uint64(len(values[j]))) }

	for j, name := range names {
		a := Attribute{Name: name, Parts: []string{name}, Of: make([]int32, p.NCells)}
		for _, v := range values[j] {
			a.Groups = append(a.Groups, v)
			a.Values = append(a.Values, []string{v})
		}
		for c := range p.NCells {
			a.Of[c] = cellValue(c, j)
		}
		p.Attrs = append(p.Attrs, a)
	}
	if intersections && k > 1 {
		a := Attribute{Name: strings.Join(names, IntersectionSep), Parts: append([]string(nil), names...), Of: make([]int32, p.NCells)}
		seen := map[string]bool{}
		for c := range p.NCells {
			vs := make([]string, k)
			for j := range k {
				vs[j] = values[j][cellValue(c, j)]
			}
			g := strings.Join(vs, IntersectionSep)
			if seen[g] {
				return nil, errs.Invalidf("%ss %s: intersectional group name %q is ambiguous (a value contains %q)", noun, strings.Join(names, ", "), g, IntersectionSep)
			}
			seen[g] = true
			a.Groups = append(a.Groups, g)
			a.Values = append(a.Values, vs)
			a.Of[c] = int32(c)
		}
		p.Attrs = append(p.Attrs, a)
	}
	return p, nil
}

// Group returns the group of attribute a that row i belongs to.
func (p *Partition) Group(a, i int) int { return int(p.Attrs[a].Of[p.Cell[i]]) }
