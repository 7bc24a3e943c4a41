// Package reports holds the report type, the gate grammar and evaluation, and
// the writers that render a report. Reports and gates are pure functions of
// suite results: nothing here runs a model or reads global state.
//
// The pieces:
//
//   - Report (report.go) is the result of a run; docs/report-schema.md
//     documents it field by field.
//   - ParseGate parses a gate such as "accuracy.top1 >= 0.9"; Evaluate and
//     EvaluateAll check gates against a report; ValidateGates checks, before
//     a run, that every gate names a known suite and metric.
//   - Writer renders a report in one format; WriterFor picks one by name:
//     json, junit, sarif, markdown, html, cyclonedx (docs/reports.md). WriteFileAtomic
//     writes a file so that a failed write never leaves a partial report.
//   - The HTML writer (html.go) draws SVG charts (gonum/plot) from the
//     suites' details: robustness curves, ROC curves, per-group bars,
//     reliability diagrams and histograms (charts.go: suiteFigures lists
//     the conventions), and the certify, slices, drift and extraction
//     charts (suitecharts.go), the per-group bars of "by_group"
//     (bygroup.go); a malformed entry is skipped with a note.
//   - Waivers excuse failed gates until a date (ApplyWaivers); Compare
//     compares a report with its baseline (deltas, regression gates,
//     McNemar's test on per-sample outcomes, see PerSampleKey).
//   - Finding, ScanResult and ScanRules are the model scan's findings
//     (package scan produces them); ValidateSARIF checks SARIF output
//     against the committed SARIF 2.1.0 schema.
//   - ValidateJSON checks report JSON against the embedded JSON Schema,
//     schema/report.schema.json (draft 2020-12).
package reports
