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
//   - Writer renders a report in one format; WriterFor picks one by name
//     (only "json" so far). WriteFileAtomic writes a file so that a failed
//     write never leaves a partial report.
//   - ValidateJSON checks report JSON against the embedded JSON Schema,
//     schema/report.schema.json (draft 2020-12).
package reports
