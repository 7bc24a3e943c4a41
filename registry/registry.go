package registry

import (
	"sort"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/accuracy"
	"github.com/gauntlet-ml/gauntlet/suites/attribute"
	"github.com/gauntlet-ml/gauntlet/suites/certify"
	"github.com/gauntlet-ml/gauntlet/suites/corruption"
	"github.com/gauntlet-ml/gauntlet/suites/differential"
	"github.com/gauntlet-ml/gauntlet/suites/drift"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
	"github.com/gauntlet-ml/gauntlet/suites/extraction"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
	"github.com/gauntlet-ml/gauntlet/suites/inversion"
	"github.com/gauntlet-ml/gauntlet/suites/membership"
	"github.com/gauntlet-ml/gauntlet/suites/poisoning"
	"github.com/gauntlet-ml/gauntlet/suites/slices"
)

// suites is the registry table, sorted by name (TestRegistrySorted checks it).
var suites = []suite.Suite{
	accuracy.Suite{},
	attribute.Suite{},
	certify.Suite{},
	corruption.Suite{},
	differential.Suite{},
	drift.Suite{},
	evasion.Suite{},
	extraction.Suite{},
	fairness.Suite{},
	inversion.Suite{},
	membership.Suite{},
	poisoning.Suite{},
	slices.Suite{},
}

// All returns every registered suite, sorted by name.
func All() []suite.Suite { return append([]suite.Suite(nil), suites...) }

// Names returns the registered suite names, sorted.
func Names() []string {
	names := make([]string, len(suites))
	for i, s := range suites {
		names[i] = s.Name()
	}
	sort.Strings(names)
	return names
}

// Lookup returns the suite called name; an unknown name is a config error
// that lists the known suites.
func Lookup(name string) (suite.Suite, error) {
	for _, s := range suites {
		if s.Name() == name {
			return s, nil
		}
	}
	return nil, errs.Invalidf("unknown suite %q (known: %s)", name, strings.Join(Names(), ", "))
}
