package evasion

import (
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// byKeys lists the by-group keys for cfg: clean accuracy and every
// attack's robust accuracy at every eps, each by group (groups.By.Keys).
func byKeys(cfg Config) []string {
	if !cfg.By.Enabled() {
		return nil
	}
	keys := cfg.By.Keys("clean_accuracy", true)
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			keys = append(keys, cfg.By.Keys(Prefix(a.Key(), a.Norm, e)+".robust_accuracy", true)...)
		}
	}
	return keys
}

// DataColumns implements suite.ColumnUser: the by columns.
func (Suite) DataColumns(cfgAny any) []string { return cfgAny.(Config).By.DataColumns() }

// CheckData implements suite.DataChecker: every by column is a CSV column
// of the evaluation data and every features entry names a feature column
// or an index of the samples (errs.Invalid naming the key otherwise).
func (s Suite) CheckData(cfgAny any, d *data.Dataset, _ int) error {
	cfg := cfgAny.(Config)
	if err := cfg.By.Check(s.Name(), "data", d); err != nil {
		return err
	}
	_, err := featureMask(cfg, d)
	return err
}

// byGroup writes clean and robust accuracy by group, and records the
// perturbed features, into res.
func byGroup(res *suite.Result, t *suite.Target, cfg Config, outs []*outcome, correct []bool) error {
	if fixed, err := featureMask(cfg, t.Data); err != nil {
		return err
	} else if fixed != nil {
		res.Details["features"] = featureNames(fixed, t.Data)
	}
	if !cfg.By.Enabled() {
		return nil
	}
	p, err := cfg.By.Partition("evasion", []string{"data"}, t.Data)
	if err != nil {
		return err
	}
	level := t.ConfidenceLevel
	opt := groups.Options{Bounds: true, Seed: t.Seed, Level: level}
	cfg.By.Write(res, "clean_accuracy", p, groups.Proportions(p, correct, level), groups.LowerIsWorse, opt)
	for _, o := range outs {
		key := Prefix(o.a.Key(), o.a.Norm, o.eps) + ".robust_accuracy"
		cfg.By.Write(res, key, p, groups.Proportions(p, o.robust, level), groups.LowerIsWorse, opt)
	}
	return nil
}
