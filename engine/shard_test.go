package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// shardSets are the --set values of the sharding tests, by suite: batch
// sizes that give several units (1,000 Adult rows in 97-row batches are 11
// units; the digits CNN's 10 classes in batches of 3 are 4, so shards of 7
// get none) and fewer inversion steps. Accuracy reports by sex and race
// (its by-group intervals bootstrap from the merged outcomes). Fairness keeps its counterfactual
// flip test on sex: 11 batches of rows, then the 674 Male rows as Female
// (7 batches) and the 326 Female rows as Male (4), 22 units in all
// (counts from examples/adult/adult_eval.csv). Certify's 100 rows in
// batches of 16 are 7 units; corruption's 200 rows in batches of 23 are 9,
// each carrying the 15 cells of the three table families. Differential's
// 1,000 rows in batches of 97 are 11 units, each run on the model and its
// INT8 and FP16 variants. Drift's are its 2 features, the MMD and 11
// batches of 97 evaluation rows; slices' the 11 batches; extraction's its
// 2 query budgets.
var shardSets = map[string][]string{
	"accuracy":            {"runtime.batch_size=97", "suites.accuracy.by=[sex, race]", "suites.accuracy.min_group_size=30", "suites.accuracy.n_boot=100"},
	"evasion":             {"runtime.batch_size=97", "suites.evasion.by=[sex]", "suites.evasion.n_boot=50"},
	"fairness":            {"runtime.batch_size=97"},
	"attribute_inference": {"runtime.batch_size=97"},
	"inversion":           {"runtime.batch_size=3", "suites.inversion.steps=20"},
	"poisoning":           {"runtime.batch_size=64"},
	"certify":             {"runtime.batch_size=16"},
	"corruption":          {"runtime.batch_size=23"},
	"differential":        {"runtime.batch_size=97"},
	"drift":               {"runtime.batch_size=97"},
	"slices":              {"runtime.batch_size=97"},
	"extraction":          {},
	"membership": {"runtime.batch_size=97", "suites.membership.attack_model=logistic", "suites.membership.by=[sex]", "suites.membership.n_boot=50",
		"suites.membership.attacks=[correctness, loss, confidence, entropy, modified_entropy, lira, learned, gap, boundary_distance]", "suites.membership.boundary_queries=40",
		"suites.membership.slices=[class, confidence, loss, correctness]"},
}

// mustHave are what the byte-identity test must compare, by suite: the
// by-group figures and the LiRA units' figures.
var mustHave = map[string][]string{
	"accuracy":     {`"by_group"`},
	"evasion":      {`"by_group"`, `"pgd.linf.eps=0.1.robust_accuracy"`},
	"poisoning":    {`"neural_cleanse.class=9.anomaly_index"`, `"spectral_signatures.flagged_fraction"`, `"activation_clustering.flagged_fraction"`, `"backdoor.attack_success_rate"`, `"strip.far"`, `"layer_choice"`},
	"membership":   {`"by_group"`, `"lira.auc"`, `"learned.auc"`, `"gap.epsilon_lower_bound"`, `"boundary_distance.calibrated_accuracy"`, `"learned.worst_slice_auc"`, `"feature":"sex"`, `"misclassified"`},
	"differential": {`"int8.mcnemar_p"`, `"quantization"`, `"flips_csv"`, `"fp16.pgd.linf.eps=0.05.transfer_rate"`, `"int8.fgsm.linf.eps=0.03.robust_accuracy_delta"`},
	"drift":        {`"mmd.p"`, `"chi2.sex.p"`, `"shift.num_age.accuracy"`},
	"slices":       {`"worst.selection_rate.p_adjusted"`, `"bin_edges"`, `"robust_attacks"`, `"worst.robust_accuracy.p_adjusted"`},
	"extraction":   {`"fidelity@2000"`, `"extraction_curve"`},
}

