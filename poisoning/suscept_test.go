package poisoning

import (
	"math"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// digitsTarget is the 8×8 digits CNN (examples/) with its 400 eval images.
func digitsTarget(t testing.TB) *suite.Target {
	t.Helper()
	return withSettings(t, suitetest.Digits(t, "digits_cnn.onnx"))
}

// TestSusceptibilityDigits poisons the committed 1397-image digits
// training split (examples/poisoning, made by make_digits_train.py) with a
// 2×2 patch of 1.0 in the bottom-right corner (target 0) and with label
// flipping, trains the built-in MLP on each copy and evaluates it on the
// 400 eval images. The attack success rate must rise with the poison rate
// and stay near the baseline's when nothing is poisoned.
func TestSusceptibilityDigits(t *testing.T) {
	tg := digitsTarget(t)
	res := run(t, tg, map[string]any{"susceptibility": map[string]any{
		"train": map[string]any{"x": "poisoning/digits_train_x.npy", "y": "poisoning/digits_train_y.npy"},
		"attacks": []any{
			map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2, "value": 1.0, "target": 0},
			map[string]any{"type": "label_flip"},
			map[string]any{"type": "label_flip", "name": "flip_to_3", "target": 3},
		},
		"rates":   []any{0.01, 0.05, 0.1},
		"trainer": "mlp",
	}})
	for k, v := range res.Metrics {
		t.Logf("%s = %.4f", k, v)
	}
	asr := func(r string) float64 { return res.Metrics["susceptibility.patch.rate="+r+".attack_success_rate"] }
	if !(asr("0.01") < asr("0.05") && asr("0.05") <= asr("0.1")) {
		t.Errorf("attack success rate does not rise with the rate: %.3f %.3f %.3f", asr("0.01"), asr("0.05"), asr("0.1"))
	}
	if asr("0.1") < 0.9 {
		t.Errorf("attack success at 10%% poison %.3f; a 2×2 patch on 8×8 digits should be learnt", asr("0.1"))
	}
	if b := res.Metrics["susceptibility.patch.baseline.attack_success_rate"]; b > 0.2 {
		t.Errorf("baseline model classifies %.3f of triggered inputs as the target", b)
	}
	// A label flip with a target has an attack success rate: the share of
	// the 360 non-3 evaluation inputs (40 per class, examples/README)
	// classified as 3, untouched by any trigger. It must rise from the clean
	// baseline as more labels are flipped to 3.
	flip := func(r string) float64 { return res.Metrics["susceptibility.flip_to_3."+r+"attack_success_rate"] }
	for _, r := range []string{"baseline.", "rate=0.01.", "rate=0.05.", "rate=0.1."} {
		if k := flip(r) * 360; math.Abs(k-math.Round(k)) > 1e-9 {
			t.Errorf("flip_to_3 %s: %v is not a count out of 360", r, flip(r))
		}
	}
	if !(flip("baseline.") <= flip("rate=0.01.") && flip("rate=0.01.") <= flip("rate=0.05.") && flip("rate=0.05.") < flip("rate=0.1.")) {
		t.Errorf("flip_to_3 attack success does not rise: %v %v %v %v", flip("baseline."), flip("rate=0.01."), flip("rate=0.05."), flip("rate=0.1."))
	}
	if _, ok := res.Metrics["susceptibility.label_flip.rate=0.1.attack_success_rate"]; ok {
		t.Error("an untargeted label flip reports an attack success rate")
	}
	// Provenance: the training split (examples/README: 1,397 rows) is
	// recorded for the report's data[].
	if len(res.Data) != 2 || res.Data[0].Role != "susceptibility.train" || res.Data[0].Rows != 1397 || len(res.Data[0].SHA256) != 64 {
		t.Errorf("data read: %+v", res.Data)
	}
}

// TestSusceptibilityCNN trains the built-in CNN on the clean digits split
// and on a 10%-poisoned copy: a clean accuracy near the shipped CNN's
// 0.965 (examples/REFERENCE.json) shows that the exported ONNX model
// computes what gorgonia trained (weights layout, flatten order), and the
// patch must be learnt.
func TestSusceptibilityCNN(t *testing.T) {
	tg := digitsTarget(t)
	res := run(t, tg, map[string]any{"susceptibility": map[string]any{
		"train":   map[string]any{"x": "poisoning/digits_train_x.npy", "y": "poisoning/digits_train_y.npy"},
		"attacks": []any{map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2, "value": 1.0, "target": 0}},
		"rates":   []any{0.1},
		"trainer": "cnn",
	}})
	acc := res.Metrics["susceptibility.baseline.clean_accuracy"]
	asr := res.Metrics["susceptibility.patch.rate=0.1.attack_success_rate"]
	t.Logf("cnn: baseline accuracy %.4f, attack success at 10%% %.4f", acc, asr)
	if acc < 0.93 || asr < 0.9 {
		t.Errorf("cnn: baseline accuracy %.4f (want ≥ 0.93), attack success %.4f (want ≥ 0.9)", acc, asr)
	}
}
