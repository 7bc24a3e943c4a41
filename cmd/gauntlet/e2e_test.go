package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sbinet/npyio"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// End-to-end tests of the built binary: exit codes, report fields, and
// every bad input the foundation issue lists.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gauntlet-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gauntlet")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	out            string // output folder
}

// run runs the binary on a config made of the demo files with overrides in
// extra (YAML appended) and args.
func run(t *testing.T, yaml string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "g.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	return runArgs(t, append([]string{"run", "-c", cfg, "--out", out, "--ort-library", testutil.ORTLibrary(t)}, args...), out)
}

func runArgs(t *testing.T, args []string, out string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.Env = cleanEnv()
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, so.String(), se.String(), out}
}

// cleanEnv drops GAUNTLET_* variables of the calling environment.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GAUNTLET_") {
			env = append(env, kv)
		}
	}
	return env
}

func demo(t *testing.T, over map[string]string) string {
	t.Helper()
	keys := map[string]string{
		"model": testutil.Example(t, "digits_cnn.onnx"),
		"x":     testutil.Example(t, "digits_eval_x.npy"),
		"y":     testutil.Example(t, "digits_eval_y.npy"),
		"gates": `["accuracy.accuracy >= 0.95"]`,
		"extra": "",
	}
	for k, v := range over {
		keys[k] = v
	}
	return "version: 1\nmodel: " + keys["model"] + "\n" +
		"data: {x: " + keys["x"] + ", y: " + keys["y"] + ", range: [0, 1]}\n" +
		"suites: {accuracy: {}}\ngates: " + keys["gates"] + "\n" + keys["extra"]
}

