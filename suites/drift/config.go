package drift

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Defaults of the drift block (docs/metrics/drift.md says where each
// comes from).
const (
	// DefaultBins is the number of PSI bins: deciles of the reference, the
	// usual choice in credit scoring (Siddiqi 2006) and Evidently's default.
	DefaultBins = 10
	// DefaultAlpha is the significance level at which a feature's KS or χ²
	// test counts it as drifted.
	DefaultAlpha = 0.05
	// DefaultMMDSamples is the number of rows of each set the MMD uses.
	DefaultMMDSamples = 500
	// DefaultPermutations is the number of permutations of the MMD's
	// p-value.
	DefaultPermutations = 200
	// DefaultShiftQuantile is the quantile above which rows are up-weighted
	// under simulated shift: the top quartile.
	DefaultShiftQuantile = 0.75
	// DefaultShiftWeight is the weight of those rows.
	DefaultShiftWeight = 3
	// Intensity is the shift feature that is the mean of a sample's input
	// values (an image's brightness).
	Intensity = "intensity"
)

// MMD modes of Config.MMD.
const (
	MMDOn  = "on"
	MMDOff = "off"
)

// Config is the drift suite's config block (docs/config.md):
//
//	reference: {csv: train.csv, label: label}  # a data block, like data:
//	features: [num_age]        # features with their own metric keys
//	categorical: [sex, race]   # tested with χ² (CSV columns or features)
//	bins: 10                   # PSI bins at the reference's quantiles
//	alpha: 0.05                # a test below it counts a feature as drifted
//	mmd: on                    # on (images and tables), off
//	layer: ""                  # MMD tensor; default the last Gemm/MatMul's input
//	mmd_samples: 500           # rows of each set in the MMD
//	permutations: 200          # MMD permutation p-value
//	shift: {features: [num_age], quantile: 0.75, weight: 3}
//	sensitive: [sex]           # selection-rate gap under shift
//	positive: 1                # the favourable class of the selection rate
type Config struct {
	Reference    data.Spec `mapstructure:"reference"`
	Features     []string  `mapstructure:"features"`
	Categorical  []string  `mapstructure:"categorical"`
	Bins         int       `mapstructure:"bins"`
	Alpha        float64   `mapstructure:"alpha"`
	MMD          string    `mapstructure:"mmd"`
	Layer        string    `mapstructure:"layer"`
	MMDSamples   int       `mapstructure:"mmd_samples"`
	Permutations int       `mapstructure:"permutations"`
	Shift        Shift     `mapstructure:"shift"`
	Sensitive    []string  `mapstructure:"sensitive"`
	Positive     int       `mapstructure:"positive"`
}

// Shift is the simulated covariate shift: rows whose feature is at or
// above its Quantile-quantile on the evaluation data count Weight times.
type Shift struct {
	// Features default to the numeric entries of Config.Features, or
	// [intensity] when there are none.
	Features []string `mapstructure:"features"`
	Quantile float64  `mapstructure:"quantile"`
	Weight   float64  `mapstructure:"weight"`
}

// Suite is the drift suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "drift" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Bins: DefaultBins, Alpha: DefaultAlpha, MMD: MMDOn, MMDSamples: DefaultMMDSamples,
		Permutations: DefaultPermutations, Positive: 1,
		Shift: Shift{Quantile: DefaultShiftQuantile, Weight: DefaultShiftWeight}}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Reference.X == "" && cfg.Reference.CSV == "" {
		return nil, errs.Invalidf("config suites.drift.reference: set x or csv (a data block, like data:)")
	}
	switch {
	case cfg.Bins < 2 || cfg.Bins > 1000:
		return nil, errs.Invalidf("config suites.drift.bins: %d is outside 2..1000", cfg.Bins)
	case !(cfg.Alpha > 0 && cfg.Alpha < 1):
		return nil, errs.Invalidf("config suites.drift.alpha: %v is outside (0, 1)", cfg.Alpha)
	case cfg.MMD != MMDOn && cfg.MMD != MMDOff:
		return nil, errs.Invalidf("config suites.drift.mmd: %q is not on or off", cfg.MMD)
	case cfg.MMDSamples < 10 || cfg.MMDSamples > 5000:
		return nil, errs.Invalidf("config suites.drift.mmd_samples: %d is outside 10..5000", cfg.MMDSamples)
	case cfg.Permutations < 1 || cfg.Permutations > 100000:
		return nil, errs.Invalidf("config suites.drift.permutations: %d is outside 1..100000", cfg.Permutations)
	case !(cfg.Shift.Quantile > 0 && cfg.Shift.Quantile < 1):
		return nil, errs.Invalidf("config suites.drift.shift.quantile: %v is outside (0, 1)", cfg.Shift.Quantile)
	case !(cfg.Shift.Weight > 0 && cfg.Shift.Weight <= 1000):
		return nil, errs.Invalidf("config suites.drift.shift.weight: %v is outside (0, 1000]", cfg.Shift.Weight)
	case cfg.Positive < 0:
		return nil, errs.Invalidf("config suites.drift.positive: %d is negative", cfg.Positive)
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"features", cfg.Features}, {"categorical", cfg.Categorical}, {"shift.features", cfg.Shift.Features}, {"sensitive", cfg.Sensitive}} {
		for i, n := range l.names {
			if n == "" || strings.ContainsAny(n, " \t") {
				return nil, errs.Invalidf("config suites.drift.%s[%d]: %q is not a column name", l.key, i, n)
			}
			if slices.Index(l.names, n) != i {
				return nil, errs.Invalidf("config suites.drift.%s: %q is listed twice", l.key, n)
			}
		}
	}
	if cfg.Shift.Features == nil {
		for _, f := range cfg.Features {
			if !slices.Contains(cfg.Categorical, f) {
				cfg.Shift.Features = append(cfg.Shift.Features, f)
			}
		}
		if len(cfg.Shift.Features) == 0 {
			cfg.Shift.Features = []string{Intensity}
		}
	}
	for _, f := range cfg.Shift.Features {
		if slices.Contains(cfg.Categorical, f) {
			return nil, errs.Invalidf("config suites.drift.shift.features: %q is categorical; shift needs a numeric feature", f)
		}
	}
	return cfg, nil
}

