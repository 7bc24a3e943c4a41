package evasion

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/quantize"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// resultJSON is what a merge must reproduce byte for byte: the metrics,
// undefined keys, details and warnings.
func resultJSON(t *testing.T, r *suite.Result) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metrics": r.Metrics, "undefined": r.Undefined, "details": r.Details, "warnings": r.Warnings})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShardMergeEqualsRun: AutoAttack (its later parts run on the points
// still robust) and PGD on the fused loop (fuse: always) on the digits
// CNN, saving 30 examples (their files must equal Run's too), and FGSM on
// its softmax twin (probability outputs), on the first 80
// digits in attack batches of 24 (4 batches a pass, the clean pass
// first), run as N = 2, 3 and 7 shards (RunShard) and merged (Merge, on a
// target without session or data) equal Run's result byte for byte: the
// expected figures are Run's.
func TestShardMergeEqualsRun(t *testing.T) {
	for _, c := range []struct {
		model string
		units int
		raw   map[string]any
	}{
		// 4 batches × (the clean pass and 3 attack passes).
		{"digits_cnn.onnx", 16, map[string]any{"batch_size": 24, "fuse": "always", "save_examples": 30, "attacks": []any{
			map[string]any{"name": "autoattack", "eps": []any{0.1}, "steps": 10, "queries": 50},
			map[string]any{"name": "pgd", "eps": []any{0.05, 0.1}, "steps": 5},
		}}},
		// Probability outputs: the sanity flag's text comes from the
		// common part (4 batches × 2 passes).
		{"digits_cnn_softmax.onnx", 8, map[string]any{"batch_size": 24, "attacks": []any{
			map[string]any{"name": "fgsm", "eps": []any{0.1}},
		}}},
	} {
		t.Run(c.model, func(t *testing.T) {
			tg := digits(t, c.model, 2, 64)
			const n = 80
			tg.Data.X, tg.Data.Y, tg.Data.N = tg.Data.X[:n*tg.Data.SampleSize()], tg.Data.Y[:n], n
			shardMergeEqualsRun(t, tg, c.units, c.raw)
		})
	}
}

// TestShardMergeStraightThrough: on the INT8 Adult MLP of
// TestStraightThroughRecorded, whose exact gradients pass straight
// through QuantizeLinear and DequantizeLinear, the merge reports
// details.gradient.straight_through as Run does (1,000 rows in attack
// batches of 256: 4 batches × the clean and FGSM passes).
func TestShardMergeStraightThrough(t *testing.T) {
	dir := testutil.Example(t, "adult")
	m, err := onnx.Load(filepath.Join(dir, "adult_mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]quantize.Range{}
	for _, a := range quantize.Activations(m) {
		ranges[a] = quantize.Range{Min: -8, Max: 8}
	}
	q, _, err := quantize.Static(m, ranges)
	if err != nil {
		t.Fatal(err)
	}
	qpath := filepath.Join(t.TempDir(), "adult_int8.onnx")
	if err := q.Save(qpath); err != nil {
		t.Fatal(err)
	}
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	tg := suitetest.Open(t, qpath, ds)
	tg.Range, tg.BatchSize, tg.Pool, tg.Seed, tg.OutDir = [2]float64{0, 1}, 256, runtime.Pool{Workers: 2}, 1, t.TempDir()
	want := shardMergeEqualsRun(t, tg, 8, map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}}}})
	if st, _ := want.Details["gradient"].(map[string]any)["straight_through"].([]string); len(st) == 0 {
		t.Fatalf("details.gradient %v: no straight_through to compare", want.Details["gradient"])
	}
}