// shardConfigs are testutil.SuiteConfigs with poisoning's replaced by
// every part of the suite on the digits CNN (image inputs, which Neural
// Cleanse needs): the data detectors on the 1,397 committed training
// digits (examples/poisoning: 22 batches of 64), the trigger's attack
// success rate (360 triggered inputs: 6 batches), STRIP (60 held-out and
// the triggered far rows, scored per model run) and a Neural Cleanse scan
// of the 10 classes (30 steps on 20 inputs a class); and differential's
// and slices' with an evasion block (FGSM and PGD-5).
func shardConfigs(t *testing.T) map[string]string {
	configs := testutil.SuiteConfigs(t)
	configs["poisoning"] = "version: 1\nmodel: " + testutil.Example(t, "digits_cnn.onnx") + "\nseed: 1\n" +
		"data: {x: " + testutil.Example(t, "digits_eval_x.npy") + ", y: " + testutil.Example(t, "digits_eval_y.npy") + ", range: [0, 1]}\n" +
		"suites:\n  poisoning:\n" +
		"    data:\n      train: {x: " + testutil.Example(t, "poisoning/digits_train_x.npy") + ", y: " + testutil.Example(t, "poisoning/digits_train_y.npy") + "}\n" +
		"      activation_clustering: {restarts: 5}\n" +
		"    model:\n      methods: [strip, neural_cleanse]\n      target: 0\n" +
		"      trigger: {type: patch, x: 6, y: 6, width: 2, height: 2}\n      strip: {samples: 60}\n" +
		"      neural_cleanse: {steps: 30, samples: 20}\n"
	// Differential and slices with an evasion block, in attack batches of
	// 64 (16 units after their 11 batches of 97), through the partial
	// reports.
	ev := "evasion: {batch_size: 64, attacks: [{name: fgsm, norm: linf, eps: [0.03]}, {name: pgd, norm: linf, eps: [0.05], steps: 5}]}"
	configs["differential"] += "    " + ev + "\n"
	sl := strings.Replace(configs["slices"], "sensitive: [sex, race]}", "sensitive: [sex, race], "+ev+"}", 1)
	if sl == configs["slices"] {
		t.Fatalf("the slices config has changed: %s", sl)
	}
	configs["slices"] = sl
	return configs
}

// setsFor returns shardSets[name] and, for membership, its LiRA reference
// models (suites/membership/testdata/make_adult_refs.py: the Adult MLP
// with a little noise on its weights), one unit each.
func setsFor(t *testing.T, name string) []string {
	sets := slices.Clone(shardSets[name])
	if name == "membership" {
		var refs []string
		for _, f := range []string{"adult_ref_0.onnx", "adult_ref_1.onnx"} {
			p, err := filepath.Abs(filepath.Join("..", "suites", "membership", "testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, p)
		}
		sets = append(sets, "suites.membership.reference_models=["+strings.Join(refs, ", ")+"]")
	}
	return sets
}

// shardedSuites are the registered suites that implement suite.Sharder.
func shardedSuites(t *testing.T) []string {
	var out []string
	for _, s := range registry.All() {
		if _, ok := s.(suite.Sharder); ok {
			out = append(out, s.Name())
		}
	}
	if len(out) != len(shardSets) {
		t.Fatalf("sharded suites %v, the tests configure %d", out, len(shardSets))
	}
	return out
}

// suiteJSON is what the merge must reproduce byte for byte: a suite's
// metrics, undefined keys, details and warnings as report.json writes
// them (timings left out).
func suiteJSON(t *testing.T, sr reports.SuiteResult) string {
	t.Helper()
	if sr.Status != reports.StatusPassed || len(sr.Metrics) == 0 {
		t.Fatalf("suite %s: status %s, %d metrics, error %q", sr.Name, sr.Status, len(sr.Metrics), sr.Error)
	}
	b, err := json.Marshal(map[string]any{"metrics": sr.Metrics, "undefined": sr.Undefined, "details": sr.Details, "warnings": sr.Warnings, "seed": sr.Seed})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runShards runs the n shards of the config y into their own output
// folders and returns their partial reports.
func runShards(t *testing.T, y string, sets []string, n int) []Part {
	t.Helper()
	var parts []Part
	for i := range n {
		cfg := loadYAML(t, y, append(sets, "runtime.workers=2", "runtime.intra_op_threads=1")...)
		rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Shard: suite.Shard{Index: i, Count: n}})
		if err != nil {
			t.Fatalf("shard %d/%d: %v", i, n, err)
		}
		if rep.Status != reports.StatusPartial || rep.ExitCode != 0 || rep.Passed || rep.Shard == nil {
			t.Fatalf("shard %d/%d: status %s, exit %d, passed %v, shard %v", i, n, rep.Status, rep.ExitCode, rep.Passed, rep.Shard)
		}
		// Through JSON, as gauntlet merge reads the shards' report.json.
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := reports.ValidateJSON(b); err != nil {
			t.Fatalf("shard %d/%d: %v", i, n, err)
		}
		var back reports.Report
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, Part{Path: fmt.Sprintf("out-%d/report.json", i), Report: &back})
	}
	return parts
}

