package config

import (
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestParseSize: the byte counts are the units' definitions (SI kB = 10^3,
// IEC KiB = 2^10; K/M/G as Kubernetes and docker read them, binary).
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"":        0,
		"1048576": 1 << 20,
		"512MiB":  512 << 20,
		"512 mib": 512 << 20,
		"2GB":     2e9,
		"1.5GiB":  3 << 29,
		"2g":      2 << 30,
		"64KiB":   64 << 10,
		"100kB":   100e3,
		"7b":      7,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"lots", "12 parsecs", "-1GB", "0", "0.1", "MiB", "1..2GB", "9EiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestLimitsValidatedAtLoad: runtime.max_memory and runtime.timeout are
// parsed at load, from the file, the environment or --set, and a bad value
// is exit 2 naming the key.
func TestLimitsValidatedAtLoad(t *testing.T) {
	p := write(t, strings.Replace(base, "runtime: {workers: 1}", "runtime: {workers: 1, max_memory: 2GiB, timeout: 90s}", 1))
	c, err := load(t, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Runtime.MaxMemoryBytes != 2<<30 || c.Runtime.SuiteTimeout != 90*time.Second {
		t.Errorf("max_memory %d, timeout %v; want 2 GiB and 90s", c.Runtime.MaxMemoryBytes, c.Runtime.SuiteTimeout)
	}
	c, err = load(t, write(t, base), map[string]string{"GAUNTLET_RUNTIME_MAX_MEMORY": "1MB"}, "runtime.timeout=1h30m")
	if err != nil {
		t.Fatal(err)
	}
	if c.Runtime.MaxMemoryBytes != 1e6 || c.Runtime.SuiteTimeout != 90*time.Minute {
		t.Errorf("env/flag: max_memory %d, timeout %v", c.Runtime.MaxMemoryBytes, c.Runtime.SuiteTimeout)
	}
	c, err = load(t, write(t, base), nil)
	if err != nil || c.Runtime.MaxMemoryBytes != 0 || c.Runtime.SuiteTimeout != 0 {
		t.Errorf("defaults: %v, max_memory %d, timeout %v; want no limits", err, c.Runtime.MaxMemoryBytes, c.Runtime.SuiteTimeout)
	}
	for set, key := range map[string]string{
		"runtime.max_memory=lots": "runtime.max_memory",
		"runtime.max_memory=0":    "runtime.max_memory",
		"runtime.timeout=10":      "runtime.timeout", // a bare number has no unit
		"runtime.timeout=-5s":     "runtime.timeout",
		"runtime.timeout=soon":    "runtime.timeout",
	} {
		_, err := load(t, write(t, base), nil, set)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), key) {
			t.Errorf("--set %s: %v, want exit 2 naming %s", set, err, key)
		}
	}
}
