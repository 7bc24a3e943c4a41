package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart sizes.
const (
	chartWidth  = 5.5 * vg.Inch
	chartHeight = 3.6 * vg.Inch
	// maxImageBytes bounds an image file embedded into the HTML report.
	maxImageBytes = 8 << 20
	// maxBarGroups bounds the groups drawn in one fairness bar chart.
	maxBarGroups = 24
	// barPlotWidth is about the width of a chart's data area.
	barPlotWidth = chartWidth - 1.1*vg.Inch
)

// longLabels reports whether group names would collide written flat under
// their bars: more than 4 of them, or any longer than the room each has.
func longLabels(names []string) bool {
	if len(names) > 4 {
		return true
	}
	room := 40 / max(len(names), 1) // characters per category, roughly
	for _, n := range names {
		if len(n) > room {
			return true
		}
	}
	return false
}

// figure is one chart or image of the HTML report: Src is a data: URI.
type figure struct {
	Title   string
	Caption string
	Src     string
}

// generic returns v as encoding/json would read it back (maps of any,
// float64 numbers), so that charts read the in-memory and the on-disk
// forms of Details alike.
func generic(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func asMap(v any) map[string]any  { m, _ := v.(map[string]any); return m }
func hasKey(v any, k string) bool { _, ok := asMap(v)[k]; return ok }
func asList(v any) []any          { l, _ := v.([]any); return l }
func asNum(v any) (float64, bool) { f, ok := v.(float64); return f, ok }
func asString(v any) string       { s, _ := v.(string); return s }

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// svgURI renders p as an SVG data URI.
func svgURI(p *plot.Plot) (string, error) {
	wt, err := p.WriterTo(chartWidth, chartHeight, "svg")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return "", err
	}
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// diagonalPlot returns a plot of the unit square with its dashed grey
// diagonal, labelled diag in the legend (bottom right): the frame of ROC
// curves and reliability diagrams.
func diagonalPlot(title, x, y, diag string) (*plot.Plot, error) {
	p := newPlot(title, x, y)
	p.Legend.Top, p.Legend.Left = false, false
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	line.Color = color.Gray{Y: 160}
	line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(line)
	p.Legend.Add(diag, line)
	return p, nil
}

// nominalX names the categories of p's X axis, slanting the names when
// they would collide written flat (longLabels).
func nominalX(p *plot.Plot, names []string) {
	p.NominalX(names...)
	if longLabels(names) {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// suiteFigures returns the charts and images the HTML report draws for a
// suite, from the Details conventions of docs/reports.md:
//
//   - "curves": {"<attack>.<norm>": [{"eps", "robust_accuracy"}, …]} —
//     robustness curves, one chart per norm, one line per attack (with the
//     corruption heat map and the certify chart: curveCharts);
//   - "slices": [{"metric", "slice", "value", "rest_value", …}] — bars of
//     the significant slices per metric (slicesCharts);
//   - "features" (rows with "psi") — PSI per feature (driftChart);
//   - "extraction_curve": [{"budget", "fidelity", …}] — the extraction
//     curve (extractionChart);
//   - "attacks": {"<name>": {"roc": [{"fpr", "tpr"}, …]}} — ROC curves of
//     membership-inference attacks, one chart, one line per attack;
//   - "attributes": {"<attr>": {"groups": [{"group", "<rate>", …}]}} — per-
//     group bars of selection, true-positive and false-positive rates;
//   - "calibration_bins": [{"accuracy", "confidence", "count"}] — a
//     reliability diagram;
//   - "histograms": {"<name>": {"edges", "series": {"<series>": counts},
//     "threshold", "title", "x"}} — histograms of a score, one chart per
//     name, one outline per series, a dashed threshold line;
//   - "images": [{"title", "png" (base64) or "path"}],
//     "examples": {"files": {"grid.png": path}} (evasion) and
//     "files": {"montage": path} (inversion) — embedded pictures. Relative
//     paths are relative to the output folder, dir.
//
// The "by_group" convention is drawn apart, by byGroupCharts (bygroup.go).
// A malformed entry is skipped and named in the returned notes; nothing
// here fails the report.
func suiteFigures(s SuiteResult, dir string, others ...SuiteResult) (figs []figure, notes []string) {
	d := asMap(generic(s.Details))
	if d == nil {
		return nil, nil
	}
	add := func(f []figure, err error, what string) {
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %s chart not drawn: %v", s.Name, what, err))
			return
		}
		figs = append(figs, f...)
	}
	if c := asMap(d["curves"]); c != nil {
		f, err := curveCharts(s, d, others)
		add(f, err, "robustness")
	}
	if rows := asList(d["slices"]); len(rows) > 0 {
		f, err := slicesCharts(s.Name, d)
		add(f, err, "slices")
	}
	if rows := asList(d["features"]); len(rows) > 0 && hasKey(rows[0], "psi") {
		f, err := driftChart(s.Name, rows)
		add([]figure{f}, err, "PSI")
	}
	if rows := asList(d["extraction_curve"]); len(rows) > 0 {
		f, err := extractionChart(s.Name, rows)
		add([]figure{f}, err, "extraction")
	}
	if a := asMap(d["attacks"]); a != nil {
		f, err := rocChart(s.Name, a)
		add(f, err, "ROC")
	}
	if a := asMap(d["attributes"]); a != nil {
		f, err := groupCharts(s.Name, a)
		add(f, err, "per-group")
	}
	if b := asList(d["calibration_bins"]); b != nil {
		f, err := reliabilityChart(s.Name, b)
		add(f, err, "reliability")
	}
	if h := asMap(d["histograms"]); h != nil {
		f, err := histogramCharts(s.Name, h)
		add(f, err, "histogram")
	}
	f, n := images(d, dir)
	figs = append(figs, f...)
	for _, x := range n {
		notes = append(notes, s.Name+": "+x)
	}
	return figs, notes
}

// curveCharts draws the "curves" convention: the corruption suite's
// "<family>.severity" curves as a heat map, the certify suite's L2 curves
// as certified accuracy (beside the L2 curves of the evasion suite among
// others, when it ran), and every other norm as robustness curves.
func curveCharts(s SuiteResult, d map[string]any, others []SuiteResult) ([]figure, error) {
	curves := asMap(d["curves"])
	var figs []figure
	rest := map[string]any{}
	sevKeys, _ := normCurves(d, "severity")
	if len(sevKeys) > 0 {
		f, err := severityHeatmap(s.Name, curves, sevKeys)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	certified := s.Name == certifySuite
	for k, v := range curves {
		if strings.HasSuffix(k, ".severity") || certified && strings.HasSuffix(k, ".l2") {
			continue
		}
		rest[k] = v
	}
	if certified {
		var attacks map[string]any
		clean, hasClean := 0.0, false
		for _, o := range others {
			if o.Name == attackSuite {
				attacks = asMap(generic(o.Details))
				clean, hasClean = o.Metrics["clean_accuracy"]
			}
		}
		if keys, _ := normCurves(d, "l2"); len(keys) > 0 {
			f, err := certifiedChart(s, d, attacks, clean, hasClean)
			if err != nil {
				return nil, err
			}
			figs = append(figs, f)
		}
	}
	if len(rest) == 0 {
		return figs, nil
	}
	f, err := robustnessCharts(s.Name, rest)
	return append(figs, f...), err
}

func robustnessCharts(suite string, curves map[string]any) ([]figure, error) {
	byNorm := map[string][]string{}
	for _, k := range sortedKeys(curves) {
		i := strings.LastIndexByte(k, '.')
		norm := k[i+1:]
		byNorm[norm] = append(byNorm[norm], k)
	}
	norms := make([]string, 0, len(byNorm))
	for n := range byNorm {
		norms = append(norms, n)
	}
	sort.Strings(norms)
	var figs []figure
	for _, norm := range norms {
		p := newPlot(suite+": robust accuracy, "+norm, "ε ("+norm+")", "robust accuracy")
		p.Y.Min, p.Y.Max = 0, 1
		var args []any
		for _, k := range byNorm[norm] {
			xys := curvePoints(curves[k])
			if len(xys) == 0 {
				return nil, fmt.Errorf("curve %q has no {eps, robust_accuracy} points", k)
			}
			name := k
			if i := strings.LastIndexByte(k, '.'); i >= 0 {
				name = k[:i]
			}
			args = append(args, name, xys)
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return nil, err
		}
		uri, err := svgURI(p)
		if err != nil {
			return nil, err
		}
		figs = append(figs, figure{Title: "Robustness curve (" + norm + ")", Caption: "Robust accuracy against the attack budget ε, one line per attack.", Src: uri})
	}
	return figs, nil
}

func rocChart(suite string, attacks map[string]any) ([]figure, error) {
	var args []any
	for _, name := range sortedKeys(attacks) {
		roc := asList(asMap(attacks[name])["roc"])
		if roc == nil {
			continue
		}
		xys := make(plotter.XYs, 0, len(roc))
		for _, pt := range roc {
			m := asMap(pt)
			x, ok1 := asNum(m["fpr"])
			y, ok2 := asNum(m["tpr"])
			if ok1 && ok2 {
				xys = append(xys, plotter.XY{X: x, Y: y})
			}
		}
		if len(xys) > 0 {
			args = append(args, name, xys)
		}
	}
	if len(args) == 0 {
		return nil, nil // "attacks" without ROC points: not a membership suite
	}
	p, err := diagonalPlot(suite+": ROC of the attacks", "false positive rate", "true positive rate", "chance")
	if err != nil {
		return nil, err
	}
	if err := plotutil.AddLines(p, args...); err != nil {
		return nil, err
	}
	uri, err := svgURI(p)
	if err != nil {
		return nil, err
	}
	return []figure{{Title: "ROC curves", Caption: "Membership-inference attacks: true against false positive rate; the dashed diagonal is guessing.", Src: uri}}, nil
}

// groupRates are the rates drawn per group.
var groupRates = []string{"selection_rate", "true_positive_rate", "false_positive_rate"}

func groupCharts(suite string, attrs map[string]any) ([]figure, error) {
	var figs []figure
	for _, attr := range sortedKeys(attrs) {
		groups := asList(asMap(attrs[attr])["groups"])
		if len(groups) == 0 {
			continue
		}
		if len(groups) > maxBarGroups {
			groups = groups[:maxBarGroups]
		}
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = asString(asMap(g)["group"])
		}
		p := newPlot(suite+": rates by "+attr, "group", "rate")
		p.Y.Min, p.Y.Max = 0, 1.3 // headroom for the legend
		// Each group's category is about plotWidth/len(groups) wide; its
		// bars fill 70% of it.
		w := barPlotWidth / vg.Length(len(groups)) * 0.7 / vg.Length(len(groupRates))
		var undefined int
		for j, rate := range groupRates {
			vals := make(plotter.Values, len(groups))
			for i, g := range groups {
				v, ok := asNum(asMap(g)[rate])
				if !ok {
					undefined++
				}
				vals[i] = v
			}
			bc, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return nil, err
			}
			bc.Color = plotutil.Color(j)
			bc.LineStyle.Width = 0
			bc.Offset = w * vg.Length(float64(j)-float64(len(groupRates)-1)/2)
			p.Add(bc)
			p.Legend.Add(strings.ReplaceAll(rate, "_", " "), bc)
		}
		nominalX(p, names)
		uri, err := svgURI(p)
		if err != nil {
			return nil, err
		}
		cap := "Selection, true-positive and false-positive rate of each group of " + attr + "."
		if undefined > 0 {
			cap += fmt.Sprintf(" %d undefined rate(s) (0/0) are drawn as 0; the JSON report has them as null.", undefined)
		}
		figs = append(figs, figure{Title: "Per-group rates: " + attr, Caption: cap, Src: uri})
	}
	return figs, nil
}

func reliabilityChart(suite string, bins []any) ([]figure, error) {
	var xys plotter.XYs
	for _, b := range bins {
		m := asMap(b)
		c, ok1 := asNum(m["confidence"])
		a, ok2 := asNum(m["accuracy"])
		if ok1 && ok2 {
			xys = append(xys, plotter.XY{X: c, Y: a})
		}
	}
	if len(xys) == 0 {
		return nil, nil
	}
	p, err := diagonalPlot(suite+": reliability diagram", "mean confidence in bin", "accuracy in bin", "perfect calibration")
	if err != nil {
		return nil, err
	}
	if err := plotutil.AddLinePoints(p, "model", xys); err != nil {
		return nil, err
	}
	uri, err := svgURI(p)
	if err != nil {
		return nil, err
	}
	return []figure{{Title: "Calibration", Caption: "Accuracy against mean confidence per non-empty confidence bin; the dashed diagonal is perfect calibration.", Src: uri}}, nil
}

// images collects embedded pictures: details["images"] entries, the
// evasion suite's adversarial grid and the inversion suite's montage.
// Relative paths are resolved against dir (the output folder).
func images(d map[string]any, dir string) (figs []figure, notes []string) {
	type img struct{ title, png, path string }
	var list []img
	for _, e := range asList(d["images"]) {
		m := asMap(e)
		list = append(list, img{asString(m["title"]), asString(m["png"]), asString(m["path"])})
	}
	if p := asString(asMap(asMap(d["examples"])["files"])["grid.png"]); p != "" {
		list = append(list, img{"Adversarial examples: a triplet per example — clean, adversarial, perturbation (grey is none)", "", p})
	}
	if p := asString(asMap(d["files"])["montage"]); p != "" {
		list = append(list, img{"Model inversion: reconstructions (top) over class means (bottom)", "", p})
	}
	for _, im := range list {
		data := im.png
		if data == "" && im.path != "" {
			b, err := readImage(im.path, dir)
			if err != nil {
				notes = append(notes, fmt.Sprintf("image %q not embedded: %v", im.title, err))
				continue
			}
			data = base64.StdEncoding.EncodeToString(b)
		}
		if data == "" {
			continue
		}
		figs = append(figs, figure{Title: im.title, Src: "data:image/png;base64," + data})
	}
	return figs, notes
}

func readImage(path, dir string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		if dir == "" {
			return nil, fmt.Errorf("path %s is relative and the output folder is not known", path)
		}
		clean := filepath.Clean(path)
		if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("path %s leaves the output folder", path)
		}
		path = filepath.Join(dir, clean)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxImageBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, st.Size(), maxImageBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, fmt.Errorf("%s is not a PNG file", path)
	}
	return b, nil
}

