package poisoning

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// resultJSON is what a merge must reproduce byte for byte: the metrics,
// undefined keys, details, warnings and data files.
func resultJSON(t *testing.T, r *suite.Result) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"metrics": r.Metrics, "undefined": r.Undefined, "details": r.Details, "warnings": r.Warnings, "data": r.Data})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shardMergeEqualsRun runs raw on tg with Run, then as N = 2, 3 and 7
// shards (RunShard) merged (Merge, on a target without session or data),
// and checks that each merge equals Run byte for byte, the files Run
// writes into the output folder (flagged-sample CSVs, trigger PNGs)
// included, and that the unit blocks are wantBlocks. The expected figures
// are Run's.
func shardMergeEqualsRun(t *testing.T, tg *suite.Target, raw map[string]any, wantBlocks []block) *suite.Result {
	t.Helper()
	// The engine's base folder is absolute (the common part holds the
	// data paths relative to it: suite.RelFiles).
	base, err := filepath.Abs(tg.BaseDir)
	if err != nil {
		t.Fatal(err)
	}
	tg.BaseDir = base
	cfgAny, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Suite{}.Run(context.Background(), tg, cfgAny)
	if err != nil {
		t.Fatal(err)
	}
	w := resultJSON(t, want)
	files := outFiles(t, tg.OutDir)
	if m, _ := raw["model"].(map[string]any); m["neural_cleanse"] != nil {
		pngs := 0
		for name := range files {
			if strings.HasPrefix(name, "poisoning_neural_cleanse"+string(filepath.Separator)) {
				pngs++
			}
		}
		if pngs == 0 {
			t.Fatalf("Run wrote no trigger PNGs to compare: %d files", len(files))
		}
	}
	for _, shards := range []int{2, 3, 7} {
		st := &suite.MemStore{}
		var units int
		var common json.RawMessage
		for i := range shards {
			ts := *tg
			ts.OutDir = t.TempDir() // each shard its own folder
			u, c, err := Suite{}.RunShard(context.Background(), &ts, cfgAny, suite.Shard{Index: i, Count: shards}, st)
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, shards, err)
			}
			if i > 0 && (u != units || string(c) != string(common)) {
				t.Fatalf("shard %d/%d: %d units, common %.300s; shard 0: %d, %.300s", i, shards, u, c, units, common)
			}
			units, common = u, c
		}
		// shards from other checkouts agree: no absolute path
		if strings.Contains(string(common), base) {
			t.Errorf("the common part names the base folder %s: %.300s", base, common)
		}
		var cm shardCommon
		if err := json.Unmarshal(common, &cm); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cm.Blocks, wantBlocks) {
			t.Fatalf("blocks %v, want %v", cm.Blocks, wantBlocks)
		}
		results := make([]json.RawMessage, units)
		for u := range results {
			var ok bool
			if results[u], ok = st.Load(u); !ok {
				t.Fatalf("%d shards: unit %d has no result", shards, u)
			}
		}
		mt := &suite.Target{Classes: tg.Classes, OutputKind: tg.OutputKind, Seed: tg.Seed, BatchSize: tg.BatchSize,
			Range: tg.Range, ConfidenceLevel: tg.ConfidenceLevel, BaseDir: tg.BaseDir, OutDir: t.TempDir()}
		got, err := Suite{}.Merge(context.Background(), mt, cfgAny, common, results)
		if err != nil {
			t.Fatalf("%d shards: merge: %v", shards, err)
		}
		if g := resultJSON(t, got); g != w {
			t.Errorf("%d shards merged:\n%.3000s\nRun:\n%.3000s", shards, g, w)
		}
		if g := outFiles(t, mt.OutDir); !reflect.DeepEqual(g, files) {
			t.Errorf("%d shards: the merge wrote %d files, Run %d (or they differ)", shards, len(g), len(files))
		}
	}
	return want
}

