package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Limits of the suite charts below; the JSON report holds every figure.
const (
	// maxSliceBars bounds the slices drawn per metric.
	maxSliceBars = 8
	// maxSliceLabel bounds a slice's name on the axis, in runes.
	maxSliceLabel = 34
	// psiModerate and psiSignificant are the PSI lines of the drift chart
	// (docs/metrics/drift.md, "Thresholds and their sources").
	psiModerate    = 0.1
	psiSignificant = 0.2
)

// The suites whose curves the bounds chart puts side by side: attacks
// bound robust accuracy from above, certification from below.
const (
	attackSuite  = "evasion"
	certifySuite = "certify"
)

// unitTicks label 0, 0.2, …, 1 only, so that the headroom left above 1
// for the legend has no tick labels.
var unitTicks = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.2, Label: "0.2"}, {Value: 0.4, Label: "0.4"},
	{Value: 0.6, Label: "0.6"}, {Value: 0.8, Label: "0.8"}, {Value: 1, Label: "1"}}

// dashed returns a dashed line style of colour c.
func dashed(c color.Color) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
}

// curvePoints reads a curve of the "curves" convention, {"eps",
// "robust_accuracy"} points, in order.
func curvePoints(v any) plotter.XYs {
	pts := asList(v)
	xys := make(plotter.XYs, 0, len(pts))
	for _, pt := range pts {
		m := asMap(pt)
		x, ok1 := asNum(m["eps"])
		y, ok2 := asNum(m["robust_accuracy"])
		if ok1 && ok2 {
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
	}
	return xys
}

// normCurves returns the curves of details d whose key ends in "."+norm,
// by key, sorted.
func normCurves(d map[string]any, norm string) (keys []string, curves map[string]any) {
	curves = asMap(d["curves"])
	for _, k := range sortedKeys(curves) {
		if strings.HasSuffix(k, "."+norm) {
			keys = append(keys, k)
		}
	}
	return keys, curves
}

// certifiedChart draws the certify suite's certified accuracy against the
// L2 radius, one dashed line per noise level σ, and, when attacks is the
// evasion suite's details with L2 curves, their robust accuracy against
// ε as solid lines in the same chart: the attacks give an upper bound on
// the robust accuracy, the certificates a lower bound (of the smoothed
// classifier, at confidence 1−α). The attacks' curves start at ε = 0 from
// the evasion suite's clean accuracy when hasClean (an attack with no
// budget leaves the clean accuracy), as the certified curves start at
// radius 0.
func certifiedChart(s SuiteResult, d, attacks map[string]any, clean float64, hasClean bool) (figure, error) {
	keys, curves := normCurves(d, "l2")
	if len(keys) == 0 {
		return figure{}, fmt.Errorf("no certified curves (curves.\"sigma=σ.l2\")")
	}
	akeys, acurves := normCurves(attacks, "l2")
	title := s.Name + ": certified accuracy, L2"
	if len(akeys) > 0 {
		title = "robust accuracy bounds, L2: " + attackSuite + " and " + s.Name
	}
	p := newPlot(title, "ε = L2 radius", "accuracy")
	p.Y.Min, p.Y.Max = 0, 1.3 // headroom for the legend
	p.Y.Tick.Marker = unitTicks
	for i, k := range akeys {
		xys := curvePoints(acurves[k])
		if len(xys) == 0 {
			return figure{}, fmt.Errorf("%s curve %q has no {eps, robust_accuracy} points", attackSuite, k)
		}
		xys = withClean(xys, clean, hasClean)
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return figure{}, err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(strings.TrimSuffix(k, ".l2")+" (attack: upper bound)", l, pts)
	}
	for i, k := range keys {
		xys := curvePoints(curves[k])
		if len(xys) == 0 {
			return figure{}, fmt.Errorf("curve %q has no {eps, robust_accuracy} points", k)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return figure{}, err
		}
		l.LineStyle = dashed(plotutil.Color(len(akeys) + i))
		p.Add(l)
		name := strings.Replace(strings.TrimSuffix(k, ".l2"), "sigma=", "σ = ", 1)
		p.Legend.Add(name+" (certified: lower bound)", l)
	}
	uri, err := svgURI(p)
	if err != nil {
		return figure{}, err
	}
	alpha, _ := asNum(d["alpha"])
	cap := fmt.Sprintf("Dashed: certified accuracy of the smoothed classifier against the L2 radius, one line per noise level σ (randomized smoothing, each certificate holding with confidence %g)", 1-alpha)
	if len(akeys) == 0 {
		return figure{Title: "Certified accuracy (L2)", Caption: cap + ".", Src: uri}, nil
	}
	cap += "; solid: robust accuracy of the model under the evasion suite's L2 attacks against ε, from its clean accuracy at ε = 0. " +
		"An attack's robust accuracy is an upper bound on the true robust accuracy, a certificate a lower bound (of the smoothed classifier, which σ makes less accurate)"
	n1, ok1 := asNum(attacks["samples"])
	n2, ok2 := asNum(d["samples"])
	if ok1 && ok2 {
		cap += fmt.Sprintf("; %s ran on %d samples, %s on %d", attackSuite, int(n1), s.Name, int(n2))
		if n1 != n2 {
			cap += " (not the same samples: compare shapes, not points)"
		}
	}
	return figure{Title: "Robust accuracy: attacks (upper) and certificates (lower), L2", Caption: cap + ".", Src: uri}, nil
}

// withClean returns the attack curve xys starting at ε = 0 with the clean
// accuracy, when ok and the curve starts above 0.
func withClean(xys plotter.XYs, clean float64, ok bool) plotter.XYs {
	if !ok || len(xys) == 0 || xys[0].X <= 0 {
		return xys
	}
	return append(plotter.XYs{{X: 0, Y: clean}}, xys...)
}

// severityGrid is the corruption heat map's grid: accuracy per family
// (row) and severity (column); NaN where a severity did not run.
type severityGrid struct {
	sev []float64
	z   [][]float64
}

func (g severityGrid) Dims() (c, r int)   { return len(g.sev), len(g.z) }
func (g severityGrid) Z(c, r int) float64 { return g.z[r][c] }
func (g severityGrid) X(c int) float64    { return float64(c) }
func (g severityGrid) Y(r int) float64    { return float64(r) }

// cellLabels writes each cell's accuracy at its centre.
type cellLabels struct {
	xys    plotter.XYs
	labels []string
}

func (l cellLabels) Len() int                    { return len(l.xys) }
func (l cellLabels) XY(i int) (float64, float64) { return l.xys[i].X, l.xys[i].Y }
func (l cellLabels) Label(i int) string          { return l.labels[i] }

// severityHeatmap draws the "<family>.severity" curves of the corruption
// suite as a heat map: accuracy per family (rows, worst mean accuracy at
// the top) and severity (columns), each cell labelled with its figure.
func severityHeatmap(suite string, curves map[string]any, keys []string) (figure, error) {
	sevSet := map[float64]bool{}
	type row struct {
		name string
		acc  map[float64]float64
		mean float64
	}
	rows := make([]row, 0, len(keys))
	for _, k := range keys {
		xys := curvePoints(curves[k])
		if len(xys) == 0 {
			return figure{}, fmt.Errorf("curve %q has no {eps, robust_accuracy} points", k)
		}
		r := row{name: strings.TrimSuffix(k, ".severity"), acc: map[float64]float64{}}
		for _, xy := range xys {
			sevSet[xy.X] = true
			r.acc[xy.X] = xy.Y
			r.mean += xy.Y
		}
		r.mean /= float64(len(xys))
		rows = append(rows, r)
	}
	// Best at the bottom, worst at the top (row 0 is drawn lowest); ties
	// by name.
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].mean != rows[j].mean {
			return rows[i].mean > rows[j].mean
		}
		return rows[i].name > rows[j].name
	})
	g := severityGrid{}
	for s := range sevSet {
		g.sev = append(g.sev, s)
	}
	sort.Float64s(g.sev)
	var lab cellLabels
	names := make([]string, len(rows))
	for r, rw := range rows {
		names[r] = rw.name
		z := make([]float64, len(g.sev))
		for c, s := range g.sev {
			v, ok := rw.acc[s]
			if !ok {
				z[c] = math.NaN()
				continue
			}
			z[c] = v
			lab.xys = append(lab.xys, plotter.XY{X: float64(c), Y: float64(r)})
			lab.labels = append(lab.labels, fmt.Sprintf("%.2f", v))
		}
		g.z = append(g.z, z)
	}
	pal, err := brewer.GetPalette(brewer.TypeDiverging, "RdYlGn", 9)
	if err != nil {
		return figure{}, err
	}
	hm := plotter.NewHeatMap(g, pal)
	hm.Min, hm.Max = 0, 1
	hm.NaN = color.Gray{Y: 230}
	p := newPlot(suite+": accuracy per corruption and severity", "severity", "")
	p.Add(hm)
	l, err := plotter.NewLabels(lab)
	if err != nil {
		return figure{}, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
		l.TextStyle[i].Font.Size = vg.Points(7)
	}
	p.Add(l)
	sevNames := make([]string, len(g.sev))
	for i, s := range g.sev {
		sevNames[i] = fmt.Sprintf("%g", s)
		if s == 0 {
			sevNames[i] = "clean"
		}
	}
	p.NominalX(sevNames...)
	p.NominalY(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(g.sev))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(rows))-0.5
	uri, err := svgURI(p)
	if err != nil {
		return figure{}, err
	}
	return figure{Title: "Accuracy per corruption × severity",
		Caption: "Accuracy of the model on each corruption family (rows, lowest mean accuracy at the top) at each severity (columns; clean is no corruption); red is low, green high, grey not run.",
		Src:     uri}, nil
}

