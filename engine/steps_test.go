package engine

import (
	"os"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/registry"
)

// TestStepsAlone runs steps of Run on their own, without ONNX Runtime or
// a model: planning refuses an unknown suite naming the known ones, keeps
// registry order whatever the config's order, and the model digest check
// refuses a file whose SHA-256 is not allowed (the digest of an empty file,
// e3b0c442…, is SHA-256 of no bytes).
func TestStepsAlone(t *testing.T) {
	r := &run{cfg: &config.Config{Path: "g.yaml", Suites: map[string]map[string]any{"nope": {}}}}
	err := r.planSuites()
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "suites.nope: unknown suite") || !strings.Contains(err.Error(), "accuracy") {
		t.Errorf("unknown suite: %v", err)
	}
	r = &run{cfg: &config.Config{Path: "g.yaml", Suites: map[string]map[string]any{"fairness": {"sensitive": []any{"sex"}}, "accuracy": {}}}}
	if err := r.planSuites(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.plan {
		got = append(got, p.s.Name())
	}
	var want []string
	for _, s := range registry.All() {
		if s.Name() == "accuracy" || s.Name() == "fairness" {
			want = append(want, s.Name())
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("plan %v, want registry order %v", got, want)
	}

	empty := t.TempDir() + "/m.onnx"
	if err := writeEmpty(empty); err != nil {
		t.Fatal(err)
	}
	r = &run{cfg: &config.Config{Model: empty, ModelAllowSHA256: []string{strings.Repeat("0", 64)}}}
	err = r.scanModel()
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Errorf("digest not allowed: %v", err)
	}
	r.cfg.ModelAllowSHA256 = []string{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	if err := r.scanModel(); err != nil {
		t.Errorf("allowed digest: %v", err)
	}
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o644) }
