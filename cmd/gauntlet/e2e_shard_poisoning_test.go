package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestShardPoisoningRunAndMerge runs every part of the poisoning suite on
// the digits CNN through the binary — the data detectors on the 1,397
// committed training digits (examples/poisoning), the trigger's attack
// success rate, STRIP, Neural Cleanse on 3 classes and 3 susceptibility
// experiments — unsharded and as 3 shards, and merges the shards: the
// merged report.json's suites are byte-identical to the unsharded run's
// apart from timings (the expected bytes are that run's), the merge writes
// the flagged-sample CSV and the trigger PNGs, identical to the unsharded
// run's, into its own folder, and the gate passes (exit 0) in both.
func TestShardPoisoningRunAndMerge(t *testing.T) {
	ex := func(p string) string { return testutil.Example(t, p) }
	y := "version: 1\nmodel: " + ex("digits_cnn.onnx") + "\nseed: 3\n" +
		"data: {x: " + ex("digits_eval_x.npy") + ", y: " + ex("digits_eval_y.npy") + ", range: [0, 1]}\n" +
		"runtime: {batch_size: 64, workers: 2, intra_op_threads: 1}\n" +
		"suites:\n  poisoning:\n" +
		"    data:\n      train: {x: " + ex("poisoning/digits_train_x.npy") + ", y: " + ex("poisoning/digits_train_y.npy") + "}\n" +
		"      methods: [spectral_signatures]\n" +
		"    model:\n      methods: [strip, neural_cleanse]\n      target: 0\n" +
		"      trigger: {type: patch, x: 6, y: 6, width: 2, height: 2}\n      strip: {samples: 40, overlays: 8}\n" +
		"      neural_cleanse: {steps: 10, samples: 16, classes: [0, 1, 2]}\n" +
		"    susceptibility:\n      train: {x: " + ex("poisoning/digits_train_x.npy") + ", y: " + ex("poisoning/digits_train_y.npy") + "}\n" +
		"      attacks: [{type: patch, x: 6, y: 6, width: 2, height: 2, value: 1.0, target: 0}]\n" +
		"      rates: [0.05, 0.1]\n      trainer: logreg\n      training: {epochs: 2}\n" +
		"gates: [\"poisoning.backdoor.attack_success_rate <= 1\"]\n"
	cfg := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	sets := []string{"--ort-library", testutil.ORTLibrary(t)}
	t.Setenv("JOB_COMPLETION_INDEX", "")
	dir := t.TempDir()
	whole := runArgs(t, append([]string{"run", "-c", cfg, "--out", filepath.Join(dir, "whole")}, sets...), "")
	if whole.code != 0 {
		t.Fatalf("unsharded run: exit %d\n%s", whole.code, whole.stderr)
	}
	want := metricsOf(t, filepath.Join(dir, "whole", "report.json"))
	for _, s := range []string{`"spectral_signatures.flagged_fraction"`, `"backdoor.attack_success_rate"`, `"strip.entropy_threshold"`,
		`"neural_cleanse.max_anomaly_index"`, `"susceptibility.patch.rate=0.1.attack_success_rate"`} {
		if !strings.Contains(want, s) {
			t.Fatalf("the unsharded run has no %s", s)
		}
	}
	var reps []string
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		r := runArgs(t, append([]string{"run", "-c", cfg, "--out", out, "--shard", fmt.Sprintf("%d/3", i)}, sets...), out)
		if r.code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
		}
		reps = append(reps, filepath.Join(out, "report.json"))
	}
	merged := filepath.Join(dir, "merged")
	m := runArgs(t, append([]string{"merge", "-c", cfg, "--out", merged}, reps...), merged)
	if m.code != 0 {
		t.Fatalf("merge: exit %d, want 0\n%s\n%s", m.code, m.stdout, m.stderr)
	}
	if got := metricsOf(t, filepath.Join(merged, "report.json")); got != want {
		t.Errorf("merged report.json suites:\n%.4000s\nunsharded:\n%.4000s", got, want)
	}
	for _, f := range []string{"poisoning_spectral_signatures_flagged.csv", filepath.Join("poisoning_neural_cleanse", "class_0.png")} {
		a, err := os.ReadFile(filepath.Join(dir, "whole", f))
		if err != nil {
			t.Fatalf("the unsharded run wrote no %s: %v", f, err)
		}
		b, err := os.ReadFile(filepath.Join(merged, f))
		if err != nil {
			t.Errorf("the merge wrote no %s: %v", f, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("the merge's %s differs from the unsharded run's", f)
		}
	}
}
