// Package suitetest builds what suite tests share: a Target opened the way
// the engine opens one (CPU execution provider, one intra-op thread, the
// session closed with the test) and a runner that checks a suite's result
// against the metrics the suite lists; and the shard checks every sharding
// suite's tests run (shard.go): the merge of 1..N shards' units, and a run
// resumed after k units, must equal the unsharded Run.
//
// It is for tests only. It imports runtime, cuda, data and suite, so those
// packages' own tests must not use it.
package suitetest
