package accuracy

import (
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// byKeys lists the by-group keys of accuracy for cfg (a Config; none
// when cfg is not one or has no by columns).
func byKeys(cfgAny any) []string {
	cfg, _ := cfgAny.(Config)
	return cfg.By.Keys("accuracy", true)
}

// DataColumns implements suite.ColumnUser: the by columns.
func (Suite) DataColumns(cfgAny any) []string { return cfgAny.(Config).By.DataColumns() }

// CheckData implements suite.DataChecker: every by column is a CSV column
// of the evaluation data (errs.Invalid naming it otherwise).
func (s Suite) CheckData(cfgAny any, d *data.Dataset, _ int) error {
	return cfgAny.(Config).By.Check(s.Name(), "data", d)
}

// byGroup writes accuracy by group (accuracy.worst_group, accuracy.gap,
// per column; details.by_group.accuracy) when by columns are configured.
func byGroup(r *suite.Result, cfg Config, d *data.Dataset, correct []bool, seed uint64, level float64) error {
	if !cfg.By.Enabled() {
		return nil
	}
	p, err := cfg.By.Partition("accuracy", []string{"data"}, d)
	if err != nil {
		return err
	}
	cfg.By.Write(r, "accuracy", p, groups.Proportions(p, correct, level), groups.LowerIsWorse, groups.Options{Bounds: true, Seed: seed, Level: level})
	return nil
}
