package config

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

const policy = `model_allow_sha256: ["E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"]
waivers:
  - gate: "accuracy.accuracy >= 0.9"
    until: 2027-01-31
    reason: "JIRA-1: retraining in January"
regressions:
  - metric: accuracy.accuracy
    max_drop: 0.02
  - metric: accuracy.ece
    max_rise: 0.01
`

func TestPolicyKeys(t *testing.T) {
	c, err := load(t, write(t, base+policy), nil)
	if err != nil {
		t.Fatal(err)
	}
	// YAML reads 2027-01-31 as a timestamp; it comes back as its text.
	if len(c.Waivers) != 1 || c.Waivers[0].Until != "2027-01-31" || c.Waivers[0].Reason != "JIRA-1: retraining in January" {
		t.Errorf("waivers %+v", c.Waivers)
	}
	if len(c.Regressions) != 2 || *c.Regressions[0].MaxDrop != 0.02 || c.Regressions[0].MaxRise != nil || *c.Regressions[1].MaxRise != 0.01 {
		t.Errorf("regressions %+v", c.Regressions)
	}
	if len(c.ModelAllowSHA256) != 1 {
		t.Errorf("allow-list %v", c.ModelAllowSHA256)
	}
	// The signing keys' variables are not taken for config typos.
	if _, err := load(t, write(t, base), map[string]string{"GAUNTLET_SIGNING_KEY": "x", "GAUNTLET_VERIFY_KEY": "y"}); err != nil {
		t.Errorf("signing key variables rejected: %v", err)
	}
}

func TestBadPolicy(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"allow-list entry":   {`model_allow_sha256: ["abc"]`, "model_allow_sha256[0]"},
		"waiver date":        {"waivers: [{gate: \"accuracy.accuracy >= 0.9\", until: 31.01.2027, reason: r}]", "waivers[0].until"},
		"waiver reason":      {"waivers: [{gate: \"accuracy.accuracy >= 0.9\", until: 2027-01-31}]", "waivers[0].reason"},
		"waiver unknown key": {"waivers: [{gate: g, until: 2027-01-31, reason: r, owner: me}]", "owner"},
		"regression bound":   {"regressions: [{metric: accuracy.accuracy}]", "regressions[0]"},
		"regression metric":  {"regressions: [{metric: accuracy, max_drop: 0.1}]", "regressions[0].metric"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, write(t, base+c.body+"\n"), nil)
			if err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want exit code 2 naming %q", err, c.want)
			}
		})
	}
}
