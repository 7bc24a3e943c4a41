package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// FuzzLoad feeds Load a YAML file, one GAUNTLET_* variable and one --set
// override: no panic, and every error carries exit code 2 (bad config).
// Seeds: the test base config and init's example, a YAML alias bomb,
// deep nesting, huge numbers, wrong types, unknown keys and env names.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base), "RUNTIME_WORKERS", "3", "seed=7")
	f.Add([]byte(Example), "SEED", "x", "runtime.batch_size=1e400")
	f.Add([]byte("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nsuites: [*d,*d,*d]\n"), "", "", "")
	f.Add([]byte("version: 1\nmodel: m.onnx\ndata: {x: x.npy}\nsuites: {accuracy: {bins: [[[[[[[[[[1]]]]]]]]]]}}\n"), "RUNTIME_DEVICE", "cuda:99999999999999999999", "gates=[\"a.b >= 1e309\"]")
	f.Add([]byte("version: 99\nmodel: 7\nruntime: {workers: -1, batch_size: 18446744073709551616}\n"), "OUTPUT_FORMATS", "json,sarif,nope", "statistics.confidence_level=2")
	f.Add([]byte("\xef\xbb\xbf---\n!!binary AAAA: !!float .nan\n"), "DATA_SCALE", "-inf", "data.x=")
	dir := f.TempDir()
	path := filepath.Join(dir, "g.yaml")
	f.Fuzz(func(t *testing.T, body []byte, envKey, envVal, set string) {
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		var environ []string
		if envKey != "" {
			env["GAUNTLET_"+envKey] = envVal
			environ = append(environ, "GAUNTLET_"+envKey+"="+envVal)
		}
		var sets []string
		if set != "" {
			sets = []string{set}
		}
		_, err := Load(Options{Path: path, Sets: sets, Cwd: dir,
			Getenv: func(k string) string { return env[k] }, Environ: func() []string { return environ }})
		if err != nil {
			if c := errs.Code(err, -1); c != errs.Invalid {
				t.Fatalf("error %v has exit code %d, want %d", err, c, errs.Invalid)
			}
		}
	})
}
