package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestEverySuiteSameMetricsForWorkers1_2_4 is the determinism promise
// (DEVELOPERS.md: one seed, per-suite and per-batch streams, batch-order
// reduction) checked per suite through the engine: the same config and seed
// with runtime.workers 1, 2 and 4 must give byte-identical metrics maps (as
// the JSON report writes them: sorted keys, shortest round-trip floats) and
// the same undefined keys. Batch 97 splits the 1,000 Adult rows into 11
// uneven batches, so the workers interleave them differently. The configs
// are testutil.SuiteConfigs (repository fixtures only), one per registered
// suite.
func TestEverySuiteSameMetricsForWorkers1_2_4(t *testing.T) {
	configs := testutil.SuiteConfigs(t)
	if got, want := testutil.SuiteNames(configs), registry.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("SuiteConfigs covers %v, the registry has %v", got, want)
	}
	compared := 0
	for _, name := range registry.Names() {
		t.Run(name, func(t *testing.T) {
			var first []byte
			var firstUndef []string
			for _, w := range []string{"1", "2", "4"} {
				cfg := loadYAML(t, configs[name], "runtime.workers="+w, "runtime.intra_op_threads=1", "runtime.batch_size=97")
				rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
				if err != nil {
					t.Fatal(err)
				}
				sr := rep.Suites[0]
				if sr.Status != reports.StatusPassed || len(sr.Metrics) == 0 {
					t.Fatalf("workers %s: status %s, %d metrics, error %q", w, sr.Status, len(sr.Metrics), sr.Error)
				}
				b, err := json.Marshal(sr.Metrics)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first, firstUndef = b, sr.Undefined
					continue
				}
				if !bytes.Equal(first, b) {
					t.Errorf("workers %s: metrics differ from workers 1:\n%s\n%s", w, first, b)
				}
				if !reflect.DeepEqual(firstUndef, sr.Undefined) {
					t.Errorf("workers %s: undefined %v, workers 1 %v", w, sr.Undefined, firstUndef)
				}
			}
			compared++
		})
	}
	if compared != len(registry.Names()) {
		t.Errorf("compared %d suites, the registry has %d", compared, len(registry.Names()))
	}
}

// loadYAML writes a config (y, with the ONNX Runtime library and a
// temporary output folder added) and loads it with sets.
func loadYAML(t *testing.T, y string, sets ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	y += "runtime: {ort_library: " + testutil.ORTLibrary(t) + "}\noutput: {dir: " + filepath.Join(dir, "out") + "}\n"
	p := filepath.Join(dir, "gauntlet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{Path: p, Sets: sets, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
