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
// and stay near the baseline's when nothing is poisoned; the counts are
// the experiment's own deterministic ones, asserted exactly.
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
	// The experiment's own deterministic counts (seeded poisoning and
	// training; measured once and asserted exactly) out of the 360
	// non-target evaluation inputs: 309, 352, 359 triggered inputs
	// classified as 0 at 1, 5, 10 % poison, none for the clean baseline.
	// The property from theory, checked above: the count rises with the
	// poison rate.
	wantCount(t, "patch rate=0.01", asr("0.01"), 360, 309)
	wantCount(t, "patch rate=0.05", asr("0.05"), 360, 352)
	wantCount(t, "patch rate=0.1", asr("0.1"), 360, 359)
	wantCount(t, "patch baseline", res.Metrics["susceptibility.patch.baseline.attack_success_rate"], 360, 0)
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
	// Deterministic counts (measured once, asserted exactly): 0, 7, 8, 14
	// of the 360 non-3 inputs classified as 3.
	for r, want := range map[string]int{"baseline.": 0, "rate=0.01.": 7, "rate=0.05.": 8, "rate=0.1.": 14} {
		wantCount(t, "flip_to_3 "+r, flip(r), 360, want)
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
	// Deterministic counts (seeded training, measured once, asserted
	// exactly): 390 of the 400 eval images right (0.975; the shipped CNN
	// trained in torch gets 0.965, examples/REFERENCE.json, the same
	// architecture and data, so within 4 images of a peer trainer), and 357
	// of the 360 non-target triggered images classified as 0.
	wantCount(t, "cnn baseline clean accuracy", acc, 400, 390)
	wantCount(t, "cnn patch rate=0.1", asr, 360, 357)
}

// wantCount asserts that share is exactly want of n (a deterministic count,
// not a share within a tolerance: 1/n apart is a different result).
func wantCount(t *testing.T, what string, share float64, n, want int) {
	t.Helper()
	k := share * float64(n)
	if math.Abs(k-math.Round(k)) > 1e-9 || int(math.Round(k)) != want {
		t.Errorf("%s = %v = %.4g of %d, want exactly %d of %d", what, share, k, n, want, n)
	}
}
