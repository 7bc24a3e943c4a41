package fairness

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Defaults of the fairness suite's config.
const (
	// DefaultNBoot is the number of bootstrap rounds of every confidence
	// interval (Fairlearn's and scikit-learn's examples use 1000).
	DefaultNBoot = 1000
	// DefaultBins is the number of equal-width score bins of the expected
	// calibration error, as in the accuracy suite (Guo et al. 2017).
	DefaultBins = 15
	// MaxNBoot bounds n_boot.
	MaxNBoot = 1_000_000
	// FourFifths is the EEOC's four-fifths (80%) rule.
	FourFifths = 0.8
)

// IntersectionSep joins attribute names into the intersection's name
// ("sex&race") and group values into an intersectional group's name
// ("Female&Black").
const IntersectionSep = groups.IntersectionSep

// Config is the fairness suite's config block (docs/metrics/fairness.md).
type Config struct {
	// Sensitive names the sensitive columns; each must be listed in
	// data.keep (it may also be a feature).
	Sensitive []string `mapstructure:"sensitive"`
	// Intersections adds the intersection of all sensitive attributes
	// (named "a&b") as one more attribute.
	Intersections bool `mapstructure:"intersections"`
	// PositiveLabel is the favourable class: a class id, or a class name
	// when the CSV label column holds names. Empty means class 1 on a
	// binary model.
	PositiveLabel string `mapstructure:"positive_label"`
	// Threshold, when set, predicts the positive class when its probability
	// is at least Threshold (else the arg max of the other classes);
	// unset means arg max.
	Threshold *float64 `mapstructure:"threshold"`
	// MinGroupSize: groups with fewer rows are reported and flagged but
	// left out of the disparity metrics.
	MinGroupSize int `mapstructure:"min_group_size"`
	// ReferenceGroups maps an attribute to its reference (privileged)
	// group; by default the largest group.
	ReferenceGroups map[string]string `mapstructure:"reference_groups"`
	// NBoot is the number of bootstrap rounds (0: no intervals).
	NBoot int `mapstructure:"n_boot"`
	// Interval is the bootstrap interval: "percentile" (the default) or
	// "bca" (Efron's bias-corrected and accelerated interval).
	Interval string `mapstructure:"interval"`
	// Bins is the number of score bins of the expected calibration error.
	Bins int `mapstructure:"bins"`
	// Counterfactual configures the flip test of sensitive attributes that
	// are model inputs.
	Counterfactual []Counterfactual `mapstructure:"counterfactual"`
}

// Counterfactual says how a sensitive attribute is encoded in the model
// input, so its encoding can be swapped: either OneHot columns (OneHot[i]
// is 1 for Values[i], the others 0) or one numeric Column holding Codes[i]
// for Values[i] (by default Values parsed as numbers).
type Counterfactual struct {
	Attribute string    `mapstructure:"attribute"`
	OneHot    []string  `mapstructure:"one_hot"`
	Column    string    `mapstructure:"column"`
	Values    []string  `mapstructure:"values"`
	Codes     []float64 `mapstructure:"codes"`
}

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{NBoot: DefaultNBoot, Bins: DefaultBins, Interval: IntervalPercentile}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	// An empty value is a value, not "the default": only absent keys default.
	if keys["positive_label"] && strings.TrimSpace(cfg.PositiveLabel) == "" {
		return nil, errs.Invalidf(field + "positive_label: empty; name the favourable class, or leave positive_label out for class 1 of a binary model")
	}
	for i, x := range cfg.Counterfactual {
		if keys["counterfactual["+strconv.Itoa(i)+"].codes"] && len(x.Codes) == 0 {
			return nil, errs.Invalidf(field+"counterfactual[%d].codes: empty; give one code per value, or leave codes out to read values as numbers", i)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

const field = "config suites.fairness."

func (c *Config) validate() error {
	if len(c.Sensitive) == 0 {
		return errs.Invalidf(field + "sensitive: name at least one sensitive column of the CSV data (e.g. [sex, race])")
	}
	if err := groups.ValidateColumns(field+"sensitive", c.Sensitive); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, a := range c.Sensitive {
		seen[a] = true
	}
	if c.Intersections && len(c.Sensitive) < 2 {
		return errs.Invalidf(field+"intersections: needs at least two sensitive columns, have %d", len(c.Sensitive))
	}
	if c.Threshold != nil {
		if th := *c.Threshold; !(th >= 0 && th <= 1) {
			return errs.Invalidf(field+"threshold: %v is outside [0, 1]", th)
		}
	}
	if c.MinGroupSize < 0 {
		return errs.Invalidf(field+"min_group_size: %d is negative", c.MinGroupSize)
	}
	if c.NBoot < 0 || c.NBoot > MaxNBoot {
		return errs.Invalidf(field+"n_boot: %d is outside 0..%d", c.NBoot, MaxNBoot)
	}
	if m := strings.ToLower(c.Interval); slices.Contains(intervalMethods, m) {
		c.Interval = m // "BCa", as the literature writes it, is bca
	} else {
		return errs.Invalidf(field+"interval: %q is not an interval method (want one of: %s)", c.Interval, strings.Join(intervalMethods, ", "))
	}
	if c.Bins < 1 || c.Bins > 1000 {
		return errs.Invalidf(field+"bins: %d is outside 1..1000", c.Bins)
	}
	attrs := c.attributes()
	for k := range c.ReferenceGroups {
		if c.attrByKey(k) < 0 {
			return errs.Invalidf(field+"reference_groups.%s: not a sensitive attribute (have: %s)", k, strings.Join(attrs, ", "))
		}
	}
	cf := map[string]bool{}
	for i, x := range c.Counterfactual {
		at := field + "counterfactual[" + strconv.Itoa(i) + "]"
		if !seen[x.Attribute] {
			return errs.Invalidf("%s.attribute: %q is not one of sensitive (%s)", at, x.Attribute, strings.Join(c.Sensitive, ", "))
		}
		if cf[x.Attribute] {
			return errs.Invalidf("%s.attribute: %q is configured twice", at, x.Attribute)
		}
		cf[x.Attribute] = true
		if (len(x.OneHot) > 0) == (x.Column != "") {
			return errs.Invalidf("%s: set exactly one of one_hot (columns) or column (a numeric column)", at)
		}
		if len(x.Values) < 2 {
			return errs.Invalidf("%s.values: need the attribute's values (at least two), have %d", at, len(x.Values))
		}
		vals := map[string]bool{}
		for _, v := range x.Values {
			if vals[v] {
				return errs.Invalidf("%s.values: %q is listed twice", at, v)
			}
			vals[v] = true
		}
		if len(x.OneHot) > 0 {
			if len(x.OneHot) != len(x.Values) {
				return errs.Invalidf("%s: one_hot has %d columns but values has %d", at, len(x.OneHot), len(x.Values))
			}
			if len(x.Codes) > 0 {
				return errs.Invalidf("%s.codes: applies to column, not one_hot", at)
			}
			continue
		}
		if len(x.Codes) == 0 {
			for j, v := range x.Values {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return errs.Invalidf("%s.values[%d]: %q is not a number; give codes: the column's value for each of values", at, j, v)
				}
				x.Codes = append(x.Codes, f)
			}
			c.Counterfactual[i].Codes = x.Codes
		}
		if len(x.Codes) != len(x.Values) {
			return errs.Invalidf("%s: codes has %d entries but values has %d", at, len(x.Codes), len(x.Values))
		}
		for j, f := range x.Codes {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return errs.Invalidf("%s.codes[%d]: %v is not finite", at, j, f)
			}
		}
	}
	return nil
}