// keyed returns the features with their own metric keys: features, then
// the categorical names not among them.
func (c Config) keyed() []string {
	out := slices.Clone(c.Features)
	for _, f := range c.Categorical {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/drift.md.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := []string{"max_psi", "max_ks", "min_p", "drifted_features", "drifted_share"}
	for _, f := range cfg.keyed() {
		keys = append(keys, "psi."+f)
		if slices.Contains(cfg.Categorical, f) {
			keys = append(keys, "chi2."+f+".statistic", "chi2."+f+".p")
		} else {
			keys = append(keys, "ks."+f+".statistic", "ks."+f+".p")
		}
	}
	if cfg.MMD != MMDOff {
		keys = append(keys, "mmd", "mmd.p")
	}
	keys = append(keys, "accuracy", "shift.worst_accuracy")
	for _, f := range cfg.Shift.Features {
		keys = append(keys, "shift."+f+".accuracy")
	}
	if len(cfg.Sensitive) > 0 {
		keys = append(keys, "selection_rate_gap", "shift.worst_selection_rate_gap")
		for _, f := range cfg.Shift.Features {
			keys = append(keys, "shift."+f+".selection_rate_gap")
		}
	}
	return keys
}

// DataColumns implements suite.ColumnUser: the sensitive columns. The
// categorical ones are not asked for: a name the engine keeps is no longer
// fed to the model (data.Spec.Also), and a categorical column may be a
// model feature (a one-hot column); raw CSV columns that are not features
// are listed in data.keep (CheckData says so).
func (Suite) DataColumns(cfgAny any) []string { return slices.Clone(cfgAny.(Config).Sensitive) }

// CheckData implements suite.DataChecker: every named feature, categorical
// and sensitive column exists in the evaluation data (errs.Invalid naming
// the key otherwise).
func (Suite) CheckData(cfgAny any, d *data.Dataset, _ int) error {
	return check(cfgAny.(Config), d, "data")
}

// check checks that the columns cfg names exist in d (set names d in
// messages).
func check(cfg Config, d *data.Dataset, set string) error {
	names := featureNames(d)
	for _, f := range cfg.Features {
		if !slices.Contains(names, f) && !slices.Contains(cfg.Categorical, f) {
			return errs.Invalidf("config suites.drift.features: %s has no feature %q (features: %s)", set, f, list(names))
		}
	}
	for _, f := range cfg.Categorical {
		if _, ok := d.Columns[f]; !ok && !slices.Contains(names, f) {
			return errs.Invalidf("config suites.drift.categorical: %s has no feature or kept column %q (a CSV column that is not a model feature must be listed in %s's keep)", set, f, set)
		}
	}
	for _, f := range cfg.Shift.Features {
		if f != Intensity && !slices.Contains(names, f) {
			return errs.Invalidf("config suites.drift.shift.features: %s has no feature %q (features: %s, or %s)", set, f, list(names), Intensity)
		}
	}
	for _, c := range cfg.Sensitive {
		if _, ok := d.Columns[c]; !ok {
			return errs.Invalidf("config suites.drift.sensitive: %s has no column %q", set, c)
		}
	}
	return nil
}

// list abbreviates a list of names for messages.
func list(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// featureNames names the input positions of a tabular data set: the CSV
// features, or f0, f1, … for one-axis NumPy samples; none for images
// (samples with more than one axis).
func featureNames(d *data.Dataset) []string {
	if d.Features != nil {
		return d.Features
	}
	if len(d.SampleShape) > 1 {
		return nil
	}
	names := make([]string, d.SampleSize())
	for i := range names {
		names[i] = "f" + strconv.Itoa(i)
	}
	return names
}