// TestShardsMergeEqualUnsharded is issue 16's promise for every suite that
// shards: its N-shard runs (N = 1, 2, 3, 7) merged give byte-identical
// metrics, undefined keys, details and warnings to the unsharded run of the
// same config (the expected figures are that run's: the merge recomputes
// intervals, bootstrap and AUCs from the per-unit results).
func TestShardsMergeEqualUnsharded(t *testing.T) {
	configs := shardConfigs(t)
	compared := 0
	for _, name := range shardedSuites(t) {
		t.Run(name, func(t *testing.T) {
			sets := setsFor(t, name)
			cfg := loadYAML(t, configs[name], append(sets, "runtime.workers=2", "runtime.intra_op_threads=1")...)
			rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			want := suiteJSON(t, rep.Suites[0])
			for _, key := range mustHave[name] {
				if !strings.Contains(want, key) {
					t.Fatalf("the unsharded run has no %s to compare", key)
				}
			}
			for _, n := range []int{1, 2, 3, 7} {
				parts := runShards(t, configs[name], sets, n)
				mcfg := loadYAML(t, configs[name], sets...)
				merged, err := Merge(context.Background(), mcfg, parts, Options{Now: fixedNow})
				if err != nil {
					t.Fatalf("merge of %d: %v", n, err)
				}
				if got := suiteJSON(t, merged.Suites[0]); got != want {
					t.Errorf("%d shards merged:\n%s\nunsharded:\n%s", n, got, want)
				}
				if merged.Status != "completed" || merged.ExitCode != rep.ExitCode || merged.Passed != rep.Passed {
					t.Errorf("%d shards merged: status %s exit %d passed %v, unsharded exit %d passed %v", n, merged.Status, merged.ExitCode, merged.Passed, rep.ExitCode, rep.Passed)
				}
				b, err := json.Marshal(merged)
				if err != nil {
					t.Fatal(err)
				}
				if err := reports.ValidateJSON(b); err != nil {
					t.Errorf("%d shards merged: %v", n, err)
				}
				compared++
			}
		})
	}
	if want := 4 * len(shardSets); compared != want {
		t.Errorf("compared %d merges, want %d", compared, want)
	}
}

