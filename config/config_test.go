package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

const base = `version: 1
model: m.onnx
runtime: {workers: 1}
data: {x: x.npy, y: y.npy, range: [0, 1]}
suites:
  accuracy: {}
gates: ["accuracy.accuracy >= 0.9"]
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, path string, env map[string]string, sets ...string) (*Config, error) {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	return Load(Options{Path: path, Sets: sets, Cwd: "/work/cwd",
		Getenv: func(k string) string { return env[k] }, Environ: func() []string { return environ }})
}

func TestPrecedence(t *testing.T) {
	p := write(t, base)
	// file < environment < --set
	c, err := load(t, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Runtime.Workers != 1 || c.Runtime.BatchSize != 256 || c.Seed != 1 {
		t.Fatalf("file/defaults: workers=%d batch=%d seed=%d", c.Runtime.Workers, c.Runtime.BatchSize, c.Seed)
	}
	c, err = load(t, p, map[string]string{"GAUNTLET_RUNTIME_WORKERS": "3", "GAUNTLET_SEED": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Runtime.Workers != 3 || c.Seed != 7 {
		t.Fatalf("env: workers=%d seed=%d, want 3 7", c.Runtime.Workers, c.Seed)
	}
	c, err = load(t, p, map[string]string{"GAUNTLET_RUNTIME_WORKERS": "3"}, "runtime.workers=2", "suites.accuracy.bins=10")
	if err != nil {
		t.Fatal(err)
	}
	if c.Runtime.Workers != 2 || c.Suites["accuracy"]["bins"] != 10 {
		t.Fatalf("--set: workers=%d suites=%v, want 2 and bins 10", c.Runtime.Workers, c.Suites)
	}
}

// TestSetKeepsOtherSuites: a --set on one suite's key merges into the file's
// suites rather than replacing them (a file with an empty `accuracy: {}`, a
// configured evasion block and a third suite).
func TestSetKeepsOtherSuites(t *testing.T) {
	p := write(t, `version: 1
model: m.onnx
data: {x: x.npy, y: y.npy, range: [0, 1]}
suites:
  accuracy: {}
  evasion: {save_examples: 4, attacks: [{name: fgsm, eps: [0.1]}]}
  inversion: {steps: 20}
`)
	for _, sets := range [][]string{
		{"suites.inversion.steps=30"},
		{"suites.inversion.steps=30", "suites.evasion.save_examples=8"},
		{"suites.inversion={steps: 30}"},
	} {
		c, err := load(t, p, nil, sets...)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Suites) != 3 {
			t.Fatalf("--set %v: suites %v, want accuracy, evasion and inversion", sets, c.Suites)
		}
		if c.Suites["inversion"]["steps"] != 30 {
			t.Errorf("--set %v: inversion %v, want steps 30", sets, c.Suites["inversion"])
		}
		if c.Suites["evasion"]["attacks"] == nil {
			t.Errorf("--set %v: evasion lost its attacks: %v", sets, c.Suites["evasion"])
		}
		want := 4
		if len(sets) == 2 {
			want = 8
		}
		if c.Suites["evasion"]["save_examples"] != want {
			t.Errorf("--set %v: evasion.save_examples %v, want %d", sets, c.Suites["evasion"]["save_examples"], want)
		}
	}
}

func TestPathsResolve(t *testing.T) {
	p := write(t, base)
	dir := filepath.Dir(p)
	c, err := load(t, p, map[string]string{"GAUNTLET_DATA_Y": "labels.npy"}, "output.dir=res")
	if err != nil {
		t.Fatal(err)
	}
	// From the file: against its folder; from env and flags: against the cwd.
	for got, want := range map[string]string{
		c.Model:      filepath.Join(dir, "m.onnx"),
		c.Data.X:     filepath.Join(dir, "x.npy"),
		c.Data.Y:     "/work/cwd/labels.npy",
		c.Output.Dir: "/work/cwd/res",
	} {
		if got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}

func TestDigestChangesWithEffectiveConfig(t *testing.T) {
	p := write(t, base)
	a, _ := load(t, p, nil)
	b, _ := load(t, p, nil)
	c, _ := load(t, p, nil, "seed=2")
	if a.SHA256 != b.SHA256 || a.SHA256 == c.SHA256 || len(a.SHA256) != 64 {
		t.Fatalf("digests %s %s %s", a.SHA256, b.SHA256, c.SHA256)
	}
}

func TestBadConfigs(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		env  map[string]string
		sets []string
		want string
	}{
		"unknown top key":    {body: base + "modle: x\n", want: `modle (did you mean "model"?)`},
		"unknown nested key": {body: strings.Replace(base, "{workers: 1}", "{workerz: 1}", 1), want: "runtime.workerz"},
		"unknown env":        {body: base, env: map[string]string{"GAUNTLET_RUNTIME_WORKRES": "2"}, want: "GAUNTLET_RUNTIME_WORKRES"},
		"missing version":    {body: strings.Replace(base, "version: 1\n", "", 1), want: "version: missing"},
		"future version":     {body: strings.Replace(base, "version: 1", "version: 2", 1), want: "version: 2 is not supported"},
		"bad device":         {body: base, sets: []string{"runtime.device=gpu"}, want: "runtime.device"},
		"bad batch":          {body: base, sets: []string{"runtime.batch_size=0"}, want: "runtime.batch_size"},
		"bad range":          {body: strings.Replace(base, "[0, 1]", "[1, 0]", 1), want: "data.range"},
		"x and csv":          {body: base, sets: []string{"data.csv=a.csv"}, want: "x and csv"},
		"bad gate":           {body: strings.Replace(base, ">= 0.9", ">= high", 1), want: "gates[0]"},
		"no suites":          {body: strings.Replace(base, "  accuracy: {}\n", "", 1), want: "suites"},
		"unknown format":     {body: base, sets: []string{"output.formats=[pdf]"}, want: "pdf"},
		"bad set":            {body: base, sets: []string{"runtime.workers"}, want: "key=value"},
		"yaml syntax":        {body: base + "  : [\n", want: "g.yaml"},
		"wrong type":         {body: strings.Replace(base, "{workers: 1}", "{workers: many}", 1), want: "workers"},
		"missing file":       {body: "", want: "no such file"},
		"output_kind":        {body: base, sets: []string{"runtime.output_kind=scores"}, want: "output_kind"},
		"seed too large":     {body: base, sets: []string{"seed=18014398509481984"}, want: "seed"},
	} {
		t.Run(name, func(t *testing.T) {
			p := write(t, c.body)
			if name == "missing file" {
				p = filepath.Join(t.TempDir(), "absent.yaml")
			}
			_, err := load(t, p, c.env, c.sets...)
			if err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want exit code 2 naming %q", err, c.want)
			}
		})
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := load(t, write(t, Example), nil)
	if err != nil {
		t.Fatalf("gauntlet init's example does not load: %v", err)
	}
	if len(c.ParsedGates) != 2 || c.Runtime.Device != "cpu" {
		t.Fatalf("example: %+v", c)
	}
}