// correctionNames spell out the slices suite's multiple-comparison
// corrections in captions.
var correctionNames = map[string]string{"bh": "Benjamini-Hochberg", "holm": "Holm"}

// slicesCharts draws the slices suite's significant slices
// (details.slices rows), one chart per metric: the first maxSliceBars
// slices in rank order, each as its metric on the slice beside the same
// metric on the rest of the data, labelled with the adjusted p-value.
func slicesCharts(suite string, d map[string]any) ([]figure, error) {
	type sl struct {
		name              string
		value, rest, padj float64
		size              float64
	}
	by := map[string][]sl{}
	var metrics []string
	for i, r := range asList(d["slices"]) {
		m := asMap(r)
		metric := asString(m["metric"])
		v, ok1 := asNum(m["value"])
		rest, ok2 := asNum(m["rest_value"])
		padj, ok3 := asNum(m["p_adjusted"])
		size, _ := asNum(m["size"])
		if metric == "" || !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("slices[%d]: want metric, value, rest_value and p_adjusted", i)
		}
		if _, seen := by[metric]; !seen {
			metrics = append(metrics, metric)
		}
		by[metric] = append(by[metric], sl{asString(m["slice"]), v, rest, padj, size})
	}
	correction := asString(d["correction"])
	if name, ok := correctionNames[correction]; ok {
		correction = name
	}
	var figs []figure
	for _, metric := range metrics {
		rows := by[metric]
		more := len(rows) - maxSliceBars
		if more > 0 {
			rows = rows[:maxSliceBars]
		}
		n := len(rows)
		// Rank 1 at the top: position n-1-i.
		names := make([]string, n)
		slice, rest := make(plotter.Values, n), make(plotter.Values, n)
		for i, r := range rows {
			pos := n - 1 - i
			name := r.name
			if rs := []rune(name); len(rs) > maxSliceLabel {
				name = string(rs[:maxSliceLabel-1]) + "…"
			}
			names[pos] = fmt.Sprintf("%s (p=%.2g)", name, r.padj)
			slice[pos], rest[pos] = r.value, r.rest
		}
		p := newPlot(suite+": worst slices by "+metric, metric, "")
		// Two bars fill 70% of a slice's row, at most 0.3 inch each.
		w := min((chartHeight-1.6*vg.Inch)/vg.Length(n+1)*0.35, 0.3*vg.Inch)
		for j, vals := range []plotter.Values{rest, slice} {
			bc, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return nil, err
			}
			bc.Horizontal = true
			bc.Color = []color.Color{color.Gray{Y: 170}, plotutil.Color(1)}[j]
			bc.LineStyle.Width = 0
			bc.Offset = w * vg.Length(float64(j)-0.5) * -1
			p.Add(bc)
			p.Legend.Add([]string{"the rest", "the slice"}[j], bc)
		}
		p.NominalY(names...)
		p.X.Min, p.X.Max = 0, 1
		p.X.Tick.Marker = unitTicks
		p.Y.Min, p.Y.Max = -0.5, float64(n)+0.3 // headroom for the legend
		uri, err := svgURI(p)
		if err != nil {
			return nil, err
		}
		cap := fmt.Sprintf("%s on each slice significantly worse than the rest of the data (coloured) and on the rest (grey), best-ranked at the top; p is the %s-adjusted p-value of the slice-against-rest test", metric, correction)
		if correction == "" {
			cap = strings.Replace(cap, "-adjusted", "adjusted", 1)
		}
		if more > 0 {
			cap += fmt.Sprintf("; %d more significant slice(s) are in the JSON report", more)
		}
		figs = append(figs, figure{Title: "Worst slices: " + metric, Caption: cap + ".", Src: uri})
	}
	return figs, nil
}

