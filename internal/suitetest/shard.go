package suitetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// ResultJSON writes a result's metrics, undefined keys, details and
// warnings as a report would: what a merge must reproduce byte for byte.
func ResultJSON(t testing.TB, r *suite.Result) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metrics": r.Metrics, "undefined": r.Undefined, "details": r.Details, "warnings": r.Warnings})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// MergeTarget is the Target a merge gets: tg's Classes, OutputKind, Seed,
// BatchSize, Range and ConfidenceLevel, no session and no data, and out
// as its OutDir.
func MergeTarget(tg *suite.Target, out string) *suite.Target {
	return &suite.Target{Classes: tg.Classes, OutputKind: tg.OutputKind, Seed: tg.Seed, BatchSize: tg.BatchSize,
		Range: tg.Range, ConfidenceLevel: tg.ConfidenceLevel, BaseDir: tg.BaseDir, OutDir: out}
}

// RunShards runs the n shards of cfg on tg into one store, checks that
// every shard returns the same unit count and common part, and returns
// them with every unit's result in unit order (fatal when one is missing).
func RunShards(t testing.TB, s suite.Sharder, tg *suite.Target, cfg any, n int) (int, json.RawMessage, []json.RawMessage) {
	t.Helper()
	st := &suite.MemStore{}
	units := -1
	var common json.RawMessage
	for i := range n {
		u, c, err := s.RunShard(context.Background(), tg, cfg, suite.Shard{Index: i, Count: n}, st)
		if err != nil {
			t.Fatalf("shard %d/%d: %v", i, n, err)
		}
		if units >= 0 && (u != units || string(c) != string(common)) {
			t.Fatalf("shard %d/%d: %d units and common part %s, shard 0: %d units and %s", i, n, u, c, units, common)
		}
		units, common = u, c
	}
	return units, common, Units(t, st, units)
}

// Units returns st's results of units 0..units-1 in order; a missing one
// is fatal.
func Units(t testing.TB, st suite.UnitStore, units int) []json.RawMessage {
	t.Helper()
	out := make([]json.RawMessage, units)
	for u := range out {
		r, ok := st.Load(u)
		if !ok {
			t.Fatalf("unit %d of %d has no result", u, units)
		}
		out[u] = r
	}
	return out
}

// ShardsMergeEqualRun is issue 16's check for one suite: Run of raw on tg
// (its ResultJSON is the expected value) against the Merge of the units of
// n shards, for each n of ns (and the data files the result records); the
// unit count must be wantUnits. The
// shards run on tg; the merge gets MergeTarget with its own output folder.
// It returns the unsharded result.
func ShardsMergeEqualRun(t *testing.T, s suite.Suite, tg *suite.Target, raw map[string]any, ns []int, wantUnits int) *suite.Result {
	t.Helper()
	sh, ok := s.(suite.Sharder)
	if !ok {
		t.Fatalf("suite %s does not implement suite.Sharder", s.Name())
	}
	res := Run(t, s, tg, raw)
	want := ResultJSON(t, res)
	cfg, err := s.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, n := range ns {
		units, common, results := RunShards(t, sh, tg, cfg, n)
		if units != wantUnits {
			t.Fatalf("%d shards: %d units, want %d", n, units, wantUnits)
		}
		got, err := sh.Merge(context.Background(), MergeTarget(tg, t.TempDir()), cfg, common, results)
		if err != nil {
			t.Fatalf("merge of %d shards: %v", n, err)
		}
		if g := ResultJSON(t, got); g != want {
			t.Errorf("%d shards merged:\n%s\nRun:\n%s", n, g, want)
		}
		if !reflect.DeepEqual(got.Data, res.Data) {
			t.Errorf("%d shards merged: data files %v, Run %v", n, got.Data, res.Data)
		}
		compared++
	}
	if compared != len(ns) {
		t.Errorf("compared %d merges, want %d", compared, len(ns))
	}
	return res
}

// errKilled is what killStore's Save returns once its budget is spent.
var errKilled = errors.New("killed")

// killStore is a MemStore whose Save fails after k units (a run killed
// after k units: the units saved before stay, later ones are lost).
type killStore struct {
	suite.MemStore
	mu    sync.Mutex
	k     int
	saves int
}

// Save implements suite.UnitStore.
func (s *killStore) Save(u int, r json.RawMessage) error {
	s.mu.Lock()
	if s.k >= 0 && s.saves >= s.k {
		s.mu.Unlock()
		return errKilled
	}
	s.saves++
	s.mu.Unlock()
	return s.MemStore.Save(u, r)
}

// ResumeEqualsRun runs raw unsharded unit by unit (as --resume does),
// killed after k saved units for each k of ks, then resumes it on the
// same store: the resumed run must save exactly the units the killed one
// did not, and its merge must equal want (a ResultJSON of Run).
func ResumeEqualsRun(t *testing.T, s suite.Suite, tg *suite.Target, raw map[string]any, ks []int, want string) {
	t.Helper()
	sh := s.(suite.Sharder)
	cfg, err := s.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		st := &killStore{k: k}
		if _, _, err := sh.RunShard(context.Background(), tg, cfg, suite.Shard{}, st); !errors.Is(err, errKilled) {
			t.Fatalf("killed after %d units: RunShard = %v, want the store's kill", k, err)
		}
		if st.saves != k {
			t.Fatalf("killed after %d units: %d saved", k, st.saves)
		}
		st.k, st.saves = -1, 0
		units, common, err := sh.RunShard(context.Background(), tg, cfg, suite.Shard{}, st)
		if err != nil {
			t.Fatalf("resumed after %d units: %v", k, err)
		}
		if st.saves != units-k {
			t.Errorf("resumed after %d of %d units: it ran %d units, want %d", k, units, st.saves, units-k)
		}
		got, err := sh.Merge(context.Background(), MergeTarget(tg, t.TempDir()), cfg, common, Units(t, &st.MemStore, units))
		if err != nil {
			t.Fatalf("resumed after %d units: merge: %v", k, err)
		}
		if g := ResultJSON(t, got); g != want {
			t.Errorf("resumed after %d units:\n%s\nuninterrupted:\n%s", k, g, want)
		}
	}
}
