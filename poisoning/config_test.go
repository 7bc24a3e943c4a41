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
		"trigger outside": {map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 0,
			"trigger": map[string]any{"type": "patch", "x": 7, "y": 0, "width": 3, "height": 3}}}, "does not fit"},
		"target": {map[string]any{"model": map[string]any{"methods": []any{"strip"}, "target": 10,
			"trigger": map[string]any{"type": "patch", "width": 1, "height": 1}}}, "not a class"},
		"command fails": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "label_flip"}}, "trainer": "command",
			"train_command": "echo cannot train {train_x} {train_y} {out_model} >&2; exit 3"}}, "cannot train"},
		"command no model": {map[string]any{"susceptibility": map[string]any{"train": digitsTrain, "rates": []any{0.1},
			"attacks": []any{map[string]any{"type": "label_flip"}}, "trainer": "command",
			"train_command": "echo trained {train_x} {train_y} {out_model}"}}, "wrote no model"},
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
