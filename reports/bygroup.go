package reports

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// maxByGroupCharts bounds the by-group charts of one suite (one per
// metric); the JSON report holds the others.
const maxByGroupCharts = 12

// groupBars are bar tops with error bars (plotter.YErrorBars' input).
type groupBars struct {
	plotter.XYs
	plotter.YErrors
}

// byGroupCharts draws the "by_group" details convention of the suites that
// report figures by group (groups.Write): {"<metric>": {"attributes":
// {"<column>": {"groups": [{"group", "value", "ci_low", "ci_high"}]}}}}.
// One chart per metric: the overall figure (the suite's metric <metric>)
// as the first bar, then every group of every column, one colour per
// column, with their confidence bounds as error bars where present.
// Malformed entries are skipped and named in notes.
func byGroupCharts(s SuiteResult) (figs []figure, notes []string) {
	d := asMap(generic(s.Details))
	bg := asMap(d["by_group"])
	if bg == nil {
		return nil, nil
	}
	keys := sortedKeys(bg)
	if len(keys) > maxByGroupCharts {
		notes = append(notes, fmt.Sprintf("%s: %d by-group charts not drawn (the first %d are); the JSON report holds every figure", s.Name, len(keys)-maxByGroupCharts, maxByGroupCharts))
		keys = keys[:maxByGroupCharts]
	}
	for _, key := range keys {
		f, err := byGroupChart(s, key, asMap(asMap(bg[key])["attributes"]))
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: by-group chart of %s not drawn: %v", s.Name, key, err))
			continue
		}
		figs = append(figs, f)
	}
	return figs, notes
}

// byGroupChart draws one metric by group beside its overall figure.
func byGroupChart(s SuiteResult, key string, attrs map[string]any) (figure, error) {
	if len(attrs) == 0 {
		return figure{}, fmt.Errorf("no attributes")
	}
	names := []string{"overall"}
	type bar struct {
		v, lo, hi float64
		ok, ci    bool
	}
	series := [][]bar{{}} // per column (0: overall), one entry per position
	overall, ok := s.Metrics[key]
	lo, okL := s.Metrics[key+".ci_low"]
	hi, okH := s.Metrics[key+".ci_high"]
	series[0] = append(series[0], bar{v: overall, lo: lo, hi: hi, ok: ok, ci: okL && okH})
	labels := []string{"overall"}
	undefined := 0
	for _, attr := range sortedKeys(attrs) {
		groups := asList(asMap(attrs[attr])["groups"])
		if len(names)+len(groups) > maxBarGroups+1 {
			groups = groups[:max(0, maxBarGroups+1-len(names))]
		}
		var col []bar
		for _, g := range groups {
			m := asMap(g)
			v, ok := asNum(m["value"])
			l, okL := asNum(m["ci_low"])
			h, okH := asNum(m["ci_high"])
			if !ok {
				undefined++
			}
			col = append(col, bar{v: v, lo: l, hi: h, ok: ok, ci: okL && okH})
			names = append(names, attr+"="+asString(m["group"]))
		}
		series = append(series, col)
		labels = append(labels, attr)
	}
	p := newPlot(s.Name+": "+key+" by group", "group", key)
	top := 0.0
	pos := 0
	w := barPlotWidth / vg.Length(len(names)) * 0.7
	for j, col := range series {
		if len(col) == 0 {
			continue
		}
		vals := make(plotter.Values, len(names))
		var eb groupBars
		for i, b := range col {
			if b.ok {
				vals[pos+i] = b.v
				top = math.Max(top, b.v)
			}
			if b.ok && b.ci {
				eb.XYs = append(eb.XYs, plotter.XY{X: float64(pos + i), Y: b.v})
				eb.YErrors = append(eb.YErrors, struct{ Low, High float64 }{b.v - b.lo, b.hi - b.v})
				top = math.Max(top, b.hi)
			}
		}
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return figure{}, err
		}
		bc.Color = plotutil.Color(j)
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(labels[j], bc)
		if len(eb.XYs) > 0 {
			e, err := plotter.NewYErrorBars(eb)
			if err != nil {
				return figure{}, err
			}
			p.Add(e)
		}
		pos += len(col)
	}
	p.Y.Min, p.Y.Max = 0, math.Max(1, top)*1.3 // headroom for the legend
	nominalX(p, names)
	uri, err := svgURI(p)
	if err != nil {
		return figure{}, err
	}
	cap := "The overall figure, then each group of each by column"
	if series[0][0].ci {
		cap += "; whiskers are the confidence bounds"
	}
	cap += ". Worst group and largest gap: " + key + ".worst_group and " + key + ".gap."
	if undefined > 0 {
		cap += fmt.Sprintf(" %d undefined group figure(s) are drawn as 0; the JSON report has them as null.", undefined)
	}
	return figure{Title: "By group: " + key, Caption: cap, Src: uri}, nil
}
