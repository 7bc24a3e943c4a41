package corruption

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestImageShardsMergeEqualRun: on images (the digits CNN's 8×8 digits,
// which engine/shard_test.go's table config does not cover), the merge of
// 1, 2, 4 and 7 shards' units gives byte-identical metrics, undefined
// keys and details to Run on the same target (the expected figures are
// Run's): 40 samples in batches of 7 are 6 units, so 7 shards leave one
// empty.
func TestImageShardsMergeEqualRun(t *testing.T) {
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	tg.Seed, tg.Range, tg.Pool, tg.BatchSize = 5, [2]float64{0, 1}, runtime.Pool{Workers: 2}, 7
	raw := map[string]any{"samples": 40, "severities": []int{1, 3}}
	s := Suite{}
	want := resultJSON(t, suitetest.Run(t, s, tg, raw))
	cfg, err := s.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, n := range []int{1, 2, 4, 7} {
		st := &suite.MemStore{}
		var units int
		var common json.RawMessage
		for i := range n {
			u, c, err := s.RunShard(context.Background(), tg, cfg, suite.Shard{Index: i, Count: n}, st)
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
			}
			if common != nil && string(c) != string(common) {
				t.Fatalf("shard %d/%d: common part differs from shard 0's", i, n)
			}
			units, common = u, c
		}
		if units != 6 {
			t.Fatalf("%d units, want 6 (40 samples in batches of 7)", units)
		}
		results := make([]json.RawMessage, units)
		for u := range results {
			r, ok := st.Load(u)
			if !ok {
				t.Fatalf("%d shards: unit %d has no result", n, u)
			}
			results[u] = r
		}
		// The merge's target has no session and no data.
		mt := &suite.Target{Classes: tg.Classes, OutputKind: tg.OutputKind, Seed: tg.Seed, BatchSize: tg.BatchSize,
			Range: tg.Range, ConfidenceLevel: tg.ConfidenceLevel}
		res, err := s.Merge(context.Background(), mt, cfg, common, results)
		if err != nil {
			t.Fatalf("merge of %d: %v", n, err)
		}
		if got := resultJSON(t, res); got != want {
			t.Errorf("%d shards merged:\n%s\nRun:\n%s", n, got, want)
		}
		compared++
	}
	if compared != 4 {
		t.Errorf("compared %d merges, want 4", compared)
	}
}

// resultJSON writes a result's metrics, undefined keys and details as a
// report would.
func resultJSON(t *testing.T, r *suite.Result) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metrics": r.Metrics, "undefined": r.Undefined, "details": r.Details})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
