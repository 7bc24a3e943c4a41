package inversion

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestExplicitEmptyRefused: explicit zero or empty values are checked, not
// replaced by the defaults of docs/metrics/inversion.md, and the error names
// the full key.
func TestExplicitEmptyRefused(t *testing.T) {
	const p = "config suites.inversion."
	for name, c := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"steps 0":         {map[string]any{"steps": 0}, p + "steps: 0 is outside 1..1000000"},
		"learning_rate 0": {map[string]any{"learning_rate": 0}, p + "learning_rate: 0 is not a positive number"},
		"nes_pairs 0":     {map[string]any{"nes_pairs": 0}, p + "nes_pairs: 0 is outside 1..10000"},
		"nes_sigma 0":     {map[string]any{"nes_sigma": 0}, p + "nes_sigma: 0 is outside (0, 1)"},
		"init empty":      {map[string]any{"init": ""}, p + `init: "" is not zeros`},
		"gradient empty":  {map[string]any{"gradient": ""}, p + `gradient: "" is not auto`},
		"classes empty":   {map[string]any{"classes": []any{}}, p + "classes: [] lists no class"},
		"image_shape []":  {map[string]any{"image_shape": []any{}}, p + "image_shape: [] is not [H, W] or [C, H, W]"},
		"image_shape 0":   {map[string]any{"image_shape": []any{0, 8}}, p + "image_shape: [0 8] has a dimension below 1"},
		"steps text":      {map[string]any{"steps": "lots"}, `suites.inversion.steps: want an integer, got "lots"`},
	} {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
	// Absent keys: every class (nil Classes) and the input's own shape.
	got, err := Suite{}.Decode(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := got.(Config); cfg.Classes != nil || cfg.ImageShape != nil || cfg.Steps != DefaultSteps {
		t.Errorf("defaults %+v", cfg)
	}
}
