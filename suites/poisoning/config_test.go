package poisoning

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// digitsTrain is the committed digits training split, relative to
// examples/ (the digits target's BaseDir).
var digitsTrain = map[string]any{"x": "poisoning/digits_train_x.npy", "y": "poisoning/digits_train_y.npy"}

// TestDecodeErrors: bad config values are exit-2 errors naming the field.
func TestDecodeErrors(t *testing.T) {
	sus := func(extra map[string]any) map[string]any {
		s := map[string]any{"train": digitsTrain, "attacks": []any{map[string]any{"type": "label_flip"}}}
		for k, v := range extra {
			s[k] = v
		}
		return map[string]any{"susceptibility": s}
	}
	cases := map[string]struct {
		raw  map[string]any
		want string
	}{
		"empty":          {map[string]any{}, "enable at least one"},
		"unknown key":    {map[string]any{"dta": map[string]any{}}, "dta"},
		"rate 0":         {sus(map[string]any{"rates": []any{0.0}}), "rates[0]"},
		"rate 1":         {sus(map[string]any{"rates": []any{0.1, 1.0}}), "rates[1]"},
		"rate negative":  {sus(map[string]any{"rates": []any{-0.1}}), "outside (0, 1)"},
		"trainer bad":    {sus(map[string]any{"trainer": "svm"}), "want logreg, mlp, cnn or command"},
		"command no tpl": {sus(map[string]any{"trainer": "command", "train_command": "train {train_x} {train_y}"}), "{out_model}"},
		"patch no target": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain,
			"attacks": []any{map[string]any{"type": "patch", "width": 2, "height": 2}}}}, "target"},
		"dup names": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain,
			"attacks": []any{map[string]any{"type": "label_flip"}, map[string]any{"type": "label_flip"}}}}, "used twice"},
		"data method":    {map[string]any{"data": map[string]any{"train": digitsTrain, "methods": []any{"pca"}}}, "methods"},
		"model method":   {map[string]any{"model": map[string]any{"methods": []any{"abs"}}}, "methods"},
		"trigger target": {map[string]any{"model": map[string]any{"trigger": map[string]any{"type": "patch"}}}, "target"},
		"analysis":       {map[string]any{"data": map[string]any{"train": digitsTrain, "activation_clustering": map[string]any{"analysis": "biggest"}}}, "analysis"},
		"clean-label flip": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain,
			"attacks": []any{map[string]any{"type": "label_flip", "clean_label": true}}}}, "attacks[0].clean_label"},
		"warp strength": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain,
			"attacks": []any{map[string]any{"type": "warp", "strength": -1.0, "target": 0}}}}, "attacks[0].strength"},
		"model clean-label": {map[string]any{"model": map[string]any{"target": 0, "trigger": map[string]any{"type": "sinusoidal", "clean_label": true}}}, "clean_label"},
	}
	for name, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 mentioning %q", name, err, c.want)
		}
	}
}

// runErr decodes raw and runs it, returning the run error.
func runErr(t *testing.T, raw map[string]any) error {
	t.Helper()
	tg := digitsTarget(t)
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Suite{}.Run(context.Background(), tg, cfg)
	return err
}

