package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
)

// HTMLWriter writes the report as one self-contained HTML file: inline CSS,
// no scripts, no external requests; charts are drawn with gonum.org/v1/plot
// and embedded as SVG data URIs, pictures as PNG data URIs (see
// suiteFigures for the Details conventions they are drawn from). It shows
// the verdict, gates and waivers, the baseline comparison, every suite's
// metrics with their confidence intervals, the charts, scan findings and
// warnings. Text from the report is escaped by html/template.
//
// ArtifactDir is the run's output folder, against which relative picture
// paths in Details are resolved (suites write them relative to
// output.dir); without it such pictures are listed as not embedded.
type HTMLWriter struct {
	ArtifactDir string
}

// Format returns "html".
func (HTMLWriter) Format() string { return "html" }

type htmlMetric struct {
	Key   string
	Value string
	CI    string
	// Note says why CI does not contain Value (IntervalNote); "" when it
	// does.
	Note string
}

type htmlSuite struct {
	SuiteResult
	Rows    []htmlMetric
	Figures []figure
}

type htmlData struct {
	R       *Report
	Verdict string
	Class   string
	Started string
	Suites  []htmlSuite
	Notes   []string
}

var htmlFuncs = template.FuncMap{
	"num": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.4g", *v)
	},
	"signed": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%+.4g", *v)
	},
	"f4":    func(v float64) string { return fmt.Sprintf("%.4g", v) },
	"img":   func(s string) template.URL { return template.URL(s) },
	"first": firstLine,
	"short": short12,
	"limit": func(ids []string, n int) string {
		if len(ids) > n {
			return strings.Join(ids[:n], ", ") + ", …"
		}
		return strings.Join(ids, ", ")
	},
	"pct":      func(v float64) string { return strconv.FormatFloat(100*v, 'g', 6, 64) + "%" },
	"gateText": gateFailureText,
	"regText":  regressionText,
}

