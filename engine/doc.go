// Package engine runs a validated configuration: it opens the model and the
// data, checks gates against the metrics the configured suites can produce,
// runs each suite with its derived seed (a panic or error in one suite
// becomes that suite's error; the others still run), evaluates the gates and
// returns the report. It never prints or exits: progress and log lines go to
// the injected Progress, and the caller writes the report.
//
// A sharded run (Options.Shard) runs each suite's share of its units
// (suite.Sharder) and returns a partial report; a resumed one keeps each
// finished unit under StateDir. Merge combines the partial reports of a
// sharded run into the report the unsharded run gives (docs/sharding.md).
package engine