// TestMergeRefusesMismatchedShards: shards that do not belong together are
// exit 2 naming the shard's file and the mismatch (issue 16).
func TestMergeRefusesMismatchedShards(t *testing.T) {
	y := testutil.SuiteConfigs(t)["fairness"]
	sets := shardSets["fairness"]
	parts := runShards(t, y, sets, 3)
	cfg := loadYAML(t, y, sets...)
	clone := func(ps []Part) []Part {
		out := make([]Part, len(ps))
		for i, p := range ps {
			b, _ := json.Marshal(p.Report)
			var r reports.Report
			_ = json.Unmarshal(b, &r)
			out[i] = Part{Path: p.Path, Report: &r}
		}
		return out
	}
	cases := []struct {
		name string
		edit func([]Part) []Part
		cfg  *config.Config
		want string
	}{
		{"missing index", func(ps []Part) []Part { return ps[:2] }, cfg, "shard(s) [2] of 3 missing"},
		{"duplicate index", func(ps []Part) []Part {
			ps[2].Report.Shard.Index = 1
			return ps
		}, cfg, "out-2/report.json: shard 1/3 is also out-1/report.json"},
		{"another model", func(ps []Part) []Part {
			ps[1].Report.Model.SHA256 = strings.Repeat("0", 64)
			return ps
		}, cfg, "out-1/report.json: model sha256 0000"},
		{"other data", func(ps []Part) []Part {
			ps[2].Report.Data[0].SHA256 = strings.Repeat("1", 64)
			return ps
		}, cfg, "out-2/report.json: data"},
		{"another shard count", func(ps []Part) []Part {
			ps[1].Report.Shard.Count = 4
			return ps
		}, cfg, "out-1/report.json: shard count 4 differs"},
		{"not partial", func(ps []Part) []Part {
			ps[0].Report.Status = "completed"
			return ps
		}, cfg, "out-0/report.json: not a complete shard's partial report"},
		{"another config", func(ps []Part) []Part { return ps }, loadYAML(t, y, append(sets, "suites.fairness.n_boot=100")...), "out-0/report.json: config work digest"},
		{"another seed", func(ps []Part) []Part {
			ps[2].Report.Seed = 7
			return ps
		}, cfg, "out-2/report.json: seed 7 differs"},
		{"a changed unit", func(ps []Part) []Part {
			ps[1].Report.Suites[0].Partial.Results = ps[1].Report.Suites[0].Partial.Results[1:]
			return ps
		}, cfg, "out-1/report.json: suite fairness holds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Merge(context.Background(), c.cfg, c.edit(clone(parts)), Options{Now: fixedNow})
			if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Merge = %v (code %d), want exit 2 containing %q", err, errs.Code(err, 0), c.want)
			}
		})
	}
}

// killAfter cancels a run after its k-th saved unit (a run killed after
// k units), as Options.saved, and counts the units saved.
type killAfter struct {
	mu     sync.Mutex
	k, n   int
	cancel context.CancelFunc
}

func (c *killAfter) saved(string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.n == c.k && c.cancel != nil {
		c.cancel()
	}
}

// killSets are the --set values of TestResumeAfterKill beyond setsFor's:
// extraction with 5 smaller budgets (2 epochs), so that shard 1/3 has 2
// units to be killed between.
var killSets = map[string][]string{
	"extraction": {"suites.extraction.budgets=[100, 200, 300, 400, 500]", "suites.extraction.training.epochs=2"},
}

