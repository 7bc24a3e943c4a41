package reports

import "encoding/json"

// StatusPartial is the status of a partial report: one shard of a sharded
// run, whose suites hold per-unit results instead of metrics. Gates are not
// evaluated on it and it is never passed; gauntlet merge makes the report.
const StatusPartial = "partial"

// ShardInfo says which part of a sharded run a partial report is, and
// what the shards of one run must share (docs/sharding.md).
type ShardInfo struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// WorkSHA256 is the digest of the effective config less the keys that
	// do not change results (output, runtime.shard, runtime.workers,
	// runtime.intra_op_threads, runtime.ort_library): the shards of one run
	// have the same.
	WorkSHA256 string `json:"work_sha256"`
	// Classes is the model's number of classes, which the merge gives the
	// suites.
	Classes int `json:"classes"`
}

// SuitePartial is one suite's part of a partial report.
type SuitePartial struct {
	// Units is the suite's number of work units over all shards.
	Units int `json:"units"`
	// Common is what every shard computes alike (identical in every
	// shard); its shape belongs to the suite.
	Common json.RawMessage `json:"common"`
	// Results are this shard's units' results, by unit, in order.
	Results []UnitResult `json:"results"`
}

// UnitResult is one work unit's result; its shape belongs to the suite.
type UnitResult struct {
	Unit   int             `json:"unit"`
	Result json.RawMessage `json:"result"`
}
