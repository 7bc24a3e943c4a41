package reports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Writer renders a report in one format.
type Writer interface {
	// Format is the name users pass to select the writer ("json").
	Format() string
	// Write renders r to w. It does not change r.
	Write(w io.Writer, r *Report) error
}

// writers are the known formats, one Writer each. A new format (junit,
// sarif, markdown, html, cyclonedx) plugs in by adding its Writer here.
var writers = []Writer{
	JSONWriter{},
	JUnitWriter{},
	SARIFWriter{},
	MarkdownWriter{},
	HTMLWriter{},
	CycloneDXWriter{},
}

// Formats returns the names of the known formats, in registry order.
func Formats() []string {
	out := make([]string, len(writers))
	for i, w := range writers {
		out[i] = w.Format()
	}
	return out
}

// WriterFor returns the writer for a format name. An unknown format is a
// config error (errs.Invalid) listing the known ones.
func WriterFor(format string) (Writer, error) {
	for _, w := range writers {
		if w.Format() == format {
			return w, nil
		}
	}
	return nil, errs.Invalidf("report format %q: unknown format (known: %s)",
		format, strings.Join(Formats(), ", "))
}

// JSONWriter writes the report as JSON: two-space indent, keys in a stable
// order (struct fields in declaration order, map keys sorted), HTML
// characters not escaped (a gate "acc >= 0.9" stays readable), and a
// trailing newline. Nil slices and maps are written as [] and {}, so the
// output always matches reports/schema/report.schema.json.
//
// JSON has no NaN or infinities: Write returns an error naming the field
// (for a metric, "<suite>.<key>") if any number in the report is NaN or ±Inf,
// and writes nothing in that case.
type JSONWriter struct{}

// Format returns "json".
func (JSONWriter) Format() string { return "json" }

// Write implements Writer.
func (JSONWriter) Write(w io.Writer, r *Report) error {
	b, err := MarshalJSON(r)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// MarshalJSON returns the report as JSONWriter writes it.
func MarshalJSON(r *Report) ([]byte, error) {
	if r == nil {
		return nil, errors.New("write json report: nil report")
	}
	if err := checkFinite(r); err != nil {
		return nil, fmt.Errorf("write json report: %w", err)
	}
	n := normalized(r)
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&n); err != nil { // Encode ends with a newline
		return nil, fmt.Errorf("write json report: %w", err)
	}
	return []byte(sb.String()), nil
}

// normalized returns a copy of r with nil slices and maps made empty. r is
// not changed; the copy shares everything it does not need to replace.
func normalized(r *Report) Report {
	n := *r
	n.Data = orEmpty(n.Data)
	n.Warnings = orEmpty(n.Warnings)
	n.Gates = orEmpty(n.Gates)
	n.Model.Inputs = normTensors(n.Model.Inputs)
	n.Model.Outputs = normTensors(n.Model.Outputs)
	n.Suites = make([]SuiteResult, len(r.Suites))
	for i, s := range r.Suites {
		if s.Metrics == nil {
			s.Metrics = map[string]float64{}
		}
		if s.Details == nil {
			s.Details = map[string]any{}
		}
		n.Suites[i] = s
	}
	return n
}

func normTensors(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		t.Shape = orEmpty(t.Shape)
		out[i] = t
	}
	return out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// checkFinite returns an error naming the first NaN or infinite number in r.
func checkFinite(r *Report) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(r.DurationS) {
		return fmt.Errorf("duration_s is %v", r.DurationS)
	}
	for i := range r.Suites {
		s := &r.Suites[i]
		if bad(s.DurationS) {
			return fmt.Errorf("suite %q: duration_s is %v", s.Name, s.DurationS)
		}
		for k, v := range s.Metrics {
			if bad(v) {
				return fmt.Errorf("metric %q is %v: JSON has no NaN or infinity; report it as undefined", s.Name+"."+k, v)
			}
		}
		if err := checkFiniteAny(s.Details, "suites["+s.Name+"].details"); err != nil {
			return err
		}
	}
	for _, g := range r.Gates {
		if bad(g.Threshold) {
			return fmt.Errorf("gate %q: threshold is %v", g.Expr, g.Threshold)
		}
		if g.Value != nil && bad(*g.Value) {
			return fmt.Errorf("gate %q: value of metric %q is %v", g.Expr, g.Metric, *g.Value)
		}
	}
	return nil
}

