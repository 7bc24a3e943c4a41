package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// k8sDocs splits a multi-document manifest into its documents.
func k8sDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

// TestK8sIndexedJobExample decodes examples/k8s/indexed-job.yaml strictly
// (an unknown or misspelt field is an error) into the Kubernetes API types
// (k8s.io/api batch/v1 Job, core/v1 PersistentVolumeClaim and ConfigMap),
// and checks that the shard Job is Indexed with completions = parallelism
// = --shards, that the merge Job reads every index's report once, that
// both mount the claim the file declares, and that the ConfigMap's config
// loads and its suites all shard.
func TestK8sIndexedJobExample(t *testing.T) {
	docs := k8sDocs(t, filepath.Join("..", "..", "examples", "k8s", "indexed-job.yaml"))
	jobs := map[string]*batchv1.Job{}
	var pvc *corev1.PersistentVolumeClaim
	var cm *corev1.ConfigMap
	for i, d := range docs {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal(d, &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var err error
		switch meta.Kind {
		case "Job":
			var j batchv1.Job
			err = sigsyaml.UnmarshalStrict(d, &j)
			jobs[j.Name] = &j
		case "PersistentVolumeClaim":
			pvc = &corev1.PersistentVolumeClaim{}
			err = sigsyaml.UnmarshalStrict(d, pvc)
		case "ConfigMap":
			cm = &corev1.ConfigMap{}
			err = sigsyaml.UnmarshalStrict(d, cm)
		default:
			t.Fatalf("document %d: unexpected kind %q", i, meta.Kind)
		}
		if err != nil {
			t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	shards, merge := jobs["gauntlet-shards"], jobs["gauntlet-merge"]
	if shards == nil || merge == nil || pvc == nil || cm == nil || len(docs) != 4 {
		t.Fatalf("want a PVC, a ConfigMap, Jobs gauntlet-shards and gauntlet-merge; got %d documents, jobs %v", len(docs), jobs)
	}
	sp := shards.Spec
	if sp.CompletionMode == nil || *sp.CompletionMode != batchv1.IndexedCompletion || sp.Completions == nil || sp.Parallelism == nil {
		t.Fatalf("shard Job: completionMode %v, completions %v, parallelism %v", sp.CompletionMode, sp.Completions, sp.Parallelism)
	}
	n := int(*sp.Completions)
	args := sp.Template.Spec.Containers[0].Args
	i := slices.Index(args, "--shards")
	if i < 0 || i+1 >= len(args) || args[i+1] != strconv.Itoa(n) || int(*sp.Parallelism) != n {
		t.Fatalf("shard Job: completions %d, parallelism %d, args %v: --shards must equal completions", n, *sp.Parallelism, args)
	}
	if !slices.Contains(args, "--resume") || !slices.Contains(args, "/work/out-$(JOB_COMPLETION_INDEX)") {
		t.Errorf("shard Job args %v: want --resume and --out /work/out-$(JOB_COMPLETION_INDEX)", args)
	}
	margs := merge.Spec.Template.Spec.Containers[0].Args
	for k := range n {
		if c := slices.Index(margs, fmt.Sprintf("/work/out-%d/report.json", k)); c < 0 || slices.Index(margs[c+1:], margs[c]) >= 0 {
			t.Errorf("merge Job args %v: shard %d's report must be given once", margs, k)
		}
	}
	if got := len(margs) - slices.Index(margs, "/work/merged") - 1; margs[0] != "merge" || got != n {
		t.Errorf("merge Job args %v: want merge ... --out /work/merged and %d reports", margs, n)
	}
	for _, j := range []*batchv1.Job{shards, merge} {
		if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("Job %s: restartPolicy %s, want Never", j.Name, j.Spec.Template.Spec.RestartPolicy)
		}
		claimed := false
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				claimed = true
			}
			if v.ConfigMap != nil && v.ConfigMap.Name != cm.Name {
				t.Errorf("Job %s mounts ConfigMap %s, the file declares %s", j.Name, v.ConfigMap.Name, cm.Name)
			}
		}
		if !claimed {
			t.Errorf("Job %s does not mount the claim %s", j.Name, pvc.Name)
		}
	}
	checkShardableConfig(t, cm.Data["gauntlet.yaml"])
}

// checkShardableConfig loads a config and decodes its suites, which must
// all implement suite.Sharder.
func checkShardableConfig(t *testing.T, y string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gauntlet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, s := range registry.All() {
		raw, ok := cfg.Suites[s.Name()]
		if !ok {
			continue
		}
		if _, err := s.Decode(raw); err != nil {
			t.Errorf("suite %s: %v", s.Name(), err)
		}
		if _, ok := s.(suite.Sharder); !ok {
			t.Errorf("suite %s does not shard: run --shard would refuse it", s.Name())
		}
		checked++
	}
	if checked != len(cfg.Suites) || checked == 0 {
		t.Errorf("checked %d of %d suites", checked, len(cfg.Suites))
	}
}

// TestGitHubMatrixExample parses examples/ci/github-matrix.yml and checks
// that the matrix produces every shard index 0..N-1 once, N being the
// run step's --shard .../N, that each shard uploads its report with
// actions/upload-artifact under a name of its own, and that the merge job
// needs the shards, downloads them and runs gauntlet merge (whose exit 1
// fails the step and the workflow: no continue-on-error).
func TestGitHubMatrixExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", "github-matrix.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		Uses            string            `yaml:"uses"`
		Run             string            `yaml:"run"`
		With            map[string]string `yaml:"with"`
		ContinueOnError any               `yaml:"continue-on-error"`
	}
	var wf struct {
		Jobs map[string]struct {
			Needs    any `yaml:"needs"`
			Strategy struct {
				Matrix struct {
					Shard []int `yaml:"shard"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
			Steps []step `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	shard, merge := wf.Jobs["shard"], wf.Jobs["merge"]
	var n int
	var uploads []string
	for _, s := range shard.Steps {
		if m := regexp.MustCompile(`gauntlet run .*--shard \$\{\{ matrix\.shard \}\}/(\d+)`).FindStringSubmatch(s.Run); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			uploads = append(uploads, s.With["name"])
		}
	}
	if n == 0 {
		t.Fatal("no step runs gauntlet run --shard ${{ matrix.shard }}/N")
	}
	got := slices.Clone(shard.Strategy.Matrix.Shard)
	slices.Sort(got)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Errorf("matrix shards %v, want each of 0..%d once", shard.Strategy.Matrix.Shard, n-1)
	}
	if len(uploads) != 1 || !strings.Contains(uploads[0], "${{ matrix.shard }}") {
		t.Errorf("shard uploads %v: want one actions/upload-artifact named per shard", uploads)
	}
	if fmt.Sprint(merge.Needs) != "shard" {
		t.Errorf("merge needs %v, want shard", merge.Needs)
	}
	var downloads, merges int
	for _, s := range merge.Steps {
		if strings.HasPrefix(s.Uses, "actions/download-artifact@") {
			downloads++
		}
		if strings.Contains(s.Run, "gauntlet merge") {
			merges++
			if s.ContinueOnError != nil {
				t.Errorf("the merge step sets continue-on-error: a failed gate would not fail the workflow")
			}
		}
	}
	if downloads != 1 || merges != 1 {
		t.Errorf("merge job: %d downloads, %d gauntlet merge steps; want 1 and 1", downloads, merges)
	}
}
