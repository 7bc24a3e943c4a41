package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// End-to-end tests of what a new user runs first: the demo (`make demo`,
// examples/demo.yaml), its HTML report in a browser, and the README's three
// copy-paste configs (examples/quickstart).

// demoFiles are the five report files the demo writes (output.formats).
var demoFiles = []string{"report.json", "report.md", "report.junit.xml", "report.sarif", "report.html"}

// adultReference is the part of examples/adult/REFERENCE.json the demo
// test reads: figures make_adult.py computed from the model's float32
// logits in PyTorch.
type adultReference struct {
	Train struct {
		Accuracy float64 `json:"accuracy"`
	} `json:"train"`
	Eval struct {
		Accuracy float64 `json:"accuracy"`
	} `json:"eval"`
}

// TestDemo runs examples/demo.yaml through the built binary as `make demo`
// does, checks that every suite ran and every gate passed, that the five
// formats were written and printed, and that the HTML report opens in
// headless Chromium without a console message.
func TestDemo(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	out := filepath.Join(t.TempDir(), "demo")
	res := runArgs(t, []string{"run", "-c", testutil.Example(t, "demo.yaml"), "--out", out, "--ort-library", lib, "--progress", "none"}, out)
	if res.code != 0 {
		t.Fatalf("demo exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, f := range demoFiles {
		p := filepath.Join(out, f)
		st, err := os.Stat(p)
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
		if !strings.Contains(res.stdout, p) {
			t.Errorf("the summary does not print where %s is:\n%s", f, res.stdout)
		}
	}
	rep := readReport(t, out)

	// Every kind of suite the issue lists, each passed.
	var names []string
	for _, s := range rep.Suites {
		names = append(names, s.Name)
		if s.Status != reports.StatusPassed {
			t.Errorf("suite %s: status %s (%s)", s.Name, s.Status, s.Error)
		}
	}
	slices.Sort(names)
	if want := []string{"accuracy", "evasion", "fairness", "membership", "poisoning"}; !slices.Equal(names, want) {
		t.Errorf("suites %v, want %v", names, want)
	}
	if len(rep.Gates) < 5 || !rep.Passed {
		t.Errorf("%d gates, passed %v: want at least 5, all passing", len(rep.Gates), rep.Passed)
	}
	for _, g := range rep.Gates {
		if !g.Passed {
			t.Errorf("gate %q failed (%s)", g.Expr, g.Reason)
		}
	}

	// Accuracy on the evaluation rows and on the training rows (the
	// members) equal PyTorch's in REFERENCE.json: both are counts over
	// 1,000 and 2,000 rows, and no logit margin is near a tie there.
	var ref adultReference
	b, err := os.ReadFile(testutil.Example(t, "adult/REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	metric := func(suite, key string) float64 {
		for _, s := range rep.Suites {
			if s.Name == suite {
				if v, ok := s.Metrics[key]; ok {
					return v
				}
			}
		}
		t.Errorf("%s.%s missing", suite, key)
		return math.NaN()
	}
	const countTol = 1e-12 // a count over 1,000 or 2,000 written through float64
	if got := metric("accuracy", "accuracy"); math.Abs(got-ref.Eval.Accuracy) > countTol {
		t.Errorf("accuracy.accuracy %v, REFERENCE.json eval.accuracy %v", got, ref.Eval.Accuracy)
	}
	if got := metric("membership", "member_accuracy"); math.Abs(got-ref.Train.Accuracy) > countTol {
		t.Errorf("membership.member_accuracy %v, REFERENCE.json train.accuracy %v", got, ref.Train.Accuracy)
	}
	// The robustness curve: robust accuracy falls as eps grows (an attack
	// with a larger budget can only do better on a model this smooth; the
	// demo measured 0.784, 0.665, 0.199).
	prev := 2.0
	for _, eps := range []string{"0.01", "0.03", "0.1"} {
		v := metric("evasion", "worst.linf.eps="+eps+".robust_accuracy")
		if !(v < prev) {
			t.Errorf("worst robust accuracy at eps %s = %v, not below %v", eps, v, prev)
		}
		prev = v
	}

	// The HTML report embeds its charts: calibration, the robustness curve,
	// a per-group chart for sex and for race, the membership ROC curves.
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	charts := regexp.MustCompile(`<img alt="[^"]+" src="data:image/svg`).FindAll(html, -1)
	if len(charts) < 5 {
		t.Errorf("report.html embeds %d SVG charts, want at least 5", len(charts))
	}

	t.Run("chromium", func(t *testing.T) {
		browser := chromiumOrSkip(t)
		// A control page that logs a console error and throws: if this
		// Chromium does not log console messages to stderr, a clean result
		// on the report would mean nothing.
		bad := filepath.Join(t.TempDir(), "control.html")
		if err := os.WriteFile(bad, []byte(`<!doctype html><html><body><script>console.error("control-error"); undefinedFunction();</script></body></html>`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr := headless(t, browser, bad)
		if msgs := consoleMessages(stderr); len(msgs) < 2 || !strings.Contains(strings.Join(msgs, "\n"), "Uncaught") {
			t.Fatalf("Chromium logged %d console message(s) for the control page, want its console.error and the uncaught ReferenceError: the check cannot be trusted\n%s", len(msgs), stderr)
		}
		dom, stderr := headless(t, browser, filepath.Join(out, "report.html"))
		if msgs := consoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("report.html logs %d console message(s) in Chromium:\n%s", len(msgs), strings.Join(msgs, "\n"))
		}
		for _, s := range names {
			if !strings.Contains(dom, `id="suite-`+s+`"`) {
				t.Errorf("the DOM Chromium rendered lacks the %s section", s)
			}
		}
	})
}

// chromiumOrSkip returns the Chromium on PATH. Without one the test skips
// with the reason, except under CI=true, where .ci/run installs it and its
// absence is a failure.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, b := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not on PATH under CI=true (.ci/run installs it: apt-get install -y chromium)")
	}
	t.Skip("chromium not on PATH (apt-get install -y chromium): the HTML report is not opened in a browser")
	return ""
}

// headless loads file in headless Chromium with console logging on stderr
// and returns the serialised DOM and stderr.
func headless(t *testing.T, browser, file string) (dom, stderr string) {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+abs)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, se.String())
	}
	return so.String(), se.String()
}