// checkFiniteAny walks a JSON-like value for NaN and infinities.
func checkFiniteAny(v any, path string) error {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s is %v", path, v)
		}
	case float32:
		return checkFiniteAny(float64(v), path)
	case []float64:
		for i, x := range v {
			if err := checkFiniteAny(x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case []any:
		for i, x := range v {
			if err := checkFiniteAny(x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, x := range v {
			if err := checkFiniteAny(x, path+"."+k); err != nil {
				return err
			}
		}
	case map[string]float64:
		for k, x := range v {
			if err := checkFiniteAny(x, path+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteFileAtomic writes a file so that path holds either its old content
// or the complete new content, never a partial file: write fills a
// temporary file in the same folder, which is flushed, fsynced, closed and
// renamed onto path (mode 0644). On any error the temporary file is removed
// and the error names path.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	return WriteFilesAtomic([]AtomicFile{{Path: path, Write: write}})
}

// AtomicFile is one file for WriteFilesAtomic: its path and the function
// that writes its content.
type AtomicFile struct {
	Path  string
	Write func(io.Writer) error
}

// WriteFilesAtomic writes several files as WriteFileAtomic writes one, all or
// none. Every file's content is first written to a temporary file beside
// it; a failure there (a writer's error, a full disk) removes every
// temporary file and leaves every path as it was. Then the previous files
// are kept aside (a hard link, or, where the file system has none, a
// rename, to a hidden ".<name>.prev-*" file) and the temporary files are
// renamed into place. When the Nth rename fails, the N−1 files already
// placed are undone: each previous file is put back, and a path that had
// none is removed, so the folder holds exactly the previous set (or
// nothing of it where there was none). A run never leaves one format
// written and another old or missing.
func WriteFilesAtomic(files []AtomicFile) (err error) {
	tmps := make([]string, 0, len(files))
	defer func() {
		if err != nil {
			for _, t := range tmps {
				os.Remove(t)
			}
		}
	}()
	for _, af := range files {
		tmp, err := writeTemp(af.Path, af.Write)
		if err != nil {
			return fmt.Errorf("write %s: %w", af.Path, err)
		}
		tmps = append(tmps, tmp)
	}
	prev := make([]previous, len(files))
	for i, af := range files {
		if prev[i], err = keepPrevious(af.Path); err != nil {
			return errors.Join(fmt.Errorf("write %s: keep the previous file: %w", af.Path, err),
				restorePrevious(files, prev, 0))
		}
	}
	for i, af := range files {
		if err := rename(tmps[i], af.Path); err != nil {
			tmps = tmps[i:]
			return errors.Join(fmt.Errorf("write %s: %w", af.Path, err), restorePrevious(files, prev, i))
		}
	}
	for _, p := range prev {
		if p.name != "" {
			os.Remove(p.name)
		}
	}
	dirs := map[string]bool{}
	for _, af := range files {
		if d := filepath.Dir(af.Path); !dirs[d] {
			dirs[d] = true
			syncDir(d)
		}
	}
	return nil
}

// Test hooks: the renames and hard links of WriteFilesAtomic.
var (
	rename = os.Rename
	link   = os.Link
)

// previous is a file WriteFilesAtomic is about to replace, kept aside
// under name ("" when there was none); moved is true when it was renamed
// aside rather than linked, so that its path is empty until replaced.
type previous struct {
	name  string
	moved bool
}

// keepPrevious keeps the file at path aside, under a new hidden name
// beside it: a hard link, so path keeps its content until it is replaced,
// or a rename where links fail. A missing path, or a folder (which the
// rename into place then refuses), has nothing to keep.
func keepPrevious(path string) (previous, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && fi.IsDir()) {
		return previous{}, nil
	}
	if err != nil {
		return previous{}, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".prev-*")
	if err != nil {
		return previous{}, err
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	if link(path, name) == nil {
		return previous{name: name}, nil
	}
	if err := rename(path, name); err != nil {
		return previous{}, err
	}
	return previous{name: name, moved: true}, nil
}

// restorePrevious undoes a WriteFilesAtomic whose first placed files are
// in place: each of those gets its previous file back (or is removed when
// there was none); of the others, a previous file renamed aside is put
// back and a link is dropped. It returns what could not be undone.
func restorePrevious(files []AtomicFile, prev []previous, placed int) error {
	var errList []error
	for i, af := range files {
		p := prev[i]
		switch {
		case i < placed && p.name == "":
			if err := os.Remove(af.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errList = append(errList, fmt.Errorf("remove %s: %w", af.Path, err))
			}
		case i < placed || p.moved:
			if err := rename(p.name, af.Path); err != nil {
				errList = append(errList, fmt.Errorf("restore %s (kept as %s): %w", af.Path, p.name, err))
			}
		case p.name != "":
			os.Remove(p.name)
		}
	}
	return errors.Join(errList...)
}

// writeTemp writes a complete, fsynced temporary file beside path and
// returns its name; on error nothing is left behind.
func writeTemp(path string, write func(io.Writer) error) (_ string, err error) {
	if write == nil {
		return "", fmt.Errorf("nil write function")
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the error is moot
			os.Remove(name)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, nil
}

// syncDir fsyncs a folder so that a rename in it is durable. It is best
// effort: some systems cannot open or sync a folder.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// MarshalAny writes any JSON-able value as the JSON writer writes reports:
// two-space indent, HTML characters unescaped, a trailing newline.
func MarshalAny(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("marshal json: %w", err)
	}
	return []byte(sb.String()), nil
}
