package membership

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestExplicitEmptyRefused: an explicit empty list or zero is checked, not
// replaced by the defaults of docs/metrics/membership.md, and the error names
// the full key.
func TestExplicitEmptyRefused(t *testing.T) {
	block := func(k string, v any) map[string]any {
		return map[string]any{"members": map[string]any{"x": "m.npy"}, "nonmembers": map[string]any{"x": "n.npy"}, k: v}
	}
	const p = "config suites.membership."
	for name, c := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"attacks empty":       {block("attacks", []any{}), p + "attacks: empty"},
		"fpr empty":           {block("fpr", []any{}), p + "fpr: empty"},
		"fpr 0":               {block("fpr", []any{0}), p + "fpr: 0 is outside (0, 1)"},
		"folds 0":             {block("folds", 0), p + "folds: 0 is outside 2..100"},
		"roc_points 0":        {block("roc_points", 0), p + "roc_points: 0 is outside 2..10000"},
		"lira_variance empty": {block("lira_variance", ""), p + `lira_variance: "" is not per_example or global`},
		"attack_model empty":  {block("attack_model", ""), p + `attack_model: "" is not mlp or logistic`},
		"folds text":          {block("folds", "five"), `suites.membership.folds: want an integer, got "five"`},
		"epsilon_delta 1":     {block("epsilon_delta", 1), p + "epsilon_delta: 1 is outside [0, 1)"},
		"slices unknown":      {block("slices", []any{"decile"}), p + `slices: unknown slicing "decile"`},
		"slices twice":        {block("slices", []any{"class", "class"}), p + `slices: "class" listed twice`},
		"min_slice_size 0":    {block("min_slice_size", 0), p + "min_slice_size: 0 is below 1"},
		"boundary_queries 5":  {block("boundary_queries", 5), p + "boundary_queries: 5 is outside 20..1000000"},
	} {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
	// Absent: the default attacks and rates.
	got, err := Suite{}.Decode(block("folds", 5))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := got.(Config); len(cfg.Attacks) != 6 || len(cfg.FPR) != len(DefaultFPR) {
		t.Errorf("attacks %v fpr %v, want the 6 default attacks (no lira) and %v", cfg.Attacks, cfg.FPR, DefaultFPR)
	}
}