// histogramCharts draws each histogram of the "histograms" convention as
// outlined steps, one per series, over the common bin edges, with the
// threshold as a dashed vertical line when given.
func histogramCharts(suite string, hists map[string]any) ([]figure, error) {
	var figs []figure
	for _, name := range sortedKeys(hists) {
		h := asMap(hists[name])
		var edges []float64
		for _, e := range asList(h["edges"]) {
			v, ok := asNum(e)
			if !ok {
				return nil, fmt.Errorf("histogram %q: an edge is not a number", name)
			}
			edges = append(edges, v)
		}
		series := asMap(h["series"])
		if len(edges) < 2 || len(series) == 0 {
			return nil, fmt.Errorf("histogram %q: want edges (2 or more) and series", name)
		}
		title := asString(h["title"])
		if title == "" {
			title = name
		}
		p := newPlot(suite+": "+title, asString(h["x"]), "inputs")
		top := 0.0
		for i, sn := range sortedKeys(series) {
			counts := asList(series[sn])
			if len(counts) != len(edges)-1 {
				return nil, fmt.Errorf("histogram %q series %q: %d counts for %d bins", name, sn, len(counts), len(edges)-1)
			}
			steps := plotter.XYs{{X: edges[0], Y: 0}}
			for b, c := range counts {
				v, ok := asNum(c)
				if !ok {
					return nil, fmt.Errorf("histogram %q series %q: a count is not a number", name, sn)
				}
				top = max(top, v)
				steps = append(steps, plotter.XY{X: edges[b], Y: v}, plotter.XY{X: edges[b+1], Y: v})
			}
			steps = append(steps, plotter.XY{X: edges[len(edges)-1], Y: 0})
			line, err := plotter.NewLine(steps)
			if err != nil {
				return nil, err
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			p.Add(line)
			p.Legend.Add(sn, line)
		}
		p.Y.Min, p.Y.Max = 0, max(top, 1)*1.3 // headroom for the legend
		if th, ok := asNum(h["threshold"]); ok && !math.IsNaN(th) && !math.IsInf(th, 0) {
			line, err := plotter.NewLine(plotter.XYs{{X: th, Y: 0}, {X: th, Y: max(top, 1)}})
			if err != nil {
				return nil, err
			}
			line.Color = color.Gray{Y: 60}
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			p.Legend.Add(fmt.Sprintf("threshold %.3g", th), line)
		}
		uri, err := svgURI(p)
		if err != nil {
			return nil, err
		}
		figs = append(figs, figure{Title: "Histogram: " + title, Caption: "Inputs per bin of " + name + ", one outline per series; the dashed line is the threshold.", Src: uri})
	}
	return figs, nil
}
