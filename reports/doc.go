// Package reports holds the report type, the gate grammar and evaluation, and
// the writers that render a report. Reports and gates are pure functions of
// suite results: nothing here runs a model or reads global state.
package reports