// attributes returns the names of the analysed attributes: the sensitive
// columns, then their intersection when configured.
func (c *Config) attributes() []string {
	a := append([]string(nil), c.Sensitive...)
	if c.Intersections {
		a = append(a, strings.Join(c.Sensitive, IntersectionSep))
	}
	return a
}

// attrByKey finds the attribute a reference_groups key names: exactly, or
// ignoring case (viper lower-cases map keys). It returns -1 when none or
// more than one matches.
func (c *Config) attrByKey(k string) int {
	attrs := c.attributes()
	for i, a := range attrs {
		if a == k {
			return i
		}
	}
	found := -1
	for i, a := range attrs {
		if strings.EqualFold(a, k) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// referenceFor returns the configured reference group of attribute a.
func (c *Config) referenceFor(a string) (string, bool) {
	attrs := c.attributes()
	for k, v := range c.ReferenceGroups {
		if i := c.attrByKey(k); i >= 0 && attrs[i] == a {
			return v, true
		}
	}
	return "", false
}

// disparityNames are the per-attribute disparity metrics, each with
// bootstrap bounds; the order is the order of the values disparities
// writes.
var disparityNames = []string{
	"demographic_parity_difference",
	"demographic_parity_ratio",
	"equalized_odds_difference",
	"equalized_odds_ratio",
	"equal_opportunity_difference",
	"equal_opportunity_ratio",
	"predictive_parity_difference",
	"accuracy_difference",
	"disparate_impact",
	"statistical_parity_difference",
	"average_odds_difference",
}

// Indices into a disparity vector.
const (
	dpDiff = iota
	dpRatio
	eoddsDiff
	eoddsRatio
	eoppDiff
	eoppRatio
	ppDiff
	accDiff
	dispImpact
	spDiff
	aoDiff
	nBase // per-class demographic parity follows when classes > 2
)

// metricNames returns the disparity metric names of one attribute for a
// model with the given number of classes, in disparity-vector order.
func metricNames(classes int) []string {
	names := append([]string(nil), disparityNames...)
	if classes > 2 {
		for k := 0; k < classes; k++ {
			c := "class." + strconv.Itoa(k) + "."
			names = append(names, c+"demographic_parity_difference", c+"demographic_parity_ratio")
		}
	}
	return names
}

// Metrics implements suite.Suite: every key Run can write for cfg.
func (Suite) Metrics(cfgAny any, classes int) []string {
	cfg := cfgAny.(Config)
	withCI := func(keys []string, k string) []string {
		if cfg.NBoot > 0 {
			return append(keys, k, k+".ci_low", k+".ci_high")
		}
		return append(keys, k)
	}
	var keys []string
	names := metricNames(classes)
	for _, a := range cfg.attributes() {
		for _, m := range names {
			keys = withCI(keys, a+"."+m)
		}
		keys = append(keys, a+".four_fifths_passed")
	}
	for _, x := range cfg.Counterfactual {
		keys = append(keys, suite.ProportionKeys(x.Attribute+".counterfactual_flip_rate")...)
	}
	return withCI(keys, "theil_index")
}
