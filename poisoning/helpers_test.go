package poisoning

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// target opens model on the CPU with eval data x/y (may be empty) and
// returns a Target as the engine would build it.
func target(t testing.TB, model, x, y string) *suite.Target {
	t.Helper()
	env, err := runtime.Init(testutil.ORTLibrary(t))
	if err != nil {
		t.Fatal(err)
	}
	opt := runtime.Options{Device: cuda.Device{Kind: cuda.CPU}, IntraOpThreads: 1}
	sess, err := runtime.Open(env, model, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	var ds *data.Dataset
	if x != "" {
		if ds, err = data.Load(data.Spec{X: x, Y: y}, filepath.Dir(model)); err != nil {
			t.Fatal(err)
		}
		if err := ds.FitInput(sess.Input().Name, sess.Input().Shape); err != nil {
			t.Fatal(err)
		}
	}
	return &suite.Target{Model: sess.Model(), Session: sess, Env: env, SessionOptions: opt, Data: ds, Classes: sess.NumClasses(),
		OutputKind: sess.OutputKind(), BatchSize: 128, Pool: runtime.Pool{Workers: 2}, ConfidenceLevel: 0.95,
		BaseDir: filepath.Dir(model), Range: [2]float64{0, 1}, Seed: 5, OutDir: t.TempDir()}
}

// run decodes raw, runs the suite and checks that every listed metric was
// produced or declared undefined.
func run(t testing.TB, tg *suite.Target, raw map[string]any) *suite.Result {
	t.Helper()
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Suite{}.Run(context.Background(), tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	undef := map[string]bool{}
	for _, k := range res.Undefined {
		undef[k] = true
	}
	for _, k := range (Suite{}).Metrics(cfg, tg.Classes) {
		if _, ok := res.Metrics[k]; !ok && !undef[k] {
			t.Errorf("metric %s listed but not produced", k)
		}
	}
	for k := range res.Metrics {
		found := false
		for _, l := range (Suite{}).Metrics(cfg, tg.Classes) {
			found = found || l == k
		}
		if !found {
			t.Errorf("metric %s produced but not listed", k)
		}
	}
	return res
}
