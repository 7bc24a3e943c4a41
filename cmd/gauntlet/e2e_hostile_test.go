package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// hostileDir is the hostile-model corpus (written by
// scan/testdata/hostile/main.go; docs/security.md has the table).
const hostileDir = "../../scan/testdata/hostile"

// maxHostileRSS bounds the peak resident memory of one `gauntlet scan` or
// `gauntlet run` on a hostile file. The largest declared size in the
// corpus is 16 TiB (W [4, 2^40] float32) and the smallest 4 TiB (x's
// [N, 2^40]); a clean run of the binary peaks at about 70 MiB (measured:
// 57 to 73 MiB on these files), so 512 MiB is far below any allocation in
// proportion to a declared size and far above the binary's own needs.
const maxHostileRSS = 512 << 20

// hostileRows are docs/security.md's table: each file, the rule (or exit-2
// message) of `gauntlet scan` and what `gauntlet run` answers. The messages
// are the binary's, as run on the corpus: `gauntlet run` refuses a model
// its scan finds errors in before ONNX Runtime sees it, quoting the scan,
// except an opset out of range, which ONNX Runtime refuses (its message).
var hostileRows = []struct {
	file     string
	scanExit int
	scan     []string // substrings of scan's output (stdout + stderr)
	run      []string // substrings of run's stderr (exit 2)
}{
	{"external_dotdot.onnx", 1, []string{"onnx/external-data-escape", `initializer W reads its data from "../outside.bin", outside the model's folder`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/external-data-escape] initializer W reads its data from "../outside.bin", outside the model's folder`}},
	{"external_absolute.onnx", 1, []string{"onnx/external-data-escape", `initializer W reads its data from "/etc/passwd", outside the model's folder`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/external-data-escape] initializer W reads its data from "/etc/passwd", outside the model's folder`}},
	{"external_symlink.onnx", 1, []string{"onnx/external-data-escape", `initializer W reads its data from "escape_link.bin", a link to`, "outside the model's folder"},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/external-data-escape] initializer W reads its data from "escape_link.bin", a link to`, "outside the model's folder"}},
	{"external_huge_offset.onnx", 1, []string{"onnx/tensor-size", `initializer W reads bytes 1099511627776..1099511627824 of "weights.bin", which holds 48`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] initializer W reads bytes 1099511627776..1099511627824 of "weights.bin", which holds 48`}},
	{"external_huge_length.onnx", 1, []string{"onnx/tensor-size", `initializer W reads bytes 8..9223372036854775808 of "weights.bin", which holds 48`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] initializer W reads bytes 8..9223372036854775808 of "weights.bin", which holds 48`}},
	{"external_bad_length.onnx", 1, []string{"onnx/tensor-size", `initializer W has external data length "-1e99", not a byte count`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] initializer W has external data length "-1e99", not a byte count`}},
	{"custom_domain.onnx", 1, []string{"onnx/custom-domain", `node gauntlet/Softmax_3 (Exfiltrate) uses operator Exfiltrate from custom domain "evil.ops"`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/custom-domain] node gauntlet/Softmax_3 (Exfiltrate) uses operator Exfiltrate from custom domain "evil.ops"`}},
	{"opset_99.onnx", 1, []string{"onnx/opset-range", "ai.onnx opset 99 is outside the supported range 7..23"},
		[]string{"onnx runtime cannot load it", "Opset 99"}}, // the opset range is left to ONNX Runtime (engine.scanErrors)
	{"input_dim_2e40.onnx", 1, []string{"onnx/tensor-size", "input x declares shape [? 1099511627776]: more than the 8589934592-element limit"},
		[]string{"refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] input x declares shape [? 1099511627776]: more than the 8589934592-element limit"}},
	{"initializer_dim_2e40.onnx", 1, []string{"onnx/tensor-size", "initializer W has shape [4 1099511627776]: 4398046511104 elements, more than the 8589934592 limit"},
		[]string{"refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] initializer W has shape [4 1099511627776]: 4398046511104 elements, more than the 8589934592 limit"}},
	{"initializer_short.onnx", 1, []string{"onnx/tensor-size", "initializer W has shape [4 3] of float32: 48 bytes expected, raw_data holds 8"},
		[]string{"refused: gauntlet scan finds 1 error(s): [onnx/tensor-size] initializer W has shape [4 3] of float32: 48 bytes expected, raw_data holds 8"}},
	{"graph_cycle.onnx", 1, []string{"onnx/graph-cycle", `node gauntlet/Softmax_3 (Softmax) reads "z", written by node loop_back (Relu), which depends on it in turn`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/graph-cycle] node gauntlet/Softmax_3 (Softmax) reads "z", written by node loop_back (Relu), which depends on it in turn`}},
	{"dangling_name.onnx", 1, []string{"onnx/dangling-name", `node gauntlet/Softmax_3 (Softmax) reads "ghost", which nothing defines`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/dangling-name] node gauntlet/Softmax_3 (Softmax) reads "ghost", which nothing defines`}},
	{"duplicate_name.onnx", 1, []string{"onnx/duplicate-name", `node second_writer (Relu) writes "y", which node gauntlet/Softmax_3 (Softmax) already writes`},
		[]string{`refused: gauntlet scan finds 1 error(s): [onnx/duplicate-name] node second_writer (Relu) writes "y", which node gauntlet/Softmax_3 (Softmax) already writes`}},
	// protobuf-go spells "proto: " with a space it varies on purpose, so
	// the match starts after it.
	{"nested_10000.onnx", 2, []string{"not an ONNX model (protobuf: ", "exceeded maximum recursion depth)"},
		[]string{"not an ONNX model (protobuf: ", "exceeded maximum recursion depth)"}},
	{"length_prefix_2gib.onnx", 2, []string{"not an ONNX model: graph at byte 2 declares 2147483648 bytes, but the file has 16 left"},
		[]string{"not an ONNX model: graph at byte 2 declares 2147483648 bytes, but the file has 16 left"}},
}

// TestHostileModels runs every row of docs/security.md's table through
// the binary: `gauntlet scan` flags the file (exit 1) or refuses it
// (exit 2), `gauntlet run` refuses it (exit 2), each with the message
// naming the node or tensor, `gauntlet inspect` answers 0 or 2, never a
// panic, and none peaks above maxHostileRSS.
func TestHostileModels(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(hostileDir, "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(hostileRows) {
		t.Errorf("%d .onnx files in %s, %d rows in the table", len(files), hostileDir, len(hostileRows))
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(data, []byte("a,b,c,d,label\n0.1,0.2,0.3,0.4,0\n0.5,0.6,0.7,0.8,1\n0.9,0.1,0.2,0.3,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := testutil.ORTLibrary(t)
	rows := 0
	for _, row := range hostileRows {
		t.Run(row.file, func(t *testing.T) {
			model, err := filepath.Abs(filepath.Join(hostileDir, row.file))
			if err != nil {
				t.Fatal(err)
			}
			code, out, rss := runMeasured(t, "scan", model)
			checkHostile(t, "scan", code, row.scanExit, out, row.scan, rss)
			// inspect: shape inference and the gradient-graph build; it
			// describes what it can (exit 0) or refuses the file (exit 2).
			code, out, rss = runMeasured(t, "inspect", model)
			if code != 0 && code != 2 {
				t.Errorf("inspect: exit %d, want 0 or 2\n%s", code, out)
			}
			checkHostile(t, "inspect", code, code, out, nil, rss)
			cfg := filepath.Join(dir, row.file+".yaml")
			yaml := "version: 1\nmodel: " + model + "\ndata:\n  csv: " + data + "\n  label: label\nsuites:\n  accuracy: {}\n"
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			outDir := filepath.Join(dir, "out-"+row.file)
			code, out, rss = runMeasured(t, "run", "-c", cfg, "--out", outDir, "--ort-library", lib, "--progress", "none")
			checkHostile(t, "run", code, 2, out, row.run, rss)
			if _, err := os.Stat(outDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("run: output folder %s exists after a refused model (err %v)", outDir, err)
			}
		})
		rows++
	}
	if rows != 16 {
		t.Errorf("%d rows checked, want 16", rows)
	}
}

func checkHostile(t *testing.T, what string, code, want int, out string, subs []string, rss int64) {
	t.Helper()
	if code != want {
		t.Errorf("%s: exit %d, want %d\n%s", what, code, want, out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("%s: output shows a panic:\n%s", what, out)
	}
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q:\n%s", what, s, out)
		}
	}
	if rss <= 0 || rss > maxHostileRSS {
		t.Errorf("%s: peak RSS %d bytes, want in (0, %d]", what, rss, maxHostileRSS)
	}
}

// runMeasured runs the binary and returns its exit code, its stdout and
// stderr together, and its peak resident set size in bytes (getrusage's
// ru_maxrss of the child, in KiB on Linux).
func runMeasured(t *testing.T, args ...string) (int, string, int64) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	cmd.Env = cleanEnv()
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return cmd.ProcessState.ExitCode(), b.String(), rss
}