// driftChart draws the drift suite's per-feature PSI (details.features
// rows) as bars coloured by band, with the 0.1 and 0.2 lines dashed. With
// more than maxBarGroups features, the maxBarGroups highest are drawn.
func driftChart(suite string, rows []any) (figure, error) {
	type f struct {
		name string
		psi  float64
	}
	var fs []f
	for i, r := range rows {
		m := asMap(r)
		psi, ok := asNum(m["psi"])
		if !ok || math.IsNaN(psi) {
			if !hasKey(m, "psi") {
				return figure{}, fmt.Errorf("features[%d]: no psi", i)
			}
			continue // an undefined PSI (JSON null) is not drawn
		}
		fs = append(fs, f{asString(m["feature"]), psi})
	}
	if len(fs) == 0 {
		return figure{}, fmt.Errorf("no feature has a PSI")
	}
	cut := 0
	if len(fs) > maxBarGroups {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].psi > fs[j].psi })
		cut = len(fs) - maxBarGroups
		fs = fs[:maxBarGroups]
	}
	names := make([]string, len(fs))
	bands := [3]plotter.Values{}
	for b := range bands {
		bands[b] = make(plotter.Values, len(fs))
	}
	top := psiSignificant
	for i, x := range fs {
		names[i] = x.name
		b := 0
		switch {
		case x.psi > psiSignificant:
			b = 2
		case x.psi > psiModerate:
			b = 1
		}
		bands[b][i] = x.psi
		top = max(top, x.psi)
	}
	p := newPlot(suite+": population stability index per feature", "feature", "PSI")
	w := barPlotWidth / vg.Length(len(fs)) * 0.7
	colours := []color.Color{color.RGBA{R: 0x1f, G: 0x88, B: 0x3d, A: 0xff}, color.RGBA{R: 0xd4, G: 0xa7, B: 0x2c, A: 0xff}, color.RGBA{R: 0xcf, G: 0x22, B: 0x2e, A: 0xff}}
	labels := []string{fmt.Sprintf("PSI ≤ %g", psiModerate), fmt.Sprintf("%g < PSI ≤ %g", psiModerate, psiSignificant), fmt.Sprintf("PSI > %g", psiSignificant)}
	for b, vals := range bands {
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return figure{}, err
		}
		bc.Color = colours[b]
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(labels[b], bc)
	}
	for i, th := range []float64{psiModerate, psiSignificant} {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: th}, {X: float64(len(fs)) - 0.5, Y: th}})
		if err != nil {
			return figure{}, err
		}
		l.LineStyle = dashed(color.Gray{Y: uint8(60 + 60*i)})
		l.LineStyle.Width = vg.Points(1)
		p.Add(l)
	}
	p.Y.Min, p.Y.Max = 0, top*1.35 // headroom for the legend
	nominalX(p, names)
	uri, err := svgURI(p)
	if err != nil {
		return figure{}, err
	}
	cap := fmt.Sprintf("PSI of each feature's evaluation data against the reference on the reference's bins; dashed lines at %g (a moderate change, worth investigating) and %g (significant: the usual gate, drift.max_psi <= %g)", psiModerate, psiSignificant, psiSignificant)
	if cut > 0 {
		cap += fmt.Sprintf("; the %d highest of %d features are drawn", len(fs), len(fs)+cut)
	}
	return figure{Title: "Drift: PSI per feature", Caption: cap + ".", Src: uri}, nil
}