func readReport(t *testing.T, out string) *reports.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Fatalf("report does not validate against the schema: %v", err)
	}
	var r reports.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func sha(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestExitZeroAndReportFields(t *testing.T) {
	r := run(t, demo(t, nil))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, r.out)
	// examples/REFERENCE.json: 386/400 correct.
	if !rep.Passed || rep.ExitCode != 0 || rep.Suites[0].Metrics["accuracy"] != 0.965 {
		t.Fatalf("passed=%v exit=%d metrics=%v", rep.Passed, rep.ExitCode, rep.Suites[0].Metrics)
	}
	if rep.Model.SHA256 != sha(t, testutil.Example(t, "digits_cnn.onnx")) || rep.Model.Opset != 13 {
		t.Errorf("model provenance %+v", rep.Model)
	}
	if len(rep.Data) != 2 || rep.Data[0].Rows != 400 || rep.Data[0].SHA256 != sha(t, testutil.Example(t, "digits_eval_x.npy")) {
		t.Errorf("data provenance %+v", rep.Data)
	}
	env := rep.Environment
	if env.ORTVersion != "1.30.0" || env.ExecutionProvider != "CPUExecutionProvider" || env.ExecutionProviderRequested != "cpu" {
		t.Errorf("environment %+v", env)
	}
	if rep.Seed != 1 || len(rep.ConfigSHA256) != 64 || rep.Tool.Name != "gauntlet" {
		t.Errorf("seed %d config digest %q tool %+v", rep.Seed, rep.ConfigSHA256, rep.Tool)
	}
	// statistics.confidence_level defaults to 0.95 (docs/config.md).
	if rep.ConfidenceLevel != 0.95 {
		t.Errorf("confidence_level %v, want the default 0.95", rep.ConfidenceLevel)
	}
	if !strings.Contains(r.stdout, "PASS  accuracy.accuracy >= 0.95") {
		t.Errorf("summary lacks the gate line:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(r.out); len(entries) != 1 {
		t.Errorf("output folder holds %d entries, want report.json only", len(entries))
	}
}

func TestExitOneOnFailedGate(t *testing.T) {
	r := run(t, demo(t, map[string]string{"gates": `["accuracy.accuracy >= 0.99", "accuracy.ece <= 0.05"]`}))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	rep := readReport(t, r.out)
	if rep.Passed || rep.Gates[0].Passed || !rep.Gates[1].Passed || rep.Suites[0].Status != reports.StatusFailed {
		t.Fatalf("gates %+v status %s", rep.Gates, rep.Suites[0].Status)
	}
	if !strings.Contains(r.stdout, "FAIL  accuracy.accuracy >= 0.99  (value 0.965)") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

func TestCSVData(t *testing.T) {
	// The same 400 rows as CSV (examples/README.md): same accuracy.
	yaml := "version: 1\nmodel: " + testutil.Example(t, "digits_cnn.onnx") + "\n" +
		"data: {csv: " + testutil.Example(t, "digits_eval.csv") + ", label: label}\nsuites: {accuracy: {}}\n"
	r := run(t, yaml)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if rep := readReport(t, r.out); rep.Suites[0].Metrics["accuracy"] != 0.965 || rep.Data[0].Role != "csv" {
		t.Fatalf("metrics %v data %+v", rep.Suites[0].Metrics, rep.Data)
	}
}

func writeNPY(t *testing.T, dir, name string, val any) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := npyio.Write(f, val); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputsExitTwo(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.onnx")
	os.WriteFile(corrupt, []byte("this is not a protobuf \xff\xfe"), 0o644)
	// npyio takes the shape from nested arrays: [8][1][8][8]float32.
	n := 8
	x := make([][1][8][8]float32, n)
	nan := append([][1][8][8]float32(nil), x...)
	nan[3][0][2][5] = float32(math.NaN())
	inf := append([][1][8][8]float32(nil), x...)
	inf[1][0][0][0] = float32(math.Inf(1))
	y := make([]int64, n)
	ybad := append([]int64(nil), y...)
	ybad[6] = 10
	good := writeNPY(t, dir, "x.npy", x)
	yPath := writeNPY(t, dir, "y.npy", y)
	notFile := filepath.Join(dir, "plainfile")
	os.WriteFile(notFile, []byte("x"), 0o644)
	csv := filepath.Join(dir, "d.csv")
	os.WriteFile(csv, []byte("a,b,label\n1,2,0\n"), 0o644)

	for name, c := range map[string]struct {
		yaml, want string
		args       []string
	}{
		"missing onnx":   {yaml: demo(t, map[string]string{"model": filepath.Join(dir, "absent.onnx")}), want: "absent.onnx"},
		"corrupt onnx":   {yaml: demo(t, map[string]string{"model": corrupt}), want: "corrupt.onnx"},
		"shape mismatch": {yaml: demo(t, map[string]string{"x": writeNPY(t, dir, "x5.npy", make([][5]float32, n)), "y": yPath}), want: "x5.npy"},
		"nan":            {yaml: demo(t, map[string]string{"x": writeNPY(t, dir, "nan.npy", nan), "y": yPath}), want: "nan.npy"},
		"inf":            {yaml: demo(t, map[string]string{"x": writeNPY(t, dir, "inf.npy", inf), "y": yPath}), want: "inf.npy"},
		"label range":    {yaml: demo(t, map[string]string{"x": good, "y": writeNPY(t, dir, "ybad.npy", ybad)}), want: "ybad.npy"},
		"csv column":     {yaml: "version: 1\nmodel: " + testutil.Example(t, "digits_cnn.onnx") + "\ndata: {csv: " + csv + ", label: label, features: [a, c]}\nsuites: {accuracy: {}}\n", want: `"c"`},
		"unknown key":    {yaml: demo(t, map[string]string{"extra": "runtime: {wrokers: 2}\n"}), want: "runtime.wrokers"},
		"unknown metric": {yaml: demo(t, map[string]string{"gates": `["accuracy.acuracy >= 0.9"]`}), want: "accuracy.acuracy"},
		"unwritable out": {yaml: demo(t, nil), args: []string{"--out", filepath.Join(notFile, "sub")}, want: "plainfile"},
		"unwritable output.paths": {yaml: demo(t, map[string]string{"extra": "output: {formats: [json, junit], paths: {junit: " +
			filepath.Join(notFile, "sub", "r.xml") + "}}\n"}), want: "output.paths.junit"},
		"explicit cuda":  {yaml: demo(t, nil), args: []string{"--set", "runtime.device=cuda"}, want: "cuda"},
		"missing config": {yaml: "", args: []string{"-c", filepath.Join(dir, "nope.yaml")}, want: "nope.yaml"},
		"bad flag":       {yaml: demo(t, nil), args: []string{"--wat"}, want: "--wat"},
		"missing ort":    {yaml: demo(t, nil), args: []string{"--ort-library", filepath.Join(dir, "libnothing.so")}, want: "libnothing.so"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, c.yaml, c.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr does not name %s:\n%s", c.want, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(r.out, "report.json")); err == nil {
				t.Errorf("a report was written despite the bad input")
			}
			// Inputs are checked before the output folder is made, so
			// bad input leaves no empty folder behind. The two cases that
			// get that far are the ones about the output itself.
			if !strings.HasPrefix(name, "unwritable") {
				if _, err := os.Stat(r.out); err == nil {
					t.Errorf("output folder %s was created despite the bad input", r.out)
				}
			}
		})
	}
}

