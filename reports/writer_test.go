package reports

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const goldenName = "report.golden.json"

func TestJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := (JSONWriter{}).Write(&buf, fixtureReport()); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden(t, goldenName, got)
	if err := ValidateJSON(got); err != nil {
		t.Errorf("golden report does not validate: %v", err)
	}
	if !bytes.HasSuffix(got, []byte("}\n")) {
		t.Errorf("JSON output does not end in a newline")
	}
	if !bytes.Contains(got, []byte(`"expr": "accuracy.top1 >= 0.9"`)) {
		t.Errorf("JSON output escapes HTML characters in gate expressions")
	}
}

func TestJSONDeterministic(t *testing.T) {
	// Map iteration order is random; the output must not be.
	first, err := MarshalJSON(fixtureReport())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := MarshalJSON(fixtureReport())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Fatal("two marshals of the same report differ")
		}
	}
}

func TestJSONEmptyReport(t *testing.T) {
	// A report with nil slices and maps is written with [] and {}, so that
	// it has the schema's types; the caller's report is not changed.
	r := fixtureReport()
	r.Data, r.Warnings, r.Gates = nil, nil, nil
	r.Model.Inputs = nil
	r.Model.Outputs = []Tensor{{Name: "y", Type: "float32"}}
	r.Suites = []SuiteResult{{Name: "s", Version: "1", Status: StatusSkipped}}
	b, err := MarshalJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(b); err != nil {
		t.Errorf("report with nil slices does not validate: %v\n%s", err, b)
	}
	for _, s := range []string{`"data": []`, `"gates": []`, `"warnings": []`, `"metrics": {}`, `"details": {}`, `"shape": []`, `"inputs": []`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("output lacks %s:\n%s", s, b)
		}
	}
	if r.Data != nil || r.Suites[0].Metrics != nil || r.Model.Outputs[0].Shape != nil {
		t.Errorf("MarshalJSON changed its argument")
	}
}

func TestJSONNonFinite(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(r *Report)
		want  string
	}{
		{"nan metric", func(r *Report) { r.Suites[0].Metrics["top1"] = math.NaN() }, `metric "accuracy.top1" is NaN`},
		{"+inf metric", func(r *Report) { r.Suites[1].Metrics["pgd.linf.eps=0.1.robust_accuracy"] = math.Inf(1) }, `metric "evasion.pgd.linf.eps=0.1.robust_accuracy" is +Inf`},
		{"-inf metric", func(r *Report) { r.Suites[0].Metrics["macro_f1"] = math.Inf(-1) }, `metric "accuracy.macro_f1" is -Inf`},
		{"nan gate value", func(r *Report) { *r.Gates[0].Value = math.NaN() }, `value of metric "accuracy.top1" is NaN`},
		{"nan detail", func(r *Report) { r.Suites[1].Details["eps"] = []any{0.1, math.NaN()} }, `details.eps[1] is NaN`},
		{"inf duration", func(r *Report) { r.DurationS = math.Inf(1) }, `duration_s is +Inf`},
	}
	for _, tt := range tests {
		r := fixtureReport()
		tt.spoil(r)
		var buf bytes.Buffer
		err := (JSONWriter{}).Write(&buf, r)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not contain %q", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", tt.name, buf.Len())
		}
	}
	if _, err := MarshalJSON(nil); err == nil {
		t.Error("MarshalJSON(nil): no error")
	}
}