// extractionChart draws the extraction suite's curve
// (details.extraction_curve rows): the surrogate's fidelity and accuracy
// and the transfer rate of its adversarial examples against the number of
// queries, on a log axis when the budgets span a factor of 10 or more.
func extractionChart(suite string, rows []any) (figure, error) {
	series := []string{"fidelity", "accuracy", "transfer"}
	xys := make([]plotter.XYs, len(series))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range rows {
		m := asMap(r)
		b, ok := asNum(m["budget"])
		if !ok || b <= 0 {
			return figure{}, fmt.Errorf("extraction_curve[%d]: no positive budget", i)
		}
		lo, hi = min(lo, b), max(hi, b)
		for j, s := range series {
			if v, ok := asNum(m[s]); ok {
				xys[j] = append(xys[j], plotter.XY{X: b, Y: v})
			}
		}
	}
	if len(xys[0]) == 0 {
		return figure{}, fmt.Errorf("no budget has a fidelity")
	}
	p := newPlot(suite+": surrogate against queries", "queries", "rate")
	p.Y.Min, p.Y.Max = 0, 1.3 // headroom for the legend
	p.Y.Tick.Marker = unitTicks
	if hi >= 10*lo {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	labels := []string{"fidelity (agreement with the model)", "surrogate accuracy", "transfer rate of its PGD examples"}
	for j := range series {
		if len(xys[j]) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys[j])
		if err != nil {
			return figure{}, err
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(j), plotutil.Color(j), plotutil.Shape(j)
		p.Add(l, pts)
		p.Legend.Add(labels[j], l, pts)
	}
	uri, err := svgURI(p)
	if err != nil {
		return figure{}, err
	}
	return figure{Title: "Extraction curve",
		Caption: "Surrogates trained on the model's answers to more and more queries: how often each agrees with the model (fidelity), its accuracy on the labels, and how often PGD examples crafted on it fool the model (transfer).",
		Src:     uri}, nil
}
