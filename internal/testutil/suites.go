package testutil

import (
	"sort"
	"testing"
)

// SuiteConfigs returns, for every registered suite, a run config (YAML,
// absolute paths) that runs that suite alone on the repository's own small
// fixtures, so tests that need every suite never skip for want of
// ../shared: the accuracy, evasion, membership, fairness and poisoning
// blocks are examples/demo.yaml's (the Adult MLP and its 1,000 evaluation
// and 2,000 training rows), with fewer bootstrap rounds and attack steps
// where the demo's take long; attribute_inference guesses sex on the same
// model and rows; inversion runs MIFace on the 8×8 digits CNN
// (examples/privacy/inversion.yaml) for 200 steps instead of 10,000. certify
// smooths the first 100 Adult rows with 20 + 200 noisy copies each;
// corruption perturbs the first 200 Adult rows (the table families);
// differential compares the Adult MLP with its INT8 and FP16 variants;
// drift compares the evaluation rows with the training rows; extraction
// steals the Adult MLP with 500 and 2,000 queries of the training rows
// (5 epochs). The
// configs set no runtime, gates or output: callers append those. Tests that
// cover every suite compare the keys with registry.Names().
// slices searches the Adult evaluation rows' slices of num_age, sex and race
// (accuracy, and the selection rate over sex and race).
func SuiteConfigs(t testing.TB) map[string]string {
	t.Helper()
	adult := func(block string) string {
		return "version: 1\nmodel: " + Example(t, "adult/adult_mlp.onnx") + "\nseed: 1\n" +
			"data: {csv: " + Example(t, "adult/adult_eval.csv") + ", label: label, keep: [sex, race], range: [0, 1]}\n" +
			"suites:\n" + block
	}
	train := "{csv: " + Example(t, "adult/adult_train.csv") + ", label: label, keep: [sex, race]}"
	eval := "{csv: " + Example(t, "adult/adult_eval.csv") + ", label: label, keep: [sex, race]}"
	return map[string]string{
		"accuracy": adult("  accuracy: {}\n"),
		"evasion": adult("  evasion:\n    attacks:\n" +
			"      - {name: fgsm, norm: linf, eps: [0.01, 0.03, 0.1]}\n" +
			"      - {name: pgd, norm: linf, eps: [0.01, 0.03, 0.1], steps: 10, random_start: true}\n"),
		"membership": adult("  membership:\n    members: " + train + "\n    nonmembers: " + eval + "\n"),
		"fairness": adult("  fairness:\n    sensitive: [sex, race]\n    positive_label: 1\n    min_group_size: 30\n" +
			"    reference_groups: {sex: Male, race: White}\n    n_boot: 200\n" +
			"    counterfactual:\n      - {attribute: sex, one_hot: [cat_sex_Female, cat_sex_Male], values: [Female, Male]}\n"),
		"poisoning": adult("  poisoning:\n    data:\n      train: " + train + "\n      methods: [spectral_signatures]\n" +
			"      spectral_signatures: {expected_poison_rate: 0.05}\n    model:\n      methods: [strip]\n"),
		"attribute_inference": adult("  attribute_inference:\n    sensitive: sex\n    attack_model: logistic\n"),
		"certify":             adult("  certify: {sigma: [0.1], n0: 20, n: 200, samples: 100, radii: [0, 0.1]}\n"),
		"corruption":          adult("  corruption: {samples: 200}\n"),
		"differential":        adult("  differential:\n    variants:\n      - {name: int8, quantize: int8_static}\n      - {name: fp16, convert: fp16}\n"),
		"drift": adult("  drift:\n    reference: " + train + "\n    features: [num_age]\n    categorical: [sex]\n" +
			"    sensitive: [sex]\n    mmd: on\n    mmd_samples: 200\n    permutations: 50\n"),
		"extraction": adult("  extraction:\n    queries: " + train + "\n    budgets: [500, 2000]\n    training: {epochs: 5}\n"),
		"inversion": "version: 1\nmodel: " + Example(t, "digits_cnn.onnx") + "\nseed: 1\n" +
			"data: {x: " + Example(t, "digits_eval_x.npy") + ", y: " + Example(t, "digits_eval_y.npy") + ", range: [0, 1]}\n" +
			"suites:\n  inversion: {steps: 200, learning_rate: 0.1, init: zeros}\n",
		"slices": adult("  slices: {features: [num_age, sex, race], sensitive: [sex, race]}\n"),
	}
}

// SuiteNames returns the keys of SuiteConfigs, sorted.
func SuiteNames(configs map[string]string) []string {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
