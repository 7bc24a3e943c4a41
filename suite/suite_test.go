package suite

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestDeriveSeedIsStableAndSpread(t *testing.T) {
	// Pinned values: a change here changes every report's suite seeds and
	// so every seeded result; bump suite versions if it is ever intended.
	a := DeriveSeed(1, "accuracy")
	if a != DeriveSeed(1, "accuracy") {
		t.Fatal("DeriveSeed is not a function of its inputs")
	}
	if a == DeriveSeed(2, "accuracy") || a == DeriveSeed(1, "evasion") {
		t.Fatal("different inputs gave the same seed")
	}
	if a > MaxSeed {
		t.Fatalf("seed %d above 2^53-1", a)
	}
}

func TestBatchRandDependsOnlyOnSeedAndBatch(t *testing.T) {
	x := BatchRand(42, 3).Uint64()
	if x != BatchRand(42, 3).Uint64() {
		t.Fatal("BatchRand is not reproducible")
	}
	if x == BatchRand(42, 4).Uint64() || x == BatchRand(43, 3).Uint64() {
		t.Fatal("BatchRand streams collide")
	}
}

func TestSetProportion(t *testing.T) {
	r := NewResult()
	r.SetProportion("acc", 0, 0, 0.95)
	if len(r.Metrics) != 0 || len(r.Undefined) != 3 {
		t.Fatalf("n=0: metrics %v undefined %v", r.Metrics, r.Undefined)
	}
	r = NewResult()
	r.SetProportion("acc", 10, 10, 0.95)
	// k = n: the upper bound is 1 and the point estimate 1.
	if r.Metrics["acc"] != 1 || r.Metrics["acc.ci_high"] != 1 || !(r.Metrics["acc.ci_low"] < 1) {
		t.Fatalf("k=n: %v", r.Metrics)
	}
}

// TestDecodeConfigNamesKeys: an unknown key or a bad value in a suite's block
// is an Invalid error naming the full config key of each problem.
func TestDecodeConfigNamesKeys(t *testing.T) {
	type attack struct {
		Name string    `mapstructure:"name"`
		Eps  []float64 `mapstructure:"eps"`
	}
	var cfg struct {
		Attacks []attack `mapstructure:"attacks"`
		Save    int      `mapstructure:"save_examples"`
	}
	err := DecodeConfig("evasion", map[string]any{
		"attacks":       []any{map[string]any{"name": "fgsm", "epz": []any{0.1}}},
		"save_examples": "x",
		"bogus":         1,
	}, &cfg)
	if errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("error %v: want exit code %d", err, errs.Invalid)
	}
	for _, want := range []string{"suites.evasion: unknown key(s): bogus", "suites.evasion.attacks[0]: unknown key(s): epz", "suites.evasion.save_examples: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
