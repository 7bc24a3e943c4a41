package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestExternalDataOutsideTheModelsFolderIsRefused: run from a working
// directory that is neither the model's folder nor its parent, the
// hostile corpus's external-data files (scan/testdata/hostile, written by
// its main.go; docs/security.md) are refused before ONNX Runtime sees them,
// exit 2, naming the initializer and its location: "../outside.bin" and
// "/etc/passwd" are outside the model's folder, and escape_link.bin is a
// symbolic link in it to ../outside.bin. The model is given by an absolute
// path and by one relative to the config's folder (not the working
// directory either).
func TestExternalDataOutsideTheModelsFolderIsRefused(t *testing.T) {
	hostile, err := filepath.Abs(filepath.Join("..", "scan", "testdata", "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	lib := testutil.ORTLibrary(t)
	cases := []struct{ file, want string }{
		{"external_dotdot.onnx", `[onnx/external-data-escape] initializer W reads its data from "../outside.bin", outside the model's folder`},
		{"external_absolute.onnx", `[onnx/external-data-escape] initializer W reads its data from "/etc/passwd", outside the model's folder`},
		{"external_symlink.onnx", `[onnx/external-data-escape] initializer W reads its data from "escape_link.bin", a link to`},
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(data, []byte("a,b,c,d,label\n0.1,0.2,0.3,0.4,0\n0.5,0.6,0.7,0.8,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	checked := 0
	for _, c := range cases {
		abs := filepath.Join(hostile, c.file)
		rel, err := filepath.Rel(dir, abs) // config paths are relative to the config's folder
		if err != nil {
			t.Fatal(err)
		}
		for _, model := range []string{abs, rel} {
			y := "version: 1\nmodel: " + model + "\nruntime: {ort_library: " + lib + "}\n" +
				"data: {csv: " + data + ", label: label}\noutput: {dir: " + filepath.Join(dir, "out") + "}\nsuites: {accuracy: {}}\n"
			p := filepath.Join(dir, "gauntlet.yaml")
			if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
			if rep != nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "refused") {
				t.Errorf("%s: report %v, err %v; want exit 2 with %q", model, rep != nil, err, c.want)
			}
			checked++
		}
	}
	if checked != 6 {
		t.Errorf("%d runs checked, want 6", checked)
	}
}
