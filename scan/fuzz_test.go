package scan

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// repoModels returns the .onnx files of the repository (the committed
// fixtures and examples and the hostile corpus; build outputs under out/
// and hidden folders are skipped), sorted.
func repoModels(tb testing.TB) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != ".." && (strings.HasPrefix(d.Name(), ".") || p == filepath.Join("..", "out") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".onnx") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// FuzzModel feeds byte strings to everything Gauntlet does with a model
// file before ONNX Runtime sees it: onnx.Parse, Check, TopoSort, Infer
// (shape inference), autodiff.Inspect (`gauntlet inspect`: the gradient
// graph build) and the scan, with external data resolved in an empty
// folder. No panic, and the scan's findings are sorted by severity. Seeds:
// every .onnx file of the repository, the hostile corpus included.
func FuzzModel(f *testing.F) {
	models := repoModels(f)
	if len(models) < 30 {
		f.Fatalf("%d .onnx seeds under the repository, want the committed fixtures (at least 30)", len(models))
	}
	for _, p := range models {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		// An input that runs for a minute is a hang: crash, so that the
		// fuzzer keeps the input (run with GOTRACEBACK=all for every
		// goroutine's stack). A seed runs in milliseconds.
		hang := time.AfterFunc(time.Minute, func() { panic("FuzzModel: one input ran for a minute") })
		defer hang.Stop()
		m, err := onnx.Parse(b)
		if err != nil {
			return
		}
		_ = m.Check()
		_ = m.Infer()
		_ = autodiff.Inspect(m)
		_ = m.Clone().TopoSort()
		r := Model(m, dir, Options{})
		last := -1
		for _, fd := range r.Findings {
			k, err := reports.SeverityRank(fd.Severity)
			if err != nil {
				t.Fatalf("finding %+v: %v", fd, err)
			}
			if last >= 0 && k > last {
				t.Fatalf("findings not sorted by severity: %+v", r.Findings)
			}
			last = k
		}
	})
}