// shardMergeEqualsRun runs raw's attacks on tg with Run, then as 2, 3 and
// 7 shards merged, checks that each merge equals Run (and, with
// save_examples, that the files do), and returns Run's result.
func shardMergeEqualsRun(t *testing.T, tg *suite.Target, wantUnits int, raw map[string]any) *suite.Result {
	t.Helper()
	cfg := decode(t, raw)
	want, err := Suite{}.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fuse == FuseAlways && want.Details["fuse"].(map[string]any)["pgd_path"] != "fused_loop" {
		t.Fatalf("details.fuse %v: PGD did not run on the fused loop", want.Details["fuse"])
	}
	scores := false // a label-only attack reads no probabilities (no sanity flag)
	for _, a := range cfg.Attacks {
		scores = scores || !a.decision()
	}
	if _, ok := want.Details["sanity"]; !ok && tg.OutputKind == runtime.Probabilities && scores {
		t.Fatal("no sanity flags to compare")
	}
	w := resultJSON(t, want)
	for _, shards := range []int{2, 3, 7} {
		st := &suite.MemStore{}
		var units int
		var common json.RawMessage
		for i := range shards {
			u, c, err := Suite{}.RunShard(context.Background(), tg, cfg, suite.Shard{Index: i, Count: shards}, st)
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, shards, err)
			}
			if i > 0 && (u != units || string(c) != string(common)) {
				t.Fatalf("shard %d/%d: %d units, common %s; shard 0: %d, %s", i, shards, u, c, units, common)
			}
			units, common = u, c
		}
		if units != wantUnits {
			t.Fatalf("%d units, want %d", units, wantUnits)
		}
		results := make([]json.RawMessage, units)
		for u := range results {
			var ok bool
			if results[u], ok = st.Load(u); !ok {
				t.Fatalf("%d shards: unit %d has no result", shards, u)
			}
		}
		mt := &suite.Target{Classes: tg.Classes, OutputKind: tg.OutputKind, Seed: tg.Seed, BatchSize: tg.BatchSize,
			Range: tg.Range, ConfidenceLevel: tg.ConfidenceLevel, OutDir: t.TempDir()}
		got, err := Suite{}.Merge(context.Background(), mt, cfg, common, results)
		if err != nil {
			t.Fatalf("%d shards: merge: %v", shards, err)
		}
		if g := resultJSON(t, got); g != w {
			t.Errorf("%d shards merged:\n%s\nRun:\n%s", shards, g, w)
		}
		// The saved examples' files (save_examples spans the batches:
		// up to 30 of each batch's first successes) are Run's, byte for
		// byte.
		if cfg.SaveExamples > 0 {
			ex := want.Details["examples"].(map[string]any)
			files := ex["files"].(map[string]any)
			if ex["saved"].(int) != cfg.SaveExamples || len(files) != 4 {
				t.Fatalf("Run saved %v examples in %v", ex["saved"], files)
			}
			for name, rel := range files {
				a, err := os.ReadFile(filepath.Join(tg.OutDir, rel.(string)))
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(mt.OutDir, rel.(string)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%d shards: %s differs from Run's", shards, name)
				}
			}
		}
	}
	return want
}

// TestShardRefusesEstimatedGradients: an attack on estimated gradients,
// whose square fallback reruns the samples of the whole attack, is exit 2
// in a sharded run, naming the attack and the config key.
func TestShardRefusesEstimatedGradients(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 1, 64)
	cfg := decode(t, map[string]any{"gradient_mode": "estimated", "attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 2},
	}})
	_, _, err := Suite{}.RunShard(context.Background(), tg, cfg, suite.Shard{Index: 0, Count: 2}, &suite.MemStore{})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "config suites.evasion.attacks[0] (pgd): runs on estimated gradients") {
		t.Fatalf("RunShard = %v (code %d), want exit 2 naming attacks[0]", err, errs.Code(err, 0))
	}
}

// TestShardRefusesUnlistedAttack: an attack that is not in shardable (one
// added to the suite without sharding support; FAB stands in for it here)
// is exit 2 in a sharded run, naming the entry and the attack, before
// any model is opened.
func TestShardRefusesUnlistedAttack(t *testing.T) {
	tg := deepfoolLinear(t, 1, 2)
	delete(shardable, FAB)
	defer func() { shardable[FAB] = true }()
	cfg := decode(t, map[string]any{"attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 2},
		map[string]any{"name": "fab", "label": "f", "eps": []any{0.1}},
	}})
	_, _, err := Suite{}.RunShard(context.Background(), tg, cfg, suite.Shard{Index: 0, Count: 2}, &suite.MemStore{})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "config suites.evasion.attacks[1] (f): fab does not shard yet") {
		t.Fatalf("RunShard = %v (code %d), want exit 2 naming attacks[1]", err, errs.Code(err, 0))
	}
	// The engine's check before loading anything.
	if why := (Suite{}).ShardRefusal(cfg); why != "these attacks do not shard yet: attacks[1] (f): fab" {
		t.Errorf("ShardRefusal = %q", why)
	}
	shardable[FAB] = true
	if why := (Suite{}).ShardRefusal(cfg); why != "" {
		t.Errorf("ShardRefusal with every attack listed = %q, want none", why)
	}
}