// TestResumeAfterKill: for every suite that shards, a run with Resume
// killed (cancelled) after k units saved to its state folder, for k = 1,
// 2, 3 (those below the run's units), then run again with Resume in the
// same output folder gives the same suite result as an uninterrupted run
// (the expected figures are that run's), unsharded and as shard 1/3; the
// resumed run saves (redoes) none of the units the killed one saved.
// The kill and the count go by the units saved (Options.saved), not by
// progress updates, which some suites give several of a unit
// (differential's row units: the model and each variant) or none
// (drift's feature and MMD units, extraction's budgets).
func TestResumeAfterKill(t *testing.T) {
	configs := testutil.SuiteConfigs(t)
	configs["poisoning"] = shardConfigs(t)["poisoning"]
	configs["differential"] = shardConfigs(t)["differential"]
	// Units: 1,000 rows in batches of 97 are 11; fairness adds 11 batches
	// of counterfactual rows (shardSets).
	// Evasion: the clean pass and FGSM and PGD at 3 eps each, 7 passes of
	// 11 attack batches (SuiteConfigs).
	// Membership: 2,000 members in 21 batches, 1,000 nonmembers in 11
	// and its 2 LiRA reference models (setsFor).
	// Slices: 11 batches of 97 of the 1,000 evaluation rows (shardSets).
	// Poisoning: every part on the digits CNN (shardConfigs): 22 batches
	// of training rows, 6 of triggered inputs, STRIP's 114 scoring runs
	// and 10 classes.
	// Differential: the 11 batches of 97 rows (model, INT8 and FP16),
	// then the evasion block's 16 attack batches of 64 (shardConfigs).
	// Drift: its 2 features (num_age, sex), the MMD and the 11 batches
	// (SuiteConfigs, shardSets). Extraction: its 5 budgets (killSets).
	// Inversion: the digits CNN's 10 classes in batches of 3; certify:
	// 100 rows in batches of 16; corruption: 200 rows in batches of 23
	// (shardSets).
	unitsOf := map[string]int{"accuracy": 11, "attribute_inference": 11, "evasion": 77, "fairness": 22, "membership": 34, "slices": 11, "poisoning": 152,
		"differential": 27, "drift": 14, "extraction": 5, "inversion": 4, "certify": 7, "corruption": 9}
	kills := 0
	for _, name := range shardedSuites(t) {
		units, ok := unitsOf[name]
		if !ok {
			t.Fatalf("suite %s shards: give it its units here", name)
		}
		y := configs[name]
		sets := append(append(setsFor(t, name), killSets[name]...), "runtime.workers=1", "runtime.intra_op_threads=1")
		for _, sh := range []suite.Shard{{}, {Index: 1, Count: 3}} {
			ref := loadYAML(t, y, sets...)
			rep, err := Run(context.Background(), ref, Options{Now: fixedNow, Shard: sh})
			if err != nil {
				t.Fatal(err)
			}
			want := partialOrSuiteJSON(t, rep.Suites[0])
			if p := rep.Suites[0].Partial; p != nil && p.Units != units {
				t.Fatalf("%s: %d units, want %d", name, p.Units, units)
			}
			lo, hi := sh.Range(units)
			for _, k := range []int{1, 2, 3} {
				if k >= hi-lo {
					continue // no unit left to kill before
				}
				kills++
				t.Run(fmt.Sprintf("%s shard %s killed after %d", name, sh, k), func(t *testing.T) {
					cfg := loadYAML(t, y, sets...)
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					killed, err := Run(ctx, cfg, Options{Now: fixedNow, Shard: sh, Resume: true, saved: (&killAfter{k: k, cancel: cancel}).saved})
					if err != nil {
						t.Fatal(err)
					}
					if killed.ExitCode != errs.Interrupted {
						t.Fatalf("killed run: exit %d, want %d", killed.ExitCode, errs.Interrupted)
					}
					store, err := newFileStore(filepath.Join(cfg.Output.Dir, StateDir, name))
					if err != nil {
						t.Fatal(err)
					}
					if len(store.m) < k || len(store.m) >= hi-lo {
						t.Fatalf("the killed run saved %d units, want %d to %d", len(store.m), k, hi-lo-1)
					}
					count := &killAfter{}
					resumed, err := Run(context.Background(), cfg, Options{Now: fixedNow, Shard: sh, Resume: true, saved: count.saved})
					if err != nil {
						t.Fatal(err)
					}
					if got := partialOrSuiteJSON(t, resumed.Suites[0]); got != want {
						t.Errorf("resumed:\n%s\nuninterrupted:\n%s", got, want)
					}
					if todo := hi - lo - len(store.m); count.n != todo {
						t.Errorf("the resumed run saved %d units, want %d (%d of %d were saved)", count.n, todo, len(store.m), hi-lo)
					}
				})
			}
		}
	}
	// 13 suites, 3 kills unsharded and 3 as shard 1/3, but shard 1/3 has
	// 2 units of extraction and certify (1 kill each), 1 of inversion
	// (none) and 3 of corruption (2 kills): 78 - 8.
	if kills != 70 {
		t.Errorf("%d kills, want 70", kills)
	}
}

// partialOrSuiteJSON is suiteJSON for a whole run, the partial results for
// a shard's.
func partialOrSuiteJSON(t *testing.T, sr reports.SuiteResult) string {
	t.Helper()
	if sr.Partial == nil {
		return suiteJSON(t, sr)
	}
	b, err := json.Marshal(sr.Partial)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShardRefusesSuitesThatDoNotShard: run --shard with a suite that has
// no Sharder, or whose ShardRefuser refuses its config, is exit 2 naming
// the suite (and why), before anything runs. Every registered suite shards
// with every config today, so stand-ins play both.
func TestShardRefusesSuitesThatDoNotShard(t *testing.T) {
	cfg := loadConfig(t, "suites: {plain: {}, picky: {}}\n")
	_, err := Run(context.Background(), cfg, Options{Now: fixedNow, Shard: suite.Shard{Index: 0, Count: 2},
		Suites: []suite.Suite{okSuite("plain", 1), picky{okSuite("picky", 1)}}})
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "suite(s) plain, picky (its method does not shard) do not shard yet") {
		t.Fatalf("Run = %v, want exit 2 naming plain and picky", err)
	}
}