// outFiles reads the files under dir (the suite's outputs: the
// flagged-sample CSVs and poisoning_neural_cleanse's trigger PNGs), by
// path relative to dir; the susceptibility models' folder is left out (a
// sharded run keeps them in the shards' folders).
func outFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == "poisoning_susceptibility" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShardMergeEqualsRunDataAndModel: the data detectors (spectral
// signatures, activation clustering and SPECTRE on the layer chosen among
// the default candidates, with ground truth) on the committed blend
// family's 1,397 training rows (testdata/families, make_families.py) and
// the model scan (the trigger's attack success rate, STRIP with alpha and
// overlays auto, Neural Cleanse on 3 classes) of its CNN on the 400
// digits eval images, in batches of 64: N = 2, 3 and 7 shards merged
// equal Run byte for byte (figures, details, warnings, data files, the
// flagged-sample CSVs and trigger PNGs). The expected figures are Run's.
func TestShardMergeEqualsRunDataAndModel(t *testing.T) {
	tg := target(t, filepath.Join("testdata", "families", "blend_cnn.onnx"), testutil.Example(t, "digits_eval_x.npy"), testutil.Example(t, "digits_eval_y.npy"))
	tg.BatchSize = 64
	raw := map[string]any{
		"data": map[string]any{"train": map[string]any{"x": "blend_train_x.npy", "y": "blend_train_y.npy"}, "is_poisoned": "blend_is_poisoned.npy",
			"methods": []any{"spectral_signatures", "activation_clustering", "spectre"}, "activation_clustering": map[string]any{"restarts": 5}},
		"model": map[string]any{"methods": []any{"strip", "neural_cleanse"}, "target": 0,
			"trigger":        map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2},
			"strip":          map[string]any{"samples": 60, "alpha": "auto"},
			"neural_cleanse": map[string]any{"samples": 16, "steps": 5, "classes": []any{0, 1, 2}}},
	}
	// data: ⌈1397/64⌉ = 22 batches; trigger: the 360 non-target inputs in
	// 6 batches; STRIP: alpha auto scores the 60 held-out inputs at 20
	// overlays in every shard, overlays auto raises the count (above 64,
	// so one input a model run), and the units score the 60 held-out
	// inputs again and the 50 triggered ones (the far rows not of class
	// 0): 110 units; Neural Cleanse: 3 classes.
	want := shardMergeEqualsRun(t, tg, raw, []block{{blockData, 22}, {blockBackdoor, 6}, {blockSTRIP, 110}, {blockCleanse, 3}})
	sd := want.Details["model"].(map[string]any)[MethodSTRIP].(map[string]any)
	if sd["overlays"].(int) <= 64 || sd["triggered_inputs"].(int) != 50 {
		t.Errorf("STRIP ran %v overlays on %v triggered inputs; the unit count above assumes more than 64 and 50", sd["overlays"], sd["triggered_inputs"])
	}
	if len(want.Data) == 0 || want.Details["data"] == nil || want.Details["model"] == nil {
		t.Fatalf("Run has no data files or details to compare: %v", want.Data)
	}
}

// TestShardMergeEqualsRunSusceptibility: the susceptibility experiments
// (the baseline, a patch attack and a targeted label flip at two rates:
// 5 experiments, one unit each) on the committed digits training split,
// trained with the built-in logistic regression, STRIP at fixed alpha
// and overlays (the held-out clean inputs scored in the units), and
// activation clustering at one configured layer (the input):
// N = 2, 3 and 7 shards merged equal Run byte for byte.
func TestShardMergeEqualsRunSusceptibility(t *testing.T) {
	tg := digitsTarget(t)
	tg.BatchSize = 64
	raw := map[string]any{
		// one configured layer: the model's input (its activations are
		// the rows themselves)
		"data":  map[string]any{"train": digitsTrain, "layer": "input", "methods": []any{"activation_clustering"}, "activation_clustering": map[string]any{"restarts": 3}},
		"model": map[string]any{"methods": []any{"strip"}, "strip": map[string]any{"samples": 40, "overlays": 8, "alpha": 0.5}},
		"susceptibility": map[string]any{
			"train": digitsTrain,
			"attacks": []any{
				map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2, "value": 1.0, "target": 0},
				map[string]any{"type": "label_flip", "name": "flip_to_3", "target": 3},
			},
			"rates":    []any{0.01, 0.1},
			"trainer":  "logreg",
			"training": map[string]any{"epochs": 3},
		},
	}
	// data: ⌈1397/64⌉ = 22 batches; STRIP: 40 held-out inputs, 64/8 = 8
	// a model run: 5 units, no trigger; susceptibility: 5 experiments.
	want := shardMergeEqualsRun(t, tg, raw, []block{{blockData, 22}, {blockSTRIP, 5}, {blockSuscept, 5}})
	if !strings.Contains(resultJSON(t, want), "susceptibility.flip_to_3.rate=0.1.attack_success_rate") {
		t.Fatal("Run has no susceptibility figures to compare")
	}
}
