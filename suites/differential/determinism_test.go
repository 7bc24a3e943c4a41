package differential

import (
	"encoding/csv"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// TestWorkersDoNotChangeResults: one worker or three, batch 64 or 100,
// the same metrics and the same INT8 file (its calibration draws from the
// suite seed, not from the batches).
func TestWorkersDoNotChangeResults(t *testing.T) {
	raw := map[string]any{"variants": []any{
		map[string]any{"name": "int8", "quantize": "int8_static"},
		map[string]any{"name": "fp16", "convert": "fp16"},
	}}
	var first map[string]float64
	var sha any
	for _, run := range []struct{ workers, batch int }{{1, 64}, {3, 100}} {
		tg := digits(t)
		tg.Pool, tg.BatchSize = runtime.Pool{Workers: run.workers}, run.batch
		res := suitetest.Run(t, Suite{}, tg, raw)
		s := res.Details["variants"].([]map[string]any)[0]["sha256"]
		if first == nil {
			first, sha = res.Metrics, s
			continue
		}
		if !maps.Equal(first, res.Metrics) {
			t.Errorf("workers %d batch %d: metrics differ:\n%v\n%v", run.workers, run.batch, first, res.Metrics)
		}
		if s != sha {
			t.Errorf("workers %d batch %d: INT8 file %v; first run %v", run.workers, run.batch, s, sha)
		}
	}
}

// TestFlipsCSV: the flips CSV of the Adult demo model's INT8 variant has
// one row per flip the metrics count, each naming a sample whose two
// classes differ and whose label is the data's.
func TestFlipsCSV(t *testing.T) {
	tg := adult(t)
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"variants": []any{map[string]any{"name": "int8", "quantize": "int8_static"}}})
	f, err := os.Open(filepath.Join(tg.OutDir, Folder, "int8_flips.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || len(rows[0]) != 4 || rows[0][0] != "sample" {
		t.Fatalf("header %v", rows)
	}
	// 5 flips: docs/metrics/differential.md's Adult table
	if n := len(rows) - 1; float64(n) != res.Metrics["int8.flips"] || n != 5 {
		t.Errorf("%d rows; int8.flips %v, docs 5", n, res.Metrics["int8.flips"])
	}
	for _, r := range rows[1:] {
		i, _ := strconv.Atoi(r[0])
		if r[1] == r[2] || r[3] != strconv.FormatInt(tg.Data.Y[i], 10) {
			t.Errorf("row %v: classes equal or label not the data's (%d)", r, tg.Data.Y[i])
		}
	}
}