// picky is a suite that shards but refuses every config
// (suite.ShardRefuser), as differential and slices would refuse an evasion
// block with an attack not listed as sharding: a stand-in that runs at
// once.
type picky struct{ fake }

func (picky) ShardRefusal(any) string { return "its method does not shard" }
func (picky) RunShard(context.Context, *suite.Target, any, suite.Shard, suite.UnitStore) (int, json.RawMessage, error) {
	return 0, nil, fmt.Errorf("RunShard called on a refused config")
}
func (picky) Merge(context.Context, *suite.Target, any, json.RawMessage, []json.RawMessage) (*suite.Result, error) {
	return nil, fmt.Errorf("Merge called on a refused config")
}

// TestResumeRunsRefusedConfigsWhole: --resume on an unsharded run whose
// suite refuses its config (suite.ShardRefuser) runs the suite whole, as
// without --resume, rather than refusing it.
func TestResumeRunsRefusedConfigsWhole(t *testing.T) {
	cfg := loadConfig(t, "suites: {picky: {}}\n")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{picky{okSuite("picky", 1)}}, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if sr := rep.Suites[0]; sr.Status != reports.StatusPassed || sr.Metrics["value"] != 1 {
		t.Fatalf("picky with --resume: status %s, metrics %v, error %q", sr.Status, sr.Metrics, sr.Error)
	}
}

// TestResumeRefusesAnotherRunsState: --resume on a state folder that
// another run left (here another shard, then another seed) is exit 2
// naming what differs, rather than mixing the two runs' units.
func TestResumeRefusesAnotherRunsState(t *testing.T) {
	y := testutil.SuiteConfigs(t)["attribute_inference"]
	sets := shardSets["attribute_inference"]
	cfg := loadYAML(t, y, sets...)
	if _, err := Run(context.Background(), cfg, Options{Now: fixedNow, Shard: suite.Shard{Index: 0, Count: 2}, Resume: true}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, Options{Now: fixedNow, Shard: suite.Shard{Index: 1, Count: 2}, Resume: true})
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "belongs to another run (shard 0/2, now 1/2)") {
		t.Fatalf("Run = %v, want exit 2 naming the shards", err)
	}
	other := *cfg
	other.Seed = 7
	_, err = Run(context.Background(), &other, Options{Now: fixedNow, Shard: suite.Shard{Index: 0, Count: 2}, Resume: true})
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "seed 1, now 7") {
		t.Fatalf("Run = %v, want exit 2 naming the seeds", err)
	}
}

// TestMergeOfAFailedShard: a shard whose suite failed makes the merged
// suite fail with that shard's error (exit 3), naming the shard and its
// file; the other checks still pass.
func TestMergeOfAFailedShard(t *testing.T) {
	y := testutil.SuiteConfigs(t)["attribute_inference"]
	sets := shardSets["attribute_inference"]
	parts := runShards(t, y, sets, 2)
	parts[1].Report.Suites[0].Status = reports.StatusError
	parts[1].Report.Suites[0].Error = "batch 7: out of memory"
	parts[1].Report.Suites[0].Partial = nil
	rep, err := Merge(context.Background(), loadYAML(t, y, sets...), parts, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	sr := rep.Suites[0]
	if rep.ExitCode != errs.SuiteFailed || sr.Status != reports.StatusError || sr.Error != "shard 1/2 (out-1/report.json): batch 7: out of memory" {
		t.Errorf("merged: exit %d, suite %s %q", rep.ExitCode, sr.Status, sr.Error)
	}
}
