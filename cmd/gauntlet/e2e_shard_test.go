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

// TestShardNewSuitesRunAndMerge runs the differential, drift, slices and
// extraction blocks of testutil.SuiteConfigs in one config (the Adult MLP's
// 1,000 evaluation rows in batches of 97; extraction with 2 epochs) as 3
// shards through the binary, then with --resume after a finished run,
// and merges the shards: the merged report.json's suites are
// byte-identical to an unsharded run's apart from timings (the expected
// bytes are that run's), the merge writes differential's flips CSVs into
// its own folder, and the gate passes (exit 0) in both.
func TestShardNewSuitesRunAndMerge(t *testing.T) {
	configs := testutil.SuiteConfigs(t)
	y := configs["slices"]
	for _, name := range []string{"differential", "drift", "extraction"} {
		c := configs[name]
		y += c[strings.Index(c, "suites:\n")+len("suites:\n"):]
	}
	y = strings.Replace(y, "training: {epochs: 5}", "training: {epochs: 2}", 1) +
		"runtime: {batch_size: 97, workers: 2, intra_op_threads: 1}\n" +
		"gates: [\"drift.accuracy >= 0.5\"]\n"
	if !strings.Contains(y, "epochs: 2") {
		t.Fatal("the extraction block has no training: {epochs: 5} to shorten")
	}
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
	for _, s := range []string{"name=\"differential\"", "name=\"drift\"", "name=\"extraction\"", "name=\"slices\""} {
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
		t.Errorf("merged report.json suites:\n%s\nunsharded:\n%s", got, want)
	}
	for _, f := range []string{"int8_flips.csv", "fp16_flips.csv"} {
		if _, err := os.Stat(filepath.Join(merged, "differential", f)); err != nil {
			t.Errorf("the merge wrote no differential/%s: %v", f, err)
		}
	}
	// --resume on the finished shard 1 redoes nothing and writes the same
	// partial report.
	out := filepath.Join(dir, "out-1")
	before, err := os.ReadFile(reps[1])
	if err != nil {
		t.Fatal(err)
	}
	r := runArgs(t, append([]string{"run", "-c", cfg, "--out", out, "--shard", "1/3", "--resume"}, sets...), out)
	if r.code != 0 {
		t.Fatalf("resumed shard 1: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := partialsOf(t, reps[1]), partialsOf(t, string(before)); got != want {
		t.Errorf("resumed shard 1's partial results differ from the first run's:\n%s\n%s", got, want)
	}
}

// partialsOf returns the suites' partial results of a shard's report.json
// (a path, or the report's bytes when it starts with '{').
func partialsOf(t *testing.T, src string) string {
	t.Helper()
	b := []byte(src)
	if !strings.HasPrefix(src, "{") {
		var err error
		if b, err = os.ReadFile(src); err != nil {
			t.Fatal(err)
		}
	}
	var r struct {
		Suites []map[string]json.RawMessage `json:"suites"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Suites {
		out = append(out, string(s["name"])+"="+string(s["partial"]))
	}
	return strings.Join(out, "\n")
}
