package suitetest

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// CPU returns the session options Open uses: the CPU execution provider
// and one intra-op thread, so that tests do not depend on the machine's
// core count.
func CPU() runtime.Options {
	return runtime.Options{Device: cuda.Device{Kind: cuda.CPU}, IntraOpThreads: 1}
}

// Open opens model with CPU's options; see OpenWith.
func Open(t testing.TB, model string, ds *data.Dataset) *suite.Target {
	t.Helper()
	return OpenWith(t, model, ds, CPU())
}

// OpenWith opens model with opt on the ONNX Runtime library of
// testutil.ORTLibrary, closes the session when the test ends and, when ds
// is not nil, fits ds to the model input and validates it (finite
// features, labels below the model's class count). The Target has Model,
// Session, Env, SessionOptions, Data, Classes, OutputKind, BaseDir (the
// model's folder) and ConfidenceLevel 0.95 set; BatchSize, Pool, Seed,
// Range and OutDir are the caller's.
func OpenWith(t testing.TB, model string, ds *data.Dataset, opt runtime.Options) *suite.Target {
	t.Helper()
	env, err := runtime.Init(testutil.ORTLibrary(t))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.Open(env, model, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	if ds != nil {
		in := sess.Input()
		if err := ds.FitInput(in.Name, in.Shape); err != nil {
			t.Fatal(err)
		}
		if err := ds.Validate(sess.NumClasses()); err != nil {
			t.Fatal(err)
		}
	}
	return &suite.Target{Model: sess.Model(), Session: sess, Env: env, SessionOptions: opt, Data: ds,
		Classes: sess.NumClasses(), OutputKind: sess.OutputKind(), BaseDir: filepath.Dir(model), ConfidenceLevel: 0.95}
}

// Load loads the data set of spec, its paths relative to dir.
func Load(t testing.TB, spec data.Spec, dir string) *data.Dataset {
	t.Helper()
	ds, err := data.Load(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// Digits opens examples/<model> on the 400 digits evaluation images
// (examples/digits_eval_x.npy and digits_eval_y.npy).
func Digits(t testing.TB, model string) *suite.Target {
	t.Helper()
	ds := Load(t, data.Spec{X: "digits_eval_x.npy", Y: "digits_eval_y.npy"}, testutil.Example(t, ""))
	return Open(t, testutil.Example(t, model), ds)
}

// Adult opens the shared fixture adult_mlp.onnx on adult_test.csv
// (testutil.Shared skips the test when ../shared is absent): the 48 num_
// and cat_ columns are the features (every column but label, sex, race
// and age) and sex and race are kept.
func Adult(t testing.TB) *suite.Target {
	t.Helper()
	dir := testutil.Shared(t, "fixtures/tabular")
	ds := Load(t, data.Spec{CSV: "adult_test.csv", Label: "label", Keep: []string{"sex", "race"}, Exclude: []string{"age"}}, dir)
	return Open(t, filepath.Join(dir, "adult_mlp.onnx"), ds)
}

// Run decodes raw with s, runs s on tg and checks the result against
// s.Metrics: every listed metric is produced or declared undefined, and
// every produced or undefined metric is listed. Decode and Run errors
// are fatal.
func Run(t testing.TB, s suite.Suite, tg *suite.Target, raw map[string]any) *suite.Result {
	t.Helper()
	cfg, err := s.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := s.Metrics(cfg, tg.Classes)
	listed := map[string]bool{}
	for _, k := range keys {
		listed[k] = true
	}
	undefined := map[string]bool{}
	for _, k := range res.Undefined {
		undefined[k] = true
	}
	for _, k := range keys {
		if _, ok := res.Metrics[k]; !ok && !undefined[k] {
			t.Errorf("%s: metric %s listed but not produced", s.Name(), k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(res.Metrics)) {
		if !listed[k] {
			t.Errorf("%s: metric %s produced but not listed", s.Name(), k)
		}
	}
	for _, k := range res.Undefined {
		if !listed[k] {
			t.Errorf("%s: metric %s declared undefined but not listed", s.Name(), k)
		}
	}
	return res
}

// Defined fails the test for every metric res declares undefined, for
// runs whose metrics must all have values.
func Defined(t testing.TB, res *suite.Result) {
	t.Helper()
	for _, k := range res.Undefined {
		t.Errorf("metric %s undefined", k)
	}
}
