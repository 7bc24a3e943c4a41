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
	"github.com/gauntlet-ml/gauntlet/reports"
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

// TestReferenceModelIsScannedToo: a model a suite opens besides the target
// (here a LiRA reference model, through suite.Target.OpenModel) is scanned
// and refused like the target: the hostile corpus's external_dotdot.onnx
// as a reference makes the membership suite fail with exit 2 naming the
// initializer and its location, before ONNX Runtime sees the file.
func TestReferenceModelIsScannedToo(t *testing.T) {
	ref, err := filepath.Abs(filepath.Join("..", "scan", "testdata", "hostile", "external_dotdot.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := membershipConfig(t, "[loss, lira]", "["+ref+"]")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	sr := rep.Suites[0]
	want := `refused: gauntlet scan finds 1 error(s): [onnx/external-data-escape] initializer W reads its data from "../outside.bin", outside the model's folder`
	if sr.Status != reports.StatusError || !strings.Contains(sr.Error, want) || rep.ExitCode != errs.Invalid {
		t.Errorf("status %s, exit %d, error %q; want error, exit 2, %q", sr.Status, rep.ExitCode, sr.Error, want)
	}
}
