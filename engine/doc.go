// Package engine runs a validated configuration: it opens the model and the
// data, checks gates against the metrics the configured suites can produce,
// runs each suite with its derived seed (a panic or error in one suite
// becomes that suite's error; the others still run), evaluates the gates and
// returns the report. It never prints or exits: progress and log lines go to
// the injected Progress, and the caller writes the report.
package engine
