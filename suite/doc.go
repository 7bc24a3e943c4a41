// Package suite defines the one interface every test suite implements, the
// Target a suite runs against, the Result it returns, and the seed derivation
// that keeps results independent of worker count and scheduling. Suites never
// print, exit or read global state: everything they need is in the Target and
// their typed config, and everything they say is in the Result. A suite
// that shards also implements Sharder: it splits its work into units that
// a sharded or resumed run stores one by one (UnitStore), and merges them
// into the Result its Run gives.
package suite
