package slices

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// Defaults and limits of the slices suite's config.
const (
	// DefaultBins is the number of quantile bins of a numeric column
	// (quartiles, as SliceFinder's and Deepchecks' default discretisation
	// of numeric features into a few equal-frequency bins).
	DefaultBins = 4
	// DefaultMaxDepth is the largest number of conditions in a slice.
	DefaultMaxDepth = 2
	// MaxDepth is the largest max_depth allowed.
	MaxDepth = 3
	// DefaultAlpha is the level at which an adjusted p-value is significant.
	DefaultAlpha = 0.05
	// MinSizeFloor and MinSizeShare make the default min_size:
	// max(MinSizeFloor, ⌈MinSizeShare · rows⌉).
	MinSizeFloor = 30
	MinSizeShare = 0.01
	// MaxValues bounds the distinct values of a categorical slicing column.
	MaxValues = 100
)

// Metric names of the slices suite.
const (
	Accuracy       = "accuracy"
	SelectionRate  = "selection_rate"
	RobustAccuracy = "robust_accuracy"
)

// Config is the slices suite's config block (docs/metrics/slices.md).
type Config struct {
	// Features are the CSV columns slices are made of (kept as strings;
	// they may also be model features).
	Features []string `mapstructure:"features"`
	// Bins is the number of quantile bins of a numeric column.
	Bins int `mapstructure:"bins"`
	// MaxDepth is the largest number of conditions in a slice (1..3).
	MaxDepth int `mapstructure:"max_depth"`
	// MinSize is the smallest slice (and complement) tested; 0 means
	// max(30, ⌈1% of the rows⌉).
	MinSize int `mapstructure:"min_size"`
	// Alpha is the significance level of the adjusted p-values.
	Alpha float64 `mapstructure:"alpha"`
	// Correction is "bh" (Benjamini-Hochberg, the default) or "holm".
	Correction string `mapstructure:"correction"`
	// Sensitive, when set, adds the selection rate, searched over slices
	// of the sensitive columns.
	Sensitive []string `mapstructure:"sensitive"`
	// PositiveLabel is the favourable class id of the selection rate
	// (default 1).
	PositiveLabel int `mapstructure:"positive_label"`
	// Evasion, when set, is an evasion suite block whose attacks give
	// robust accuracy per sample (correct clean and under every attack).
	Evasion map[string]any `mapstructure:"evasion"`

	evasion *evasion.Config
}

const field = "config suites.slices."

// Suite is the slices suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "slices" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Bins: DefaultBins, MaxDepth: DefaultMaxDepth, Alpha: DefaultAlpha, Correction: stats.BenjaminiHochberg, PositiveLabel: 1}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Features) == 0 {
		return nil, errs.Invalidf(field + "features: name at least one CSV column to slice on (e.g. [age, sex])")
	}
	if err := groups.ValidateColumns(field+"features", cfg.Features); err != nil {
		return nil, err
	}
	if cfg.Bins < 2 || cfg.Bins > 20 {
		return nil, errs.Invalidf(field+"bins: %d is outside 2..20", cfg.Bins)
	}
	if cfg.MaxDepth < 1 || cfg.MaxDepth > MaxDepth {
		return nil, errs.Invalidf(field+"max_depth: %d is outside 1..%d", cfg.MaxDepth, MaxDepth)
	}
	if cfg.MinSize < 0 {
		return nil, errs.Invalidf(field+"min_size: %d is negative (0 means the default, max(30, 1%% of the rows))", cfg.MinSize)
	}
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		return nil, errs.Invalidf(field+"alpha: %v is outside (0, 1)", cfg.Alpha)
	}
	if cfg.Correction != stats.BenjaminiHochberg && cfg.Correction != stats.Holm {
		return nil, errs.Invalidf(field+"correction: %q is not bh or holm", cfg.Correction)
	}
	if len(cfg.Sensitive) > 0 {
		if err := groups.ValidateColumns(field+"sensitive", cfg.Sensitive); err != nil {
			return nil, err
		}
	}
	if cfg.PositiveLabel < 0 {
		return nil, errs.Invalidf(field+"positive_label: %d is negative", cfg.PositiveLabel)
	}
	if cfg.Evasion != nil {
		e, err := evasion.Suite{}.Decode(cfg.Evasion)
		if err != nil {
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("%sevasion: %w", field, err))
		}
		ec := e.(evasion.Config)
		cfg.evasion = &ec
	}
	return cfg, nil
}

// metrics returns the per-sample metrics cfg searches, in report order.
func (c Config) metrics() []string {
	ms := []string{Accuracy}
	if len(c.Sensitive) > 0 {
		ms = append(ms, SelectionRate)
	}
	if c.evasion != nil {
		ms = append(ms, RobustAccuracy)
	}
	return ms
}

// Metrics implements suite.Suite. The keys do not depend on the data: the
// slices themselves are named in details (as fairness names its groups).
func (Suite) Metrics(cfgAny any, classes int) []string {
	cfg := cfgAny.(Config)
	keys := []string{"count_significant", "tested", "worst.gap"}
	for _, m := range cfg.metrics() {
		keys = append(keys, m+".count_significant", m+".tested",
			"worst."+m, "worst."+m+".gap", "worst."+m+".p_adjusted")
	}
	return keys
}

// DataColumns implements suite.ColumnUser: the sensitive columns. The
// features are not asked for, as in drift: a column the engine keeps is no
// longer fed to the model (data.Spec.Also), and a feature may be a model
// input (num_age); raw CSV columns that are not model inputs are listed in
// data.keep (CheckData says so).
func (Suite) DataColumns(cfgAny any) []string {
	return append([]string(nil), cfgAny.(Config).Sensitive...)
}

// CheckData implements suite.DataChecker: every feature is a model input
// column or a kept CSV column, every sensitive column is kept, labels
// exist and positive_label is a class of the model.
func (Suite) CheckData(cfgAny any, d *data.Dataset, classes int) error {
	cfg := cfgAny.(Config)
	for i, name := range cfg.Features {
		if _, err := values(d, name); err != nil {
			return errs.Invalidf(field+"features[%d]: %v", i, err)
		}
	}
	if err := groups.CheckColumns(field+"sensitive", cfg.Sensitive, "", d); err != nil {
		return err
	}
	if d.Y == nil {
		return errs.Invalidf("suite slices needs labels: set data.label (CSV)")
	}
	if len(cfg.Sensitive) > 0 && classes > 0 && cfg.PositiveLabel >= classes {
		return errs.Invalidf(field+"positive_label: class %d, but the model has %d classes", cfg.PositiveLabel, classes)
	}
	return nil
}

// values returns column name of d, one string per sample: a kept CSV
// column as it is, else a model input column (data.Dataset.Features) read
// from the fitted samples.
func values(d *data.Dataset, name string) ([]string, error) {
	if col, ok := d.Columns[name]; ok && len(col) == d.N {
		return col, nil
	}
	j := slices.Index(d.Features, name)
	if j < 0 {
		kept := slices.Sorted(maps.Keys(d.Columns))
		return nil, fmt.Errorf("column %q is neither a model input column nor kept (data.keep: [%s])", name, strings.Join(kept, ", "))
	}
	out := make([]string, d.N)
	for i := range d.N {
		out[i] = strconv.FormatFloat(float64(d.Sample(i)[j]), 'g', -1, 32)
	}
	return out, nil
}
