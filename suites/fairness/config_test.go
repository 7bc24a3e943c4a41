package fairness

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestExplicitEmptyRefused: explicit zero or empty values are checked, not
// replaced by the defaults of docs/metrics/fairness.md, and the error names
// the full key. n_boot: 0 keeps its documented meaning (no intervals).
func TestExplicitEmptyRefused(t *testing.T) {
	block := func(k string, v any) map[string]any {
		return map[string]any{"sensitive": []any{"sex"}, k: v}
	}
	const p = "config suites.fairness."
	for name, c := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"bins 0":               {block("bins", 0), p + "bins: 0 is outside 1..1000"},
		"n_boot -1":            {block("n_boot", -1), p + "n_boot: -1 is outside 0..1000000"},
		"positive_label empty": {block("positive_label", ""), p + "positive_label: empty"},
		"sensitive empty":      {block("sensitive", []any{}), p + "sensitive: name at least one"},
		"codes empty": {block("counterfactual", []any{map[string]any{"attribute": "sex", "column": "sex_code",
			"values": []any{"0", "1"}, "codes": []any{}}}), p + "counterfactual[0].codes: empty"},
		"bins text": {block("bins", "ten"), `suites.fairness.bins: want an integer, got "ten"`},
	} {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
	got, err := Suite{}.Decode(block("n_boot", 0))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := got.(Config); cfg.NBoot != 0 || cfg.Bins != DefaultBins {
		t.Errorf("n_boot %d bins %d, want 0 and %d", cfg.NBoot, cfg.Bins, DefaultBins)
	}
}