// TestRunErrors: a layer that does not exist, a trigger outside the
// input, a target beyond the classes and failing train commands are exit-2
// errors with a message that says what is wrong (the command's stderr tail).
func TestRunErrors(t *testing.T) {
	cases := map[string]struct {
		raw  map[string]any
		want string
	}{
		"layer": {map[string]any{"data": map[string]any{"train": digitsTrain, "layer": "no_such_tensor"}}, "no_such_tensor"},
		"layers": {map[string]any{"data": map[string]any{"train": digitsTrain, "layers": []any{"no_such_tensor"}}},
			`config suites.poisoning.data.layers[0]: the model has no tensor "no_such_tensor"`},
		"trigger outside": {map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 0,
			"trigger": map[string]any{"type": "patch", "x": 7, "y": 0, "width": 3, "height": 3}}},
			"config suites.poisoning.model.trigger: the trigger (x 7, y 0, width 3, height 3) does not fit the 8×8 (height×width) input"},
		"blend outside": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "blend", "x": 6, "y": 6, "width": 4, "height": 4, "alpha": 0.5, "target": 0}}}},
			"config suites.poisoning.susceptibility.attacks[0]: the trigger (x 6, y 6, width 4, height 4) does not fit the 8×8 (height×width) input"},
		"warp strength": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "warp", "strength": 5, "target": 0}}}},
			"config suites.poisoning.susceptibility.attacks[0].strength: 5: must be at most half the image side, 4"},
		"target": {map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 10,
			"trigger": map[string]any{"type": "patch", "width": 1, "height": 1}}}, "not a class"},
		"command fails": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "label_flip"}}, "trainer": "command",
			"train_command": "echo cannot train {train_x} {train_y} {out_model} >&2; exit 3"}}, "cannot train"},
		"command no model": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "label_flip"}}, "trainer": "command",
			"train_command": "echo trained {train_x} {train_y} {out_model}"}}, "wrote no model"},
		"warp grid": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "warp", "grid": 9, "target": 0}}}}, "config suites.poisoning.susceptibility.attacks[0].grid: 9 is larger than the 8×8"},
		"sinusoidal frequency": {map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 0,
			"trigger": map[string]any{"type": "sinusoidal"}}}, "config suites.poisoning.model.trigger.frequency: 6 cycles across a width of 8"},
		"train missing": {map[string]any{"data": map[string]any{"train": map[string]any{"x": "missing.npy", "y": "missing_y.npy"}}}, "missing.npy"},
	}
	for name, c := range cases {
		err := runErr(t, c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 mentioning %q", name, err, c.want)
		}
	}
}

// TestTrainCommand runs a train_command that "trains" by copying the
// shipped digits CNN after checking that the poisoned set was written: every
// run then reports that model's accuracy on the 400 eval images, 0.965
// (examples/REFERENCE.json, "accuracy").
func TestTrainCommand(t *testing.T) {
	cnn := testutil.Example(t, "digits_cnn.onnx")
	tg := digitsTarget(t)
	res := run(t, tg, map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.05},
		"attacks":       []any{map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2, "target": 0}},
		"trainer":       "command",
		"train_command": "test -s {train_x} && test -s {train_y} && cp '" + cnn + "' {out_model}"}})
	base := res.Metrics["susceptibility.baseline.clean_accuracy"]
	got := res.Metrics["susceptibility.patch.rate=0.05.clean_accuracy"]
	if math.Abs(base-0.965) > 1e-12 || math.Abs(got-0.965) > 1e-12 {
		t.Errorf("copied model: accuracy %g and %g; REFERENCE.json 0.965", base, got)
	}
}

// TestWorkersIndependent: the data and model parts give the same metrics
// with 1 and 2 workers and different batch sizes.
func TestWorkersIndependent(t *testing.T) {
	raw := func() map[string]any {
		return map[string]any{
			"data": map[string]any{"train": digitsTrain, "methods": []any{"spectral_signatures", "activation_clustering"}},
			"model": map[string]any{"methods": []any{"strip", "neural_cleanse"}, "target": 0,
				"trigger":        map[string]any{"type": "patch", "x": 6, "y": 6, "width": 2, "height": 2},
				"strip":          map[string]any{"samples": 50, "overlays": 8},
				"neural_cleanse": map[string]any{"samples": 16, "steps": 10, "classes": []any{0, 1, 2}}},
		}
	}
	var first map[string]float64
	for _, wb := range [][2]int{{1, 64}, {2, 17}} {
		tg := digitsTarget(t)
		tg.Pool.Workers, tg.BatchSize = wb[0], wb[1]
		res := run(t, tg, raw())
		if first == nil {
			first = res.Metrics
			continue
		}
		if !reflect.DeepEqual(first, res.Metrics) {
			t.Errorf("workers %d batch %d: metrics differ:\n%v\n%v", wb[0], wb[1], first, res.Metrics)
		}
	}
}

