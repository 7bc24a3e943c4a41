package registry

import (
	"sort"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestRegistrySorted(t *testing.T) {
	got := make([]string, len(suites))
	for i, s := range suites {
		got[i] = s.Name()
	}
	if !sort.StringsAreSorted(got) {
		t.Fatalf("registry table not sorted by name: %v", got)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n] {
			t.Fatalf("suite %q registered twice", n)
		}
		seen[n] = true
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("acuracy")
	if err == nil || errs.Code(err, -1) != errs.Invalid {
		t.Fatalf("Lookup(acuracy) = %v, want an Invalid error", err)
	}
	if s, err := Lookup("accuracy"); err != nil || s.Name() != "accuracy" {
		t.Fatalf("Lookup(accuracy) = %v, %v", s, err)
	}
}
