package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// shardConfig writes the fairness config of testutil.SuiteConfigs with
// 97-row batches (11 units of rows and 16 of counterfactual rows), every
// format and gate, and returns its path and the flags every run takes.
func shardConfig(t *testing.T, gate string) (string, []string) {
	t.Helper()
	y := testutil.SuiteConfigs(t)["fairness"] +
		"runtime: {batch_size: 97, workers: 2, intra_op_threads: 1}\n" +
		"output: {formats: [json, junit, sarif, markdown, html]}\n" +
		"gates: [\"" + gate + "\"]\n"
	p := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, []string{"--ort-library", testutil.ORTLibrary(t)}
}

// metricsOf returns the suites' metrics, undefined keys, details and
// warnings of a report.json file as JSON (its timings left out).
func metricsOf(t *testing.T, path string) string {
	t.Helper()
	var r struct {
		Suites []map[string]json.RawMessage `json:"suites"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Suites {
		for _, k := range []string{"name", "status", "seed", "metrics", "undefined", "details", "warnings"} {
			out = append(out, k+"="+string(s[k]))
		}
	}
	return strings.Join(out, "\n")
}

// TestShardRunAndMerge runs the fairness suite as 3 shards through the
// binary (shard 0 by --shard, 1 by --shards with JOB_COMPLETION_INDEX, 2 by
// runtime.shard), merges their report.json files, and checks that the
// merged report.json's suites are byte-identical to an unsharded run's
// apart from timings (the expected bytes are that run's), that every format
// is written, and that the gate's failure is exit 1 from the merge. A
// missing shard is exit 2 naming the file.
func TestShardRunAndMerge(t *testing.T) {
	cfg, sets := shardConfig(t, "fairness.sex.demographic_parity_ratio >= 0.99")
	dir := t.TempDir()
	// No index from the environment unless a shard sets one.
	t.Setenv("JOB_COMPLETION_INDEX", "")
	whole := runArgs(t, append([]string{"run", "-c", cfg, "--out", filepath.Join(dir, "whole")}, sets...), "")
	if whole.code != 1 {
		t.Fatalf("unsharded run: exit %d, want 1 (the gate fails)\n%s", whole.code, whole.stderr)
	}
	var reps []string
	for i, extra := range [][]string{{"--shard", "0/3"}, {"--shards", "3"}, {"--set", "runtime.shard=2/3"}} {
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		if i == 1 {
			t.Setenv("JOB_COMPLETION_INDEX", "1")
		}
		r := runArgs(t, append(append([]string{"run", "-c", cfg, "--out", out}, sets...), extra...), out)
		t.Setenv("JOB_COMPLETION_INDEX", "")
		if r.code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
		}
		rep := readReport(t, out)
		if rep.Status != "partial" || rep.Shard == nil || rep.Shard.Index != i || rep.Shard.Count != 3 || rep.Passed {
			t.Fatalf("shard %d: status %s shard %+v passed %v", i, rep.Status, rep.Shard, rep.Passed)
		}
		if _, err := os.Stat(filepath.Join(out, "report.sarif")); err == nil {
			t.Errorf("shard %d wrote report.sarif; a partial report is JSON only", i)
		}
		reps = append(reps, filepath.Join(out, "report.json"))
	}
	merged := filepath.Join(dir, "merged")
	m := runArgs(t, append([]string{"merge", "-c", cfg, "--out", merged}, reps...), merged)
	if m.code != 1 {
		t.Fatalf("merge: exit %d, want 1 (the gate fails)\n%s\n%s", m.code, m.stdout, m.stderr)
	}
	for _, f := range []string{"report.json", "report.junit.xml", "report.sarif", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Errorf("merge wrote no %s: %v", f, err)
		}
	}
	if got, want := metricsOf(t, filepath.Join(merged, "report.json")), metricsOf(t, filepath.Join(dir, "whole", "report.json")); got != want {
		t.Errorf("merged report.json suites:\n%s\nunsharded:\n%s", got, want)
	}
	if rep := readReport(t, merged); rep.Status != "completed" || len(rep.Gates) != 1 || rep.Gates[0].Passed || rep.ExitCode != 1 {
		t.Errorf("merged: status %s, gates %+v, exit %d", rep.Status, rep.Gates, rep.ExitCode)
	}

	miss := runArgs(t, []string{"merge", "-c", cfg, "--out", filepath.Join(dir, "m2"), reps[0], reps[2]}, "")
	if miss.code != 2 || !strings.Contains(miss.stderr, "shard(s) [1] of 3 missing") || !strings.Contains(miss.stderr, reps[0]) {
		t.Errorf("merge without shard 1: exit %d, stderr %q; want 2 naming the missing index and a file", miss.code, miss.stderr)
	}
	bad := runArgs(t, append([]string{"run", "-c", cfg, "--out", filepath.Join(dir, "bad"), "--shards", "3"}, sets...), "")
	if bad.code != 2 || !strings.Contains(bad.stderr, "JOB_COMPLETION_INDEX is not set") {
		t.Errorf("--shards without JOB_COMPLETION_INDEX: exit %d, stderr %q", bad.code, bad.stderr)
	}
}