// TestExplicitZeroRefused: a key set to zero (or an empty list) is checked
// like any other value, not replaced by the default, and the error names the
// full key; the defaults (docs/metrics/poisoning.md) apply only to absent
// keys.
func TestExplicitZeroRefused(t *testing.T) {
	block := func(part string, kv map[string]any) map[string]any {
		b := map[string]any{}
		switch part {
		case "data":
			b["train"] = digitsTrain
		case "susceptibility":
			b["train"] = digitsTrain
			b["attacks"] = []any{map[string]any{"type": "label_flip"}}
		}
		for k, v := range kv {
			b[k] = v
		}
		return map[string]any{part: b}
	}
	sub := func(part, name string, kv map[string]any) map[string]any {
		return block(part, map[string]any{name: kv})
	}
	const p = "config suites.poisoning."
	cases := map[string]struct {
		raw  map[string]any
		want string
	}{
		"data methods empty": {block("data", map[string]any{"methods": []any{}}), p + "data.methods: empty"},
		"expected_poison_rate 0": {sub("data", "spectral_signatures", map[string]any{"expected_poison_rate": 0}),
			p + "data.spectral_signatures.expected_poison_rate: 0 is outside (0, 0.5]"},
		"expected_poison_rate 0.6": {sub("data", "spectral_signatures", map[string]any{"expected_poison_rate": 0.6}),
			p + "data.spectral_signatures.expected_poison_rate: 0.6 is outside (0, 0.5]"},
		"expected_poison_rate -0.1": {sub("data", "spectral_signatures", map[string]any{"expected_poison_rate": -0.1}),
			p + "data.spectral_signatures.expected_poison_rate: -0.1 is outside (0, 0.5]"},
		"centred contradicts score": {sub("data", "spectral_signatures", map[string]any{"centred": false, "score": "centred"}),
			p + "data.spectral_signatures.centred: false contradicts score: centred"},
		"layers with layer": {block("data", map[string]any{"layer": "x", "layers": []any{"y"}}), p + "data.layers: candidate layers are tried only when layer is unset"},
		"layers empty name": {block("data", map[string]any{"layers": []any{""}}), p + "data.layers[0]: empty tensor name"},
		"eps_multiplier 0": {sub("data", "spectral_signatures", map[string]any{"eps_multiplier": 0}),
			p + "data.spectral_signatures.eps_multiplier: 0 must be positive"},
		"score empty": {sub("data", "spectral_signatures", map[string]any{"score": ""}), p + `data.spectral_signatures.score: "": want centred or art`},
		"dims 0":      {sub("data", "activation_clustering", map[string]any{"dims": 0}), p + "data.activation_clustering.dims: 0: must be at least 1"},
		"restarts 0":  {sub("data", "activation_clustering", map[string]any{"restarts": 0}), p + "data.activation_clustering.restarts: 0: must be at least 1"},
		"size_threshold 0": {sub("data", "activation_clustering", map[string]any{"size_threshold": 0}),
			p + "data.activation_clustering.size_threshold: 0 is outside (0, 0.5)"},
		"silhouette_threshold 2": {sub("data", "activation_clustering", map[string]any{"silhouette_threshold": 2}),
			p + "data.activation_clustering.silhouette_threshold: 2 is outside [-1, 1]"},
		"analysis empty":      {sub("data", "activation_clustering", map[string]any{"analysis": ""}), p + `data.activation_clustering.analysis: "": want`},
		"reduce empty":        {sub("data", "activation_clustering", map[string]any{"reduce": ""}), p + `data.activation_clustering.reduce: "": want pca or ica`},
		"model methods empty": {block("model", map[string]any{"methods": []any{}}), p + "model.methods: empty"},
		"overlays 0":          {sub("model", "strip", map[string]any{"overlays": 0}), p + "model.strip.overlays: 0: must be at least 1"},
		"strip samples -1":    {sub("model", "strip", map[string]any{"samples": -1}), p + "model.strip.samples: -1: must be at least 0"},
		"frr 0":               {sub("model", "strip", map[string]any{"frr": 0}), p + "model.strip.frr: 0 is outside (0, 1)"},
		"cleanse samples 0":   {sub("model", "neural_cleanse", map[string]any{"samples": 0}), p + "model.neural_cleanse.samples: 0: must be at least 1"},
		"cleanse steps 0":     {sub("model", "neural_cleanse", map[string]any{"steps": 0}), p + "model.neural_cleanse.steps: 0: must be at least 1"},
		"cleanse lr 0":        {sub("model", "neural_cleanse", map[string]any{"learning_rate": 0}), p + "model.neural_cleanse.learning_rate: 0: must be a number > 0"},
		"init_cost 0":         {sub("model", "neural_cleanse", map[string]any{"init_cost": 0}), p + "model.neural_cleanse.init_cost: 0: must be a number > 0"},
		"success 0":           {sub("model", "neural_cleanse", map[string]any{"success": 0}), p + "model.neural_cleanse.success: 0 is outside (0, 1]"},
		"threshold 0":         {sub("model", "neural_cleanse", map[string]any{"threshold": 0}), p + "model.neural_cleanse.threshold: 0: must be a number > 0"},
		"cleanse classes []":  {sub("model", "neural_cleanse", map[string]any{"classes": []any{}}), p + "model.neural_cleanse.classes: empty"},
		"rates empty":         {block("susceptibility", map[string]any{"rates": []any{}}), p + "susceptibility.rates: empty"},
		"trainer empty":       {block("susceptibility", map[string]any{"trainer": ""}), p + `susceptibility.trainer: "": want logreg, mlp, cnn or command`},
		"hidden 0":            {sub("susceptibility", "training", map[string]any{"hidden": 0}), p + "susceptibility.training.hidden: 0: must be at least 1"},
		"filters 0":           {sub("susceptibility", "training", map[string]any{"filters": 0}), p + "susceptibility.training.filters: 0: must be at least 1"},
		"epochs 0":            {sub("susceptibility", "training", map[string]any{"epochs": 0}), p + "susceptibility.training.epochs: 0: must be at least 1"},
		"batch 0":             {sub("susceptibility", "training", map[string]any{"batch": 0}), p + "susceptibility.training.batch: 0: must be at least 1"},
		"training lr 0":       {sub("susceptibility", "training", map[string]any{"learning_rate": 0}), p + "susceptibility.training.learning_rate: 0: must be a number > 0"},
		"wrong type":          {sub("model", "strip", map[string]any{"samples": "many"}), `suites.poisoning.model.strip.samples: want an integer, got "many"`},
	}
	for name, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want exit code 2 and %q", name, err, c.want)
		}
	}
}