var htmlTemplate = template.Must(template.New("report").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gauntlet report — {{.R.Model.Path}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d7dae0;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.banner{padding:16px 20px;border-radius:8px;color:#fff;margin-bottom:16px}
.pass{background:#1f883d}.fail{background:#cf222e}.error{background:#9a6700}.interrupted{background:#57606a}
.meta{color:#e8f0ff;font-size:13px}.banner code{background:rgba(255,255,255,.22);color:#fff}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px}
th,td{border:1px solid #d7dae0;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef0f3}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:#1f883d;font-weight:600}.bad{color:#cf222e;font-weight:600}.waived{color:#9a6700;font-weight:600}.skip{color:#57606a}
.figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;background:#fff;border:1px solid #d7dae0;border-radius:6px;padding:8px;max-width:500px}
figure img{max-width:100%;display:block}figcaption{font-size:12px;color:#57606a;margin-top:4px}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px;margin:6px 0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef0f3;padding:1px 4px;border-radius:4px}
details{margin:6px 0}summary{cursor:pointer;color:#0969da}
</style>
</head>
<body><main>
<div class="banner {{.Class}}">
<h1>Gauntlet: {{.Verdict}} (exit {{.R.ExitCode}})</h1>
<div class="meta">Model <code>{{.R.Model.Path}}</code> · sha256 {{short .R.Model.SHA256}} · opset {{.R.Model.Opset}} · started {{.Started}} · {{printf "%.1f" .R.DurationS}} s · seed {{.R.Seed}} · gauntlet {{.R.Tool.Version}} · ONNX Runtime {{.R.Environment.ORTVersion}} on {{.R.Environment.ExecutionProvider}}{{if .R.Environment.Fallback}} (fallback: {{.R.Environment.Fallback}}){{end}}</div>
</div>
{{with .R.Gates}}<h2>Gates</h2>
<table><tr><th></th><th>Gate</th><th>Value</th><th>Note</th></tr>
{{range .}}<tr>{{if .Passed}}<td class="ok">PASS</td>{{else if .Waived}}<td class="waived">WAIVED</td>{{else}}<td class="bad">FAIL</td>{{end}}<td><code>{{.Expr}}</code></td><td class="num">{{num .Value}}</td><td>{{if .Waived}}waived until {{.Waiver.Until}}: {{.Waiver.Reason}} ({{gateText .}}){{else if not .Passed}}{{gateText .}}{{with .Waiver}}; waiver expired on {{.Until}} ({{.Reason}}){{end}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .R.Baseline}}<h2>Against the baseline</h2>
<p>Baseline <code>{{.Path}}</code>, started {{.StartedAt.UTC.Format "2006-01-02 15:04 UTC"}}, model sha256 {{short .ModelSHA256}}{{if .ModelChanged}} (model changed){{end}}{{if .DataChanged}} (data changed){{end}}.</p>
{{range .Warnings}}<div class="warn">{{.}}</div>{{end}}
{{with .Regressions}}<table><tr><th></th><th>Regression gate</th><th>Baseline</th><th>Now</th><th>Δ</th><th>Note</th></tr>
{{range .}}<tr>{{if eq .Status "skipped"}}<td class="skip">SKIPPED</td>{{else if .Waived}}<td class="waived">WAIVED</td>{{else if eq .Status "failed"}}<td class="bad">FAIL</td>{{else}}<td class="ok">PASS</td>{{end}}<td><code>{{.Expr}}</code></td><td class="num">{{num .Old}}</td><td class="num">{{num .New}}</td><td class="num">{{signed .Delta}}</td><td>{{if .Waived}}waived until {{.Waiver.Until}}: {{.Waiver.Reason}}{{else}}{{.Reason}}{{with .Waiver}}; waiver expired on {{.Until}} ({{.Reason}}){{end}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{range .Suites}}{{$s := .}}{{range .Outcomes}}<p><b>{{$s.Name}} / {{.Outcome}}</b>: McNemar exact p = {{f4 .PValue}} on {{.Paired}} paired samples — {{.Broken}} newly broken, {{.Fixed}} fixed (rate {{printf "%.4f" .OldAccuracy}} → {{printf "%.4f" .NewAccuracy}}).{{if .NewlyBroken}} Newly broken: {{limit .NewlyBroken 50}}{{end}}</p>
{{end}}{{if .OutcomesNote}}<p><b>{{.Name}}</b>: per-sample outcomes not compared: {{.OutcomesNote}}</p>{{end}}{{end}}
{{end}}
<h2>Suites</h2>
<table><tr><th>Suite</th><th>Version</th><th>Status</th><th>Time</th><th>Seed</th></tr>
{{range .Suites}}<tr><td><a href="#suite-{{.Name}}">{{.Name}}</a></td><td>{{.Version}}</td><td>{{.Status}}</td><td class="num">{{printf "%.2f" .DurationS}} s</td><td class="num">{{.Seed}}</td></tr>
{{end}}</table>
{{range .Suites}}<h2 id="suite-{{.Name}}">{{.Name}} <small>v{{.Version}} · {{.Status}}</small></h2>
{{if .Error}}<div class="warn"><b>Error:</b> {{.Error}}</div>{{end}}
{{range .Warnings}}<div class="warn">{{.}}</div>{{end}}
{{with .Figures}}<div class="figs">{{range .}}<figure><img alt="{{.Title}}" src="{{img .Src}}"><figcaption><b>{{.Title}}</b>{{if .Caption}} — {{.Caption}}{{end}}</figcaption></figure>{{end}}</div>{{end}}
{{with .Rows}}<details{{if le (len .) 20}} open{{end}}><summary>{{len .}} metrics</summary>
<table><tr><th>Metric</th><th>Value</th><th>Confidence interval</th></tr>
{{range .}}<tr><td><code>{{.Key}}</code></td><td class="num">{{.Value}}</td><td class="num"{{with .Note}} title="{{.}}"{{end}}>{{.CI}}{{if .Note}} ⚠ excludes the estimate{{end}}</td></tr>
{{end}}</table></details>{{end}}
{{with .Undefined}}<p>Undefined (0/0): {{range $i, $k := .}}{{if $i}}, {{end}}<code>{{$k}}</code>{{end}}</p>{{end}}
{{end}}
{{with .R.Scan}}{{if .Findings}}<h2>Model scan</h2>
<table><tr><th>Severity</th><th>Rule</th><th>Where</th><th>Finding</th></tr>
{{range .Findings}}<tr><td>{{.Severity}}</td><td><code>{{.RuleID}}</code></td><td>{{.Location}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if or .R.Warnings .Notes}}<h2>Warnings</h2>{{range .R.Warnings}}<div class="warn">{{.}}</div>{{end}}{{range .Notes}}<div class="warn">{{.}}</div>{{end}}{{end}}
<h2>Provenance</h2>
<table>
<tr><th>Config sha256</th><td><code>{{.R.ConfigSHA256}}</code></td></tr>
<tr><th>Model</th><td><code>{{.R.Model.Path}}</code> <code>{{.R.Model.SHA256}}</code></td></tr>
{{range .R.Data}}<tr><th>Data ({{.Role}})</th><td><code>{{.Path}}</code> <code>{{.SHA256}}</code>, {{.Rows}} rows</td></tr>
{{end}}<tr><th>Environment</th><td>{{.R.Environment.OS}}, {{.R.Environment.CPU}}{{if .R.Environment.GPU}}, {{.R.Environment.GPU}}{{end}}, {{.R.Environment.GoVersion}}, {{.R.Environment.Workers}} worker(s) × {{.R.Environment.IntraOpThreads}} thread(s), batch {{.R.Environment.BatchSize}}</td></tr>
</table>
<p style="color:#57606a;font-size:12px">Intervals are Clopper-Pearson (exact binomial) at {{if .R.ConfidenceLevel}}the {{pct .R.ConfidenceLevel}} confidence level{{else}}the configured confidence level{{end}}; the JSON report holds every figure.</p>
</main></body></html>
`))

// Write implements Writer.
func (hw HTMLWriter) Write(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("write html report: nil report")
	}
	d := htmlData{R: r, Started: r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")}
	switch {
	case r.Status == StatusInterrupted:
		d.Verdict, d.Class = "interrupted", "interrupted"
	case r.ExitCode == 0:
		d.Verdict, d.Class = "passed", "pass"
	case r.ExitCode == 1:
		d.Verdict, d.Class = "failed", "fail"
	default:
		d.Verdict, d.Class = "error", "error"
	}
	for _, s := range r.Suites {
		hs := htmlSuite{SuiteResult: s}
		keys := make([]string, 0, len(s.Metrics))
		for k := range s.Metrics {
			if strings.HasSuffix(k, ".ci_low") || strings.HasSuffix(k, ".ci_high") {
				if _, ok := s.Metrics[strings.TrimSuffix(strings.TrimSuffix(k, ".ci_low"), ".ci_high")]; ok {
					continue
				}
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row := htmlMetric{Key: k, Value: fmt.Sprintf("%.6g", s.Metrics[k])}
			lo, okL := s.Metrics[k+".ci_low"]
			hi, okH := s.Metrics[k+".ci_high"]
			if okL && okH {
				row.CI = fmt.Sprintf("[%.4g, %.4g]", lo, hi)
				row.Note, _ = IntervalNote(s, k)
			}
			hs.Rows = append(hs.Rows, row)
		}
		figs, notes := suiteFigures(s, hw.ArtifactDir, r.Suites...)
		gf, gn := byGroupCharts(s)
		hs.Figures = append(figs, gf...)
		d.Notes = append(append(d.Notes, notes...), gn...)
		d.Suites = append(d.Suites, hs)
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, d); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}