func TestAutoDeviceRecordsFallback(t *testing.T) {
	// The npm ONNX Runtime build has no CUDA provider: auto falls back to
	// the CPU and says so in the report.
	r := run(t, demo(t, nil), "--set", "runtime.device=auto")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	env := readReport(t, r.out).Environment
	if env.ExecutionProviderRequested != "auto" || env.ExecutionProvider != "CPUExecutionProvider" || env.Fallback == "" {
		t.Fatalf("environment %+v, want auto → CPU with a fallback reason", env)
	}
}

func TestInterruptWritesReportAndExits130(t *testing.T) {
	// 100k samples at batch 1 keep the run busy for a second or more.
	dir := t.TempDir()
	n := 100000
	x := writeNPY(t, dir, "x.npy", make([][1][8][8]float32, n))
	y := writeNPY(t, dir, "y.npy", make([]int64, n))
	cfg := filepath.Join(dir, "g.yaml")
	os.WriteFile(cfg, []byte(demo(t, map[string]string{"x": x, "y": y})+"runtime: {batch_size: 1, workers: 1}\n"), 0o644)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(binary, "run", "-c", cfg, "--out", out, "--ort-library", testutil.ORTLibrary(t), "--progress", "plain")
	cmd.Env = cleanEnv()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var seen strings.Builder
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(seen.String(), "suite accuracy started") && time.Now().Before(deadline) {
		k, err := stderr.Read(buf)
		seen.Write(buf[:k])
		if err != nil {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	go func() { // drain
		for {
			if _, err := stderr.Read(buf); err != nil {
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130; stderr so far:\n%s", err, seen.String())
	}
	rep := readReport(t, out)
	if rep.Status != reports.StatusInterrupted || rep.Suites[0].Status != reports.StatusInterrupted || rep.ExitCode != 130 {
		t.Fatalf("status %s / %s, exit %d", rep.Status, rep.Suites[0].Status, rep.ExitCode)
	}
}

func TestOtherCommands(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	r := runArgs(t, []string{"doctor", "--ort-library", lib}, "")
	if r.code != 0 || !strings.Contains(r.stdout, "1.30.0") || !strings.Contains(r.stdout, "CPUExecutionProvider") {
		t.Errorf("doctor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runArgs(t, []string{"inspect", "--json", testutil.Example(t, "digits_cnn.onnx")}, "")
	var d struct {
		Opset int64 `json:"opset"`
		Ops   []struct {
			Op    string `json:"op"`
			Count int    `json:"count"`
		} `json:"ops"`
		Inputs []struct {
			Shape []int64 `json:"shape"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 0 {
		t.Fatalf("inspect: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if d.Opset != 13 || len(d.Inputs) != 1 || len(d.Inputs[0].Shape) != 4 {
		t.Errorf("inspect: %+v", d)
	}
	r = runArgs(t, []string{"inspect", filepath.Join(t.TempDir(), "none.onnx")}, "")
	if r.code != 2 || !strings.Contains(r.stderr, "none.onnx") {
		t.Errorf("inspect missing: exit %d %s", r.code, r.stderr)
	}
	r = runArgs(t, []string{"--help"}, "")
	for _, want := range []string{"130", "a gate failed", "bad config or input"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	g := filepath.Join(t.TempDir(), "g.npy")
	r = runArgs(t, []string{"grad", "-m", testutil.Example(t, "digits_cnn.onnx"), "--x", testutil.Example(t, "digits_eval_x.npy"),
		"--y", testutil.Example(t, "digits_eval_y.npy"), "--out", g, "--ort-library", lib}, "")
	if r.code != 0 {
		t.Fatalf("grad: exit %d\n%s", r.code, r.stderr)
	}
	f, err := os.Open(g)
	if err != nil {
		t.Fatal(err)
	}
	var grads []float32
	if err := npyio.Read(f, &grads); err != nil || len(grads) != 400*64 {
		t.Errorf("grad output: %v, %d values, want 400×64", err, len(grads))
	}
	f.Close()
	if !strings.Contains(r.stdout, "on CPUExecutionProvider") {
		t.Errorf("grad summary does not say where it ran:\n%s", r.stdout)
	}
	// The npm build has no CUDA provider: an explicit GPU is exit 2 naming it.
	r = runArgs(t, []string{"grad", "-m", testutil.Example(t, "digits_cnn.onnx"), "--x", testutil.Example(t, "digits_eval_x.npy"),
		"--y", testutil.Example(t, "digits_eval_y.npy"), "--out", g, "--ort-library", lib, "--device", "cuda"}, "")
	if len(cuda.GPUs()) == 0 && (r.code != 2 || !strings.Contains(r.stderr, "CUDA")) {
		t.Errorf("grad --device cuda without a GPU: exit %d\n%s", r.code, r.stderr)
	}
	r = runArgs(t, []string{"grad", "-m", testutil.Example(t, "digits_cnn.onnx"), "--x", testutil.Example(t, "digits_eval_x.npy"),
		"--loss", "hinge", "--out", g, "--ort-library", lib}, "")
	if r.code != 2 || !strings.Contains(r.stderr, "hinge") {
		t.Errorf("grad bad loss: exit %d %s", r.code, r.stderr)
	}
	r = runArgs(t, []string{"init"}, "")
	if r.code != 0 || !strings.Contains(r.stdout, "version: 1") {
		t.Errorf("init: exit %d", r.code)
	}
}

// TestUnseenArchitecturesRun runs the binary on the generated architectures
// of autodiff/testdata/unseen (a tiny ViT with a cls token, a
// MobileNetV3-style CNN, a residual tabular MLP with a softmax output; see
// its README): each must be white-box, with every white-box attack in
// exact gradient mode, and no attack may leave robust accuracy above clean
// accuracy. The data are the 16 samples of each model's gradients_*.npz.
func TestUnseenArchitecturesRun(t *testing.T) {
	root := testutil.RepoRoot(t)
	for _, c := range []struct {
		model string
		rng   string
	}{{"vit_tiny", "[0, 1]"}, {"mbv3_tiny", "[0, 1]"}, {"tab_resmlp", "[-3, 3]"}} {
		t.Run(c.model, func(t *testing.T) {
			dir := filepath.Join(root, "autodiff", "testdata", "unseen")
			npz := filepath.Join(dir, "gradients_"+c.model+".npz")
			yaml := "version: 1\nmodel: " + filepath.Join(dir, c.model+".onnx") + "\n" +
				"data: {x: " + npz + ", x_key: x, y_key: y, range: " + c.rng + "}\n" +
				"suites:\n  evasion:\n    attacks:\n" +
				"      - {name: fgsm, eps: [0.1]}\n      - {name: pgd, eps: [0.1], steps: 5}\n      - {name: apgd, eps: [0.1], steps: 5}\n"
			r := run(t, yaml)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			rep := readReport(t, r.out)
			ev := rep.Suites[0]
			for _, a := range ev.Details["attacks"].([]any) {
				if m := a.(map[string]any)["gradient_mode"]; m != "exact" {
					t.Errorf("%v: gradient_mode %v, want exact", a.(map[string]any)["attack"], m)
				}
			}
			clean := ev.Metrics["clean_accuracy"]
			for _, k := range []string{"fgsm", "pgd", "apgd"} {
				if v := ev.Metrics[k+".linf.eps=0.1.robust_accuracy"]; v > clean {
					t.Errorf("%s robust accuracy %v above clean accuracy %v", k, v, clean)
				}
			}
		})
	}
}
