package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestEvasionGradientFallback runs the binary on
// suites/evasion/testdata/no_rule.onnx, whose Shrink node has no gradient
// rule: gradient_mode exact exits 2 naming the node, auto exits 0 with
// estimated gradients and the builder's reason in the report; neither
// panics.
func TestEvasionGradientFallback(t *testing.T) {
	dir := t.TempDir()
	var x [16][1][4][4]float32
	var y [16]int64
	for i := range x {
		for j := 0; j < 16; j++ {
			x[i][0][j/4][j%4] = float32((i*7+j*3)%16) / 15
		}
		y[i] = int64(i % 3)
	}
	xp, yp := writeNPY(t, dir, "x.npy", x), writeNPY(t, dir, "y.npy", y)
	model := filepath.Join(testutil.RepoRoot(t), "suites", "evasion", "testdata", "no_rule.onnx")
	cfg := func(mode string) string {
		return "version: 1\nmodel: " + model + "\ndata: {x: " + xp + ", y: " + yp + ", range: [0, 1]}\n" +
			"suites: {evasion: {gradient_mode: " + mode + ", nes_samples: 4, attacks: [{name: pgd, eps: [0.3], steps: 3}]}}\n"
	}
	const node = `Shrink (node \"shrink\")` // the reason as JSON escapes it
	r := run(t, cfg("exact"))
	if r.code != 2 || !strings.Contains(r.stderr+r.stdout, `Shrink (node "shrink")`) || strings.Contains(r.stderr, "panic") {
		t.Fatalf("exact: exit %d, want 2 naming the node\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, cfg("auto"))
	if r.code != 0 || strings.Contains(r.stderr, "panic") {
		t.Fatalf("auto: exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, r.out)
	if len(rep.Suites) != 1 || rep.Suites[0].Name != "evasion" {
		t.Fatalf("suites %+v", rep.Suites)
	}
	b, err := json.Marshal(rep.Suites[0].Details["gradient"])
	if err != nil {
		t.Fatal(err)
	}
	if g := string(b); !strings.Contains(g, `"mode":"estimated"`) || !strings.Contains(g, node) {
		t.Errorf("details.gradient %s, want estimated with the reason naming the node", g)
	}
	if w := strings.Join(rep.Suites[0].Warnings, "\n"); !strings.Contains(w, `Shrink (node "shrink")`) {
		t.Errorf("suite warnings %q do not name the node", w)
	}
}
