package config

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestNegativeUnsigned: a negative seed says it is negative, from the file,
// the environment and --set alike, instead of wrapping around to
// 2^64-1 = 18446744073709551615 and reporting that as too large.
func TestNegativeUnsigned(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		env  map[string]string
		sets []string
	}{
		"file":     {body: base + "seed: -1\n"},
		"float":    {body: base + "seed: -1.5\n"},
		"env":      {body: base, env: map[string]string{"GAUNTLET_SEED": "-1"}},
		"set":      {body: base, sets: []string{"seed=-1"}},
		"set text": {body: base, sets: []string{`seed="-1"`}},
	} {
		_, err := load(t, write(t, c.body), c.env, c.sets...)
		if errs.Code(err, 0) != errs.Invalid {
			t.Fatalf("%s: error %v, want exit code %d", name, err, errs.Invalid)
		}
		msg := err.Error()
		if !strings.Contains(msg, "seed: -1") || !strings.Contains(msg, "is negative") || strings.Contains(msg, "18446744073709551615") {
			t.Errorf("%s: error %q, want it to say seed -1 is negative", name, msg)
		}
	}
}

// TestWrongTypeNamesKey: a wrong-typed value names its full key on the
// first line of the error, one line per problem.
func TestWrongTypeNamesKey(t *testing.T) {
	p := write(t, strings.Replace(base, "runtime: {workers: 1}", `runtime: {workers: 1, batch_size: big}`, 1))
	_, err := load(t, p, nil)
	if errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("error %v, want exit code %d", err, errs.Invalid)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	if want := "config " + p + `: runtime.batch_size: want an integer, got "big"`; first != want {
		t.Errorf("first line %q, want %q", first, want)
	}

	// Two problems: two lines, each beginning with its key (sorted).
	p = write(t, strings.Replace(base, "runtime: {workers: 1}", `runtime: {workers: [1], strict: maybe}`, 1))
	_, err = load(t, p, nil)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"config " + p + `: runtime.strict: want true or false, got "maybe"`,
		"runtime.workers: want an integer, got a list",
	}
	if len(lines) != len(want) {
		t.Fatalf("error %q: want %d lines", err, len(want))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
}

// TestMarkdownAlias: `md` is read as markdown in output.formats and as an
// output.paths key; listing the format twice is refused.
func TestMarkdownAlias(t *testing.T) {
	c, err := load(t, write(t, base+"output: {formats: [json, md], paths: {md: summary.md}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Output.Formats, ","); got != "json,markdown" {
		t.Errorf("formats %s, want json,markdown", got)
	}
	if _, ok := c.Output.Paths["markdown"]; !ok || len(c.Output.Paths) != 1 {
		t.Errorf("paths %v, want one path for markdown", c.Output.Paths)
	}
	// The same job written either way has the same digest.
	c2, err := load(t, write(t, base+"output: {formats: [json, markdown], paths: {markdown: summary.md}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256 != c2.SHA256 {
		t.Errorf("digests differ: %s (md) and %s (markdown)", c.SHA256, c2.SHA256)
	}
	c, err = load(t, write(t, base), map[string]string{"GAUNTLET_OUTPUT_FORMATS": "md"})
	if err != nil || strings.Join(c.Output.Formats, ",") != "markdown" {
		t.Errorf("GAUNTLET_OUTPUT_FORMATS=md: %v, %v; want markdown", c, err)
	}
	_, err = load(t, write(t, base+"output: {formats: [md, markdown]}\n"), nil)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "output.formats: markdown is listed twice") {
		t.Errorf("md and markdown: error %v, want one naming the duplicate", err)
	}
}
