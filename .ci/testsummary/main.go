// Command testsummary reads `go test -json` on stdin, prints what plain
// `go test` prints (the ok/FAIL line of every package, the output of failing
// tests, build errors), lists every skipped test with its reason, and ends
// with the line "N passed, N failed, N skipped". It exits 1 when a test or a
// package failed, when no test ran, or when a test skipped that the
// allow-list (-allow, default .ci/allowed-skips) does not name.
//
// The allow-list has one test per line, "<package>.<Test>" (the package path
// relative to the module, e.g. grad.TestGPUMatchesCPU; a subtest as
// grad.TestX/sub), then whitespace and the reason, which is required. Blank
// lines and lines starting with # are ignored.
//
// .ci/run uses it: `go test -count=1 -json ./... | go run ./.ci/testsummary`.
// It lives under .ci/ so that `./...` does not list it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// module is the prefix stripped from package paths in names.
const module = "github.com/gauntlet-ml/gauntlet/"

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// skip is one skipped test and the lines it logged.
type skip struct {
	name    string
	reason  string
	allowed bool
}

func main() {
	allowPath := flag.String("allow", ".ci/allowed-skips", "allow-list of tests that may skip")
	flag.Parse()
	allow, err := readAllow(*allowPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	// Outside CI a missing ../shared skips its cross-checks: reported, not failed.
	code, err := summarise(os.Stdin, os.Stdout, allow, *allowPath, os.Getenv("CI") == "true")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// readAllow parses the allow-list into name → reason.
func readAllow(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read allow-list: %w", err)
	}
	allow := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: %q gives no reason", path, i+1, name)
		}
		allow[name] = strings.TrimSpace(reason)
	}
	return allow, nil
}

// summarise copies the plain `go test` view of the stream to w and returns
// the exit code.
func summarise(r io.Reader, w io.Writer, allow map[string]string, allowPath string, strict bool) (int, error) {
	buf := map[string]*strings.Builder{} // package + test → output so far
	var passed, failed, pkgFailed int
	var skips []skip
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// Not JSON (go vet or the linker writing to stdout): pass it on.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			pkgFailed++
		case e.Test == "":
			switch e.Action {
			case "output":
				if o := strings.TrimSpace(e.Output); o != "PASS" && o != "" {
					fmt.Fprint(w, e.Output)
				}
			case "fail":
				pkgFailed++
			}
		default:
			key := e.Package + "\x00" + e.Test
			switch e.Action {
			case "output":
				b := buf[key]
				if b == nil {
					b = &strings.Builder{}
					buf[key] = b
				}
				b.WriteString(e.Output)
			case "pass":
				passed++
				delete(buf, key)
			case "fail":
				failed++
				if b := buf[key]; b != nil {
					fmt.Fprint(w, b.String())
				}
				delete(buf, key)
			case "skip":
				name := strings.TrimPrefix(e.Package, module) + "." + e.Test
				_, ok := allow[name]
				skips = append(skips, skip{name: name, reason: skipReason(buf[key]), allowed: ok})
				delete(buf, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 2, fmt.Errorf("read go test -json: %w", err)
	}
	sort.Slice(skips, func(i, j int) bool { return skips[i].name < skips[j].name })
	bad := 0
	for _, s := range skips {
		tag := "allowed"
		if !s.allowed {
			tag = "NOT ALLOWED"
			bad++
		}
		fmt.Fprintf(w, "SKIP %s (%s): %s\n", s.name, tag, s.reason)
	}
	code := 0
	switch {
	case failed > 0 || pkgFailed > 0:
		code = 1
	case passed == 0:
		fmt.Fprintln(w, "no test ran")
		code = 1
	}
	if bad > 0 {
		fmt.Fprintf(w, "%d skipped test(s) not in %s: CI runs everything but the GPU tests\n", bad, allowPath)
		if strict {
			code = 1
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, len(skips))
	return code, nil
}

// skipReason returns the t.Skip message of a skipped test's output: its
// last line that is not a "=== RUN" or "--- SKIP" marker.
func skipReason(b *strings.Builder) string {
	if b != nil {
		lines := strings.Split(b.String(), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			t := strings.TrimSpace(lines[i])
			if t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
				return t
			}
		}
	}
	return "(no reason logged)"
}
