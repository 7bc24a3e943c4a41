package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// copyFile copies src to dst with mode perm, creating dst's folder.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

// doctorIn runs `gauntlet doctor` with bin as the binary, from folder cwd,
// with the environment's library variables removed and extra added.
func doctorIn(t *testing.T, bin, cwd string, extra ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, "doctor")
	cmd.Dir = cwd
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "ONNXRUNTIME_SHARED_LIBRARY_PATH=") && !strings.HasPrefix(kv, "LD_LIBRARY_PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return out.String(), code
}

// TestInstalledLayouts checks that a binary finds ONNX Runtime from any
// working folder with no flag or variable: laid out as `make install
// PREFIX=…` lays it (PREFIX/bin/gauntlet, PREFIX/lib/gauntlet/), and in
// another folder with LD_LIBRARY_PATH naming the library's folder (the
// system loader's search by soname); with neither, doctor exits 2 and names
// the places and the fetch hint.
func TestInstalledLayouts(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	dir := t.TempDir()
	elsewhere := t.TempDir()

	prefix := filepath.Join(dir, "prefix")
	copyFile(t, binary, filepath.Join(prefix, "bin", "gauntlet"), 0o755)
	copyFile(t, lib, filepath.Join(prefix, "lib", "gauntlet", "libonnxruntime.so.1"), 0o644)
	out, code := doctorIn(t, filepath.Join(prefix, "bin", "gauntlet"), elsewhere)
	if code != 0 || !strings.Contains(out, filepath.Join(prefix, "lib", "gauntlet", "libonnxruntime.so.1")) {
		t.Errorf("make install layout: exit %d, output:\n%s", code, out)
	}

	lone := filepath.Join(dir, "lone", "gauntlet")
	copyFile(t, binary, lone, 0o755)
	libdir := filepath.Join(dir, "somewhere", "lib")
	copyFile(t, lib, filepath.Join(libdir, "libonnxruntime.so.1"), 0o644)
	out, code = doctorIn(t, lone, elsewhere, "LD_LIBRARY_PATH="+libdir)
	if code != 0 || !strings.Contains(out, "1.30.0") {
		t.Errorf("LD_LIBRARY_PATH: exit %d, output:\n%s", code, out)
	}

	out, code = doctorIn(t, lone, elsewhere)
	if code != 2 || !strings.Contains(out, "system loader") || !strings.Contains(out, "doctor --fetch-hint") {
		t.Errorf("no library anywhere: exit %d, want 2 naming the system loader and the fetch hint; output:\n%s", code, out)
	}
}

// TestDoctorFetchHint checks the fetch hint names the npm package, the
// file inside it and its SHA-256 (the Makefile's ORT_SHA256), and needs no
// library.
func TestDoctorFetchHint(t *testing.T) {
	cmd := exec.Command(binary, "doctor", "--fetch-hint")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, w := range []string{"npm pack onnxruntime-node@1.30.0", "package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		"ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23", "GAUNTLET_ORT_LIBRARY"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("fetch hint does not mention %q:\n%s", w, out)
		}
	}
}