func TestWriterFor(t *testing.T) {
	w, err := WriterFor("json")
	if err != nil || w.Format() != "json" {
		t.Fatalf("WriterFor(json) = %v, %v", w, err)
	}
	_, err = WriterFor("yaml")
	want := `report format "yaml": unknown format (known: json, junit, sarif, markdown, html, cyclonedx)`
	if err == nil || err.Error() != want {
		t.Errorf("WriterFor(yaml) error = %v, want %s", err, want)
	}
	if c := errs.Code(err, -1); c != errs.Invalid {
		t.Errorf("WriterFor(yaml): exit code %d, want %d", c, errs.Invalid)
	}
	for _, f := range Formats() {
		if w, err := WriterFor(f); err != nil || w.Format() != f {
			t.Errorf("WriterFor(%q) = %v, %v", f, w, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	onlyFile := func() {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "report.json" {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("folder holds %v, want only report.json", names)
		}
	}

	// A failing write leaves the old file and no temporary file.
	boom := errors.New("boom")
	err := WriteFileAtomic(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("failing write: error %v, want boom naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("failing write changed the file to %q", b)
	}
	onlyFile()

	// A successful write replaces the file whole.
	w, _ := WriterFor("json")
	r := fixtureReport()
	if err := WriteFileAtomic(path, func(out io.Writer) error { return w.Write(out, r) }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(b); err != nil {
		t.Errorf("written report does not validate: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("written file mode %v, %v; want 0644", fi.Mode(), err)
	}
	onlyFile()

	// A writer error (NaN metric) leaves the previous report intact.
	r.Suites[0].Metrics["top1"] = math.NaN()
	err = WriteFileAtomic(path, func(out io.Writer) error { return w.Write(out, r) })
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "accuracy.top1") {
		t.Errorf("NaN report: error %v, want one naming %s and the metric", err, path)
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b2, b) {
		t.Errorf("failed write changed the previous report")
	}
	onlyFile()

	// A missing folder is an error naming the path.
	missing := filepath.Join(dir, "no", "such", "report.json")
	err = WriteFileAtomic(missing, func(io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing folder: error %v, want one naming %s", err, missing)
	}
	// A path that is a folder cannot be replaced; nothing is left behind.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(sub, func(io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("folder as path: error %v, want one naming %s", err, sub)
	}
	if err := os.Remove(sub); err != nil {
		t.Errorf("folder as path: %v", err)
	}
	onlyFile()
	if err := WriteFileAtomic(path, nil); err == nil {
		t.Error("nil write function: no error")
	}
}

// TestWriteFilesAtomicAllOrNone: when the second of three files fails to
// render, none is written: the first keeps its old content, the others do
// not appear, and no temporary file is left.
func TestWriteFilesAtomicAllOrNone(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.xml"), filepath.Join(dir, "c.md")
	if err := os.WriteFile(a, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	boom := errors.New("boom")
	err := WriteFilesAtomic([]AtomicFile{
		{Path: a, Write: text("new a\n")},
		{Path: b, Write: func(w io.Writer) error { io.WriteString(w, "partial"); return boom }},
		{Path: c, Write: text("new c\n")},
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), b) {
		t.Fatalf("error %v, want boom naming %s", err, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only a.json", names)
	}
	if got, _ := os.ReadFile(a); string(got) != "old\n" {
		t.Errorf("a.json = %q, want its old content", got)
	}
	if err := WriteFilesAtomic([]AtomicFile{{Path: a, Write: text("new a\n")}, {Path: c, Write: text("new c\n")}}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{a: "new a\n", c: "new c\n"} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
}

// TestWriteFilesAtomicRenameFails injects a failure into the rename of the
// Nth temporary file into place (N = 0, 1, 2 of three) and checks that the
// folder then holds exactly the previous set with its old contents: all
// three files, one of them, or nothing when there was none. With hard
// links refused, the previous files are renamed aside and put back the
// same way.
func TestWriteFilesAtomicRenameFails(t *testing.T) {
	defer func() { rename, link = os.Rename, os.Link }()
	names := []string{"a.json", "b.xml", "c.md"}
	boom := errors.New("injected rename failure")
	for _, noLinks := range []bool{false, true} {
		for _, before := range [][]string{names, {"b.xml"}, nil} {
			for n := range names {
				dir := t.TempDir()
				old := map[string]string{}
				for _, f := range before {
					old[f] = "old " + f + "\n"
					if err := os.WriteFile(filepath.Join(dir, f), []byte(old[f]), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var files []AtomicFile
				for _, f := range names {
					files = append(files, AtomicFile{Path: filepath.Join(dir, f), Write: func(w io.Writer) error {
						_, err := io.WriteString(w, "new "+f+"\n")
						return err
					}})
				}
				placed := 0
				rename = func(from, to string) error {
					if strings.Contains(filepath.Base(from), ".tmp-") {
						if placed == n {
							return boom
						}
						placed++
					}
					return os.Rename(from, to)
				}
				link = os.Link
				if noLinks {
					link = func(string, string) error { return errors.New("no hard links here") }
				}
				what := fmt.Sprintf("links %v, before %v, rename %d fails", !noLinks, before, n)
				err := WriteFilesAtomic(files)
				rename, link = os.Rename, os.Link
				if !errors.Is(err, boom) || !strings.Contains(err.Error(), files[n].Path) {
					t.Errorf("%s: error %v, want the injected one naming %s", what, err, files[n].Path)
				}
				entries, _ := os.ReadDir(dir)
				got := map[string]string{}
				for _, e := range entries {
					b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
					got[e.Name()] = string(b)
				}
				if !reflect.DeepEqual(got, old) {
					t.Errorf("%s: folder holds %v, want the previous set %v", what, got, old)
				}
			}
		}
	}
	// Without a failure, the new set replaces the old and nothing else is
	// left (no kept-aside file).
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	os.WriteFile(a, []byte("old\n"), 0o644)
	if err := WriteFilesAtomic([]AtomicFile{{Path: a, Write: func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }}}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want a.json alone", len(entries))
	}
	if b, _ := os.ReadFile(a); string(b) != "new\n" {
		t.Errorf("a.json = %q, want the new content", b)
	}
}
