package evasion

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestExplicitZeroRefused: a key set to an out-of-range value, zero
// included, is an exit-2 error naming the full key; the default applies only
// when the key is absent. The expected messages are the ones docs/config.md
// quotes; the ranges are those of docs/metrics/evasion.md.
func TestExplicitZeroRefused(t *testing.T) {
	attack := func(kv ...any) map[string]any {
		a := map[string]any{"eps": []any{0.1}}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"attacks": []any{a}}
	}
	at := "config suites.evasion.attacks[0]."
	cases := []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"pgd steps 0", attack("name", "pgd", "steps", 0), at + "steps 0: must be at least 1"},
		{"pgd steps -1", attack("name", "pgd", "steps", -1), at + "steps -1: must be at least 1"},
		{"pgd steps big", attack("name", "pgd", "steps", 100001), at + "steps 100001: must be at most 100000"},
		{"apgd steps 0", attack("name", "apgd", "steps", 0), at + "steps 0: must be at least 1"},
		{"autoattack steps 0", attack("name", "autoattack", "steps", 0), at + "steps 0: must be at least 1"},
		{"pgd restarts 0", attack("name", "pgd", "restarts", 0), at + "restarts 0: must be at least 1"},
		{"apgd restarts 1001", attack("name", "apgd", "restarts", 1001), at + "restarts 1001: must be at most 1000"},
		{"square queries 0", attack("name", "square", "queries", 0), at + "queries 0: must be at least 1"},
		{"autoattack queries 0", attack("name", "autoattack", "queries", 0), at + "queries 0: must be at least 1"},
		{"square p_init 0", attack("name", "square", "p_init", 0), at + "p_init 0: want a share in (0, 1]"},
		{"square p_init 1.5", attack("name", "square", "p_init", 1.5), at + "p_init 1.5: want a share in (0, 1]"},
		{"autoattack target_classes 0", attack("name", "autoattack", "target_classes", 0), at + "target_classes 0: must be at least 1"},
		{"apgd-t target_classes 0", attack("name", "apgd", "targeted", true, "target_classes", 0), at + "target_classes 0: must be at least 1"},
		{"apgd loss empty", attack("name", "apgd", "loss", ""), at + `loss "": want ce or dlr`},
		{"norm empty", attack("name", "pgd", "norm", ""), at + `norm "": unknown norm`},
		{"label empty", attack("name", "pgd", "label", ""), at + "label: empty"},
		{"eps empty", map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "eps": []any{}}}}, at + "eps: list at least one eps"},
		// A zero is still a value: fgsm takes no steps, not even 0.
		{"fgsm steps 0", attack("name", "fgsm", "steps", 0), at + "steps: not a parameter of fgsm"},
		{"apgd random_start false", attack("name", "apgd", "random_start", false), at + "random_start: not a parameter of apgd"},
		{"nes_samples 0", map[string]any{"nes_samples": 0, "attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}},
			"config suites.evasion.nes_samples 0: must be at least 1"},
		{"nes_sigma 0", map[string]any{"nes_sigma": 0, "attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}},
			"config suites.evasion.nes_sigma 0: want a value in (0, 1)"},
		{"gradient_mode empty", map[string]any{"gradient_mode": "", "attacks": []any{map[string]any{"name": "fgsm", "eps": []any{0.1}}}},
			`config suites.evasion.gradient_mode "": want auto, exact or estimated`},
		// A wrong type names the key first (suite.DecodeConfigKeys).
		{"steps text", attack("name", "pgd", "steps", "many"), `suites.evasion.attacks[0].steps: want an integer, got "many"`},
	}
	for _, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", c.name, err, c.want)
		}
	}
}

// TestAbsentKeysDefault: keys left out take the defaults documented in
// docs/metrics/evasion.md (the constants of config.go), and keys with no
// value (`steps:`) count as left out.
func TestAbsentKeysDefault(t *testing.T) {
	raw := map[string]any{"attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{0.1}},
		map[string]any{"name": "apgd", "eps": []any{0.1}, "targeted": true},
		map[string]any{"name": "square", "eps": []any{0.1}},
		map[string]any{"name": "autoattack", "eps": []any{0.1}},
		map[string]any{"name": "pgd", "label": "pgd-nil", "eps": []any{0.1}, "steps": nil},
	}}
	got, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	as := got.(Config).Attacks
	type params struct {
		steps, restarts, queries, tc int
		pInit                        float64
		norm, loss                   string
	}
	want := []params{
		{DefaultPGDSteps, 1, 0, 0, 0, Linf, ""},
		{DefaultAPGDSteps, 1, 0, DefaultTargetClasses, 0, Linf, "dlr"},
		{0, 1, DefaultQueries, 0, DefaultPInit, Linf, ""},
		{DefaultAPGDSteps, 1, DefaultQueries, DefaultTargetClasses, DefaultPInit, Linf, ""},
		{DefaultPGDSteps, 1, 0, 0, 0, Linf, ""},
	}
	for i, a := range as {
		p := params{a.Steps, a.Restarts, a.Queries, a.TargetClasses, a.PInit, a.Norm, a.Loss}
		if p != want[i] {
			t.Errorf("attacks[%d] (%s): %+v, want %+v", i, a.Name, p, want[i])
		}
	}
	cfg := got.(Config)
	if cfg.NESSamples != DefaultNESSamples || cfg.NESSigma != DefaultNESSigma || cfg.GradientMode != ModeAuto {
		t.Errorf("top level %+v: want the defaults", cfg)
	}
}