// TestAbsentKeysDefault: absent keys take the documented defaults
// (docs/metrics/poisoning.md, train.Defaults), and an explicit STRIP
// samples: 0 keeps its documented meaning (a third of the data per scored part) instead of
// becoming the default 500.
func TestAbsentKeysDefault(t *testing.T) {
	raw := map[string]any{
		"data":  map[string]any{"train": digitsTrain},
		"model": map[string]any{"strip": map[string]any{"samples": 0}},
		"susceptibility": map[string]any{"train": digitsTrain,
			"attacks": []any{map[string]any{"type": "label_flip"}}},
	}
	got, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.(Config)
	d := cfg.Data
	// No poison rate and no score: the cut-off and the variant come from the data.
	if d.Spectral != (SpectralConfig{ExpectedPoisonRate: 0, EpsMultiplier: 1.5, Score: ""}) {
		t.Errorf("spectral %+v", d.Spectral)
	}
	if d.Clustering != (ClusteringConfig{Dims: 10, Reduce: ReducePCA, Analysis: AnalysisAuto, SizeThreshold: 0.35, SilhouetteThreshold: 0.1, Restarts: 50}) {
		t.Errorf("clustering %+v", d.Clustering)
	}
	if got := strings.Join(d.Methods, ","); got != MethodSpectral+","+MethodClustering {
		t.Errorf("data methods %s", got)
	}
	m := cfg.Model
	if m.STRIP != (STRIPConfig{Overlays: 0, Samples: 0, FRR: DefaultSTRIPFRR, Alpha: DefaultSTRIPAlpha, Score: STRIPScoreMean}) { // overlays 0: auto
		t.Errorf("strip %+v, want samples 0 kept", m.STRIP)
	}
	nc := m.NeuralCleanse
	if nc.Samples != DefaultCleanseSamples || nc.Steps != DefaultCleanseSteps || nc.LearningRate != DefaultCleanseLR ||
		nc.InitCost != DefaultCleanseCost || nc.Success != DefaultCleanseSuccess || nc.Threshold != DefaultAnomaly || nc.Classes != nil {
		t.Errorf("neural cleanse %+v", nc)
	}
	s := cfg.Susceptibility
	if !reflect.DeepEqual(s.Rates, DefaultRates) || s.Trainer != TrainerMLP {
		t.Errorf("susceptibility rates %v trainer %s", s.Rates, s.Trainer)
	}
	if s.Training != (TrainerConfig{Hidden: 64, Filters: 8, Epochs: 30, Batch: 32, LearningRate: 3e-3}) {
		t.Errorf("training %+v, want train.Defaults", s.Training)
	}
}
