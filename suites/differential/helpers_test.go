package differential

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// runSeed is the suite seed the engine derives from a config's seed: 1,
// so that the figures of these tests are those of `gauntlet run` with
// seed: 1 (docs/metrics/differential.md).
var runSeed = suite.DeriveSeed(1, "differential")

// mnist opens the shared MNIST CNN on its 2000 test images.
func mnist(t *testing.T) *suite.Target {
	t.Helper()
	dir := testutil.Shared(t, "fixtures/vision")
	ds := suitetest.Load(t, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "mnist_cnn.onnx"), ds)
	tg.BatchSize, tg.Pool, tg.Seed, tg.Range, tg.OutDir = 256, runtime.Pool{Workers: 2}, runSeed, [2]float64{0, 1}, t.TempDir()
	return tg
}

// adult opens the repository's Adult MLP (examples/adult, the demo model)
// on its 1000 evaluation rows.
func adult(t *testing.T) *suite.Target {
	t.Helper()
	dir := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "adult_mlp.onnx"), ds)
	tg.BatchSize, tg.Pool, tg.Seed, tg.Range, tg.OutDir = 256, runtime.Pool{Workers: 2}, runSeed, [2]float64{0, 1}, t.TempDir()
	return tg
}
