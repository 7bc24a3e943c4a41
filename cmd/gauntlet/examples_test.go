package main

import (
	"fmt"
	"math"
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
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/reports"
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

// runExample runs examples/<name> through the binary into a temporary
// folder, wants exit 0 (every gate passes), and returns the report and
// the HTML report's text.
func runExample(t *testing.T, name string) (*reports.Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	res := runArgs(t, []string{"run", "-c", testutil.Example(t, name), "--out", out, "--ort-library", testutil.ORTLibrary(t), "--progress", "none"}, out)
	if res.code != 0 {
		t.Fatalf("%s: exit %d, want 0\n%s\n%s", name, res.code, res.stdout, res.stderr)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	return readReport(t, out), string(html)
}

// exampleMetrics returns the metrics of the report's suite name.
func exampleMetrics(t *testing.T, r *reports.Report, name string) map[string]float64 {
	t.Helper()
	for _, s := range r.Suites {
		if s.Name == name {
			if s.Status != reports.StatusPassed {
				t.Fatalf("suite %s: status %s (%s)", name, s.Status, s.Error)
			}
			return s.Metrics
		}
	}
	t.Fatalf("no suite %s in the report", name)
	return nil
}

// TestLabelOnlyExample runs examples/label_only.yaml (HopSkipJump and Sign-OPT on a
// skl2onnx-style digits LogisticRegression through its label output):
// exit 0, the clean accuracy make_digits_logreg.py printed (0.9575, 383 of
// 400), the labels read from output_label (not the ZipMap probabilities),
// the medians the example's comments give (this run's, seed 1: the suite
// does not depend on workers), falling with the budget, and every digit's
// queries within the largest budget.
func TestLabelOnlyExample(t *testing.T) {
	r, _ := runExample(t, "label_only.yaml")
	ev := exampleMetrics(t, r, "evasion")
	const countTol = 1e-12 // counts over 400 written through float64
	if math.Abs(ev["clean_accuracy"]-0.9575) > countTol {
		t.Errorf("clean_accuracy %v, want 0.9575 (make_digits_logreg.py)", ev["clean_accuracy"])
	}
	const normTol = 5e-5 // the comment's four decimals
	for k, want := range map[string]float64{
		"hopskipjump.l2.median_norm@200": 1.3586, "hopskipjump.l2.median_norm@1000": 0.7574,
		"hopskipjump.linf.median_norm@200": 0.1973, "hopskipjump.linf.median_norm@1000": 0.1607,
		"signopt.l2.median_norm@200": 1.5287, "signopt.l2.median_norm@1000": 0.7271,
	} {
		if math.Abs(ev[k]-want) > normTol {
			t.Errorf("evasion.%s = %v; examples/label_only.yaml says %v", k, ev[k], want)
		}
	}
	for _, s := range r.Suites {
		if s.Name != "evasion" {
			continue
		}
		if got := fmt.Sprint(s.Details["decision"]); got != "map[output:output_label source:label_output]" {
			t.Errorf("details.decision = %s, want the label output output_label", got)
		}
		for _, p := range []string{"hopskipjump.l2", "hopskipjump.linf", "signopt.l2"} {
			name, _, _ := strings.Cut(p, ".")
			d := s.Details[name].(map[string]any)[p].(map[string]any)
			n := 0
			for _, q := range d["queries"].([]any) {
				if q.(float64) > 1000 {
					t.Errorf("%s: a digit spent %v queries, over the budget 1000", p, q)
				}
				n++
			}
			if n != 400 {
				t.Errorf("%s: %d per-digit query counts, want 400", p, n)
			}
		}
	}
}

// TestCertifyExample runs examples/certify.yaml (randomized smoothing and
// L2 PGD on the 400 digits): exit 0, the clean accuracy of
// examples/REFERENCE.json (0.965, 386 of 400) in both suites, the gated
// values the example's comments give (this run's, seed 1: the suite does
// not depend on workers or batch size), certified accuracy falling with
// the radius and, at every configured radius r ≤ 0.5, below PGD's robust
// accuracy at ε = r (the lower bound under the upper one on this model),
// and the HTML report's chart of both.
func TestCertifyExample(t *testing.T) {
	r, html := runExample(t, "certify.yaml")
	cert, ev := exampleMetrics(t, r, "certify"), exampleMetrics(t, r, "evasion")
	const countTol = 1e-12 // counts over 400 written through float64
	for _, m := range []map[string]float64{cert, ev} {
		if math.Abs(m["clean_accuracy"]-0.965) > countTol {
			t.Errorf("clean_accuracy %v, want 0.965 (examples/REFERENCE.json)", m["clean_accuracy"])
		}
	}
	for k, want := range map[string]float64{
		"sigma=0.25.radius=0.25.certified_accuracy": 0.6075, "sigma=0.12.radius=0.25.certified_accuracy": 0.68,
		"sigma=0.25.radius=0.5.certified_accuracy": 0.1,
	} {
		if math.Abs(cert[k]-want) > countTol {
			t.Errorf("certify.%s = %v; examples/certify.yaml says %v", k, cert[k], want)
		}
	}
	for k, want := range map[string]float64{"pgd.l2.eps=0.25.robust_accuracy": 0.83, "pgd.l2.eps=0.5.robust_accuracy": 0.4175} {
		if math.Abs(ev[k]-want) > countTol {
			t.Errorf("evasion.%s = %v; examples/certify.yaml says %v", k, ev[k], want)
		}
	}
	compared := 0
	for _, sigma := range []string{"0.12", "0.25"} {
		prev := 2.0
		for _, rad := range []string{"0", "0.1", "0.25", "0.5"} {
			c := cert["sigma="+sigma+".radius="+rad+".certified_accuracy"]
			if c > prev {
				t.Errorf("σ %s: certified accuracy %v at radius %s above %v at a smaller radius", sigma, c, rad, prev)
			}
			prev = c
			if a, ok := ev["pgd.l2.eps="+rad+".robust_accuracy"]; ok {
				if c > a {
					t.Errorf("σ %s radius %s: certified %v above PGD's robust accuracy %v", sigma, rad, c, a)
				}
				compared++
			}
		}
	}
	if compared != 6 {
		t.Errorf("compared %d (σ, radius) pairs with PGD, want 6 (radii 0.1, 0.25, 0.5 of each σ)", compared)
	}
	for _, want := range []string{"Robust accuracy: attacks (upper) and certificates (lower), L2", "evasion ran on 400 samples, certify on 400."} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// TestCorruptionExample runs examples/corruption.yaml (the 15 image
// families at 5 severities on the 400 digits): exit 0, the clean accuracy
// of examples/REFERENCE.json, all 75 family × severity accuracies defined,
// the worst family and the figures the example's comments give (this
// run's, seed 1), and the HTML report's heat map.
func TestCorruptionExample(t *testing.T) {
	r, html := runExample(t, "corruption.yaml")
	m := exampleMetrics(t, r, "corruption")
	const countTol = 1e-12
	if math.Abs(m["clean_accuracy"]-0.965) > countTol {
		t.Errorf("clean_accuracy %v, want 0.965 (examples/REFERENCE.json)", m["clean_accuracy"])
	}
	n := 0
	for k := range m {
		if strings.Contains(k, ".severity=") && strings.HasSuffix(k, ".accuracy") {
			n++
		}
	}
	if n != 75 {
		t.Errorf("%d family × severity accuracies, want 75", n)
	}
	for k, want := range map[string]float64{"worst.accuracy": 0.4405, "glass_blur.accuracy": 0.4405, "motion_blur.accuracy": 0.713, "contrast.accuracy": 0.793} {
		if math.Abs(m[k]-want) > countTol {
			t.Errorf("corruption.%s = %v; examples/corruption.yaml says %v", k, m[k], want)
		}
	}
	if got := m["mean_accuracy"]; math.Abs(got-0.8654) > 5e-5 {
		t.Errorf("mean_accuracy %v; examples/corruption.yaml says 0.8654", got)
	}
	if !strings.Contains(html, "Accuracy per corruption × severity") {
		t.Error("report.html lacks the heat map")
	}
}