// consoleRE matches Chromium's log line for a page's console message:
// `…:INFO:CONSOLE:12] "text", source: file:///… (12)` (Chromium 156), or
// `…:INFO:CONSOLE(12)] …` in older releases. Every console level (log, warn,
// error, an uncaught exception) is logged this way at --v=0.
var consoleRE = regexp.MustCompile(`:CONSOLE[:(]\d+`)

// consoleMessages returns the console lines of a Chromium stderr log.
func consoleMessages(stderr string) []string {
	var msgs []string
	for _, l := range strings.Split(stderr, "\n") {
		if consoleRE.MatchString(l) {
			msgs = append(msgs, l)
		}
	}
	return msgs
}

// TestQuickstartConfigs checks the README's three copy-paste configs: each
// file in examples/quickstart appears in README.md verbatim, loads with the
// config package and runs as is on the shipped examples with every gate
// passing; the nightly job also runs against its own report as baseline.
func TestQuickstartConfigs(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	readme, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"image", "tabular", "nightly"} {
		t.Run(name, func(t *testing.T) {
			p := testutil.Example(t, filepath.Join("quickstart", name+".yaml"))
			text, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(readme), string(text)) {
				t.Errorf("README.md does not show %s verbatim", p)
			}
			cfg, err := config.Load(config.Options{Path: p, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			if len(cfg.Suites) == 0 || len(cfg.ParsedGates) == 0 {
				t.Errorf("%d suites, %d gates: want some of each", len(cfg.Suites), len(cfg.ParsedGates))
			}
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"run", "-c", p, "--out", out, "--ort-library", lib, "--progress", "none"}
			res := runArgs(t, args, out)
			if res.code != 0 {
				t.Fatalf("exit %d, want 0\n%s\n%s", res.code, res.stdout, res.stderr)
			}
			if name != "nightly" {
				return
			}
			base := filepath.Join(filepath.Dir(out), "before.json")
			if err := os.Rename(filepath.Join(out, "report.json"), base); err != nil {
				t.Fatal(err)
			}
			res = runArgs(t, append(args, "--baseline", base), out)
			if res.code != 0 {
				t.Fatalf("against its own baseline: exit %d, want 0\n%s\n%s", res.code, res.stdout, res.stderr)
			}
			rep := readReport(t, out)
			if rep.Baseline == nil || len(rep.Baseline.Regressions) != len(cfg.Regressions) {
				t.Errorf("baseline comparison %+v, want %d regression gates evaluated", rep.Baseline, len(cfg.Regressions))
			}
		})
	}
}
