package scan

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// maxHostileAlloc bounds what the scan, shape inference and the gradient
// graph build may allocate, in all, on one hostile file: 64 MiB, against
// declared sizes of 4 TiB (input_dim_2e40.onnx) and 16 TiB
// (initializer_dim_2e40.onnx), and file sizes of at most 590 KB
// (nested_10000.onnx).
const maxHostileAlloc = 64 << 20

// TestHostileAllocation runs what `gauntlet scan` and `gauntlet inspect`
// do on every file of the hostile corpus and measures the bytes allocated
// (runtime.MemStats.TotalAlloc, every allocation, freed or not): every
// file is flagged or refused, and nothing is allocated in proportion to a
// declared size. cmd/gauntlet's TestHostileModels checks the binary's
// messages, exit codes and peak RSS.
func TestHostileAllocation(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 16 {
		t.Fatalf("%d hostile files, want 16 (docs/security.md)", len(files))
	}
	var most uint64
	for _, p := range files {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, scanErr := File(p, Options{})
		if b, err := os.ReadFile(p); err == nil {
			if m, err := onnx.Parse(b); err == nil {
				m.Infer()
				autodiff.Inspect(m)
			}
		}
		runtime.ReadMemStats(&after)
		d := after.TotalAlloc - before.TotalAlloc
		if d > maxHostileAlloc {
			t.Errorf("%s: %d bytes allocated, want at most %d", p, d, maxHostileAlloc)
		}
		most = max(most, d)
		flagged := scanErr != nil
		if r != nil {
			n, _ := Count(r, "error")
			flagged = n > 0
		}
		if !flagged {
			t.Errorf("%s: neither refused nor flagged", p)
		}
	}
	t.Logf("at most %d bytes allocated for one file", most)
}
