package poisoning

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// target opens model on the CPU with eval data x/y (may be empty, paths
// relative to the model's folder) and returns a Target as the engine would
// build it, with the settings of withSettings.
func target(t testing.TB, model, x, y string) *suite.Target {
	t.Helper()
	var ds *data.Dataset
	if x != "" {
		ds = suitetest.Load(t, data.Spec{X: x, Y: y}, filepath.Dir(model))
	}
	return withSettings(t, suitetest.Open(t, model, ds))
}

// withSettings sets the poisoning tests' run settings on tg: batches of
// 128 on two workers, data.range [0, 1], seed 5 and a temporary OutDir.
func withSettings(t testing.TB, tg *suite.Target) *suite.Target {
	tg.BatchSize, tg.Pool, tg.Range, tg.Seed, tg.OutDir = 128, runtime.Pool{Workers: 2}, [2]float64{0, 1}, 5, t.TempDir()
	return tg
}

// run is suitetest.Run of the poisoning suite.
func run(t testing.TB, tg *suite.Target, raw map[string]any) *suite.Result {
	t.Helper()
	return suitetest.Run(t, Suite{}, tg, raw)
}
