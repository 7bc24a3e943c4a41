package extraction

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
	"github.com/gauntlet-ml/gauntlet/train"
)

// Output modes of Config.Outputs: what the attacker gets back per query.
const (
	Probabilities = "probabilities" // the model's class probabilities (softmax of logits)
	Labels        = "labels"        // the predicted class only
)

// Architectures of Config.Arch besides train's.
const ArchAuto = "auto" // cnn for image samples ([C,H,W] or [H,W]), mlp otherwise

// Defaults of the extraction block (docs/metrics/extraction.md).
const (
	// DefaultHoldout is the share of the evaluation rows kept out of the
	// query pool as the fidelity-test part when no queries are configured.
	DefaultHoldout = 0.3
	// DefaultEps is the L∞ budget of the transfer attack, in input units.
	DefaultEps = 0.1
	// DefaultTransferRows caps the fidelity-test rows the transfer attack
	// is crafted on (the first rows of that part).
	DefaultTransferRows = 1000
	maxBudget           = 10000000
)

// DefaultBudgets are the query budgets of issue 24.
var DefaultBudgets = []int{1000, 5000, 10000}

// Config is the extraction suite's config block (docs/config.md):
//
//	budgets: [1000, 5000, 10000]  # queries per surrogate
//	queries: {x: q.npy}           # optional query data (a data block); default: part of the evaluation data
//	holdout: 0.3                  # evaluation share kept for the fidelity test (without queries)
//	outputs: probabilities        # or labels
//	arch: auto                    # auto, mlp, cnn, logreg
//	training: {hidden: 64, filters: 8, epochs: 30, batch: 32, learning_rate: 0.003}
//	attack: {name: pgd, norm: linf, eps: [0.1]}  # one evasion attack entry, one eps; early_stop: false unless set
//	transfer_rows: 1000
type Config struct {
	Budgets      []int          `mapstructure:"budgets"`
	Queries      data.Spec      `mapstructure:"queries"`
	Holdout      float64        `mapstructure:"holdout"`
	Outputs      string         `mapstructure:"outputs"`
	Arch         string         `mapstructure:"arch"`
	Training     Training       `mapstructure:"training"`
	Attack       map[string]any `mapstructure:"attack"`
	TransferRows int            `mapstructure:"transfer_rows"`

	attack evasion.Config // Attack decoded by the evasion suite
}

// Training are the surrogate's training settings (train.Config).
type Training struct {
	Hidden       int     `mapstructure:"hidden"`
	Filters      int     `mapstructure:"filters"`
	Epochs       int     `mapstructure:"epochs"`
	Batch        int     `mapstructure:"batch"`
	LearningRate float64 `mapstructure:"learning_rate"`
}

// Suite is the extraction suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "extraction" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

func (c Config) hasQueries() bool { return c.Queries.X != "" || c.Queries.CSV != "" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	d := train.Defaults
	cfg := Config{Holdout: DefaultHoldout, Outputs: Probabilities, Arch: ArchAuto, TransferRows: DefaultTransferRows,
		Training: Training{Hidden: d.Hidden, Filters: d.Filters, Epochs: d.Epochs, Batch: d.Batch, LearningRate: d.LearningRate}}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	const f = "config suites.extraction."
	if cfg.Budgets == nil {
		cfg.Budgets = slices.Clone(DefaultBudgets)
	}
	if len(cfg.Budgets) == 0 {
		return nil, errs.Invalidf(f + "budgets: empty; list at least one query budget")
	}
	for i, b := range cfg.Budgets {
		if b < 1 || b > maxBudget {
			return nil, errs.Invalidf(f+"budgets[%d]: %d is outside 1..%d", i, b, maxBudget)
		}
		if slices.Index(cfg.Budgets, b) != i {
			return nil, errs.Invalidf(f+"budgets: %d is listed twice", b)
		}
	}
	slices.Sort(cfg.Budgets)
	switch {
	case !(cfg.Holdout > 0 && cfg.Holdout < 1):
		return nil, errs.Invalidf(f+"holdout: %v is outside (0, 1)", cfg.Holdout)
	case cfg.Outputs != Probabilities && cfg.Outputs != Labels:
		return nil, errs.Invalidf(f+"outputs: %q: want probabilities or labels", cfg.Outputs)
	case cfg.Arch != ArchAuto && cfg.Arch != train.MLP && cfg.Arch != train.CNN && cfg.Arch != train.LogReg:
		return nil, errs.Invalidf(f+"arch: %q: want auto, mlp, cnn or logreg", cfg.Arch)
	case cfg.TransferRows < 1:
		return nil, errs.Invalidf(f+"transfer_rows: %d: must be at least 1", cfg.TransferRows)
	}
	tc := cfg.Training
	for _, p := range []struct {
		key string
		v   int
	}{{"hidden", tc.Hidden}, {"filters", tc.Filters}, {"epochs", tc.Epochs}, {"batch", tc.Batch}} {
		if p.v < 1 {
			return nil, errs.Invalidf(f+"training.%s: %d: must be at least 1", p.key, p.v)
		}
	}
	if !(tc.LearningRate > 0) || math.IsInf(tc.LearningRate, 0) {
		return nil, errs.Invalidf(f+"training.learning_rate: %g: must be a number > 0", tc.LearningRate)
	}
	a := cfg.Attack
	if a == nil {
		a = map[string]any{"name": evasion.PGD, "norm": evasion.Linf, "eps": []any{DefaultEps}}
	}
	if _, ok := a["early_stop"]; !ok {
		// Transfer examples run every step, as ART's PGD does: stopping
		// at the surrogate's boundary leaves points that barely cross it.
		a = maps.Clone(a)
		a["early_stop"] = false
	}
	e, err := evasion.Suite{}.Decode(map[string]any{"attacks": []any{a}})
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf(f+"attack: %w", err))
	}
	cfg.attack = e.(evasion.Config)
	if len(cfg.attack.Attacks) != 1 || len(cfg.attack.Attacks[0].Eps) != 1 {
		return nil, errs.Invalidf(f + "attack: give one attack with one eps")
	}
	return cfg, nil
}

// key returns the metric key of name at budget b: "fidelity@10000".
func key(name string, b int) string { return name + "@" + strconv.Itoa(b) }

// Metrics implements suite.Suite.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := suite.ProportionKeys("target_accuracy")
	for _, b := range cfg.Budgets {
		for _, m := range []string{"fidelity", "accuracy", "transfer"} {
			keys = append(keys, suite.ProportionKeys(key(m, b))...)
		}
	}
	return keys
}

// CheckData implements suite.DataChecker: fidelity needs no labels, but
// accuracy and the transfer attack do.
func (Suite) CheckData(_ any, d *data.Dataset, _ int) error {
	if d.Y == nil {
		return errs.Invalidf("config suites.extraction needs labelled evaluation data (data.y or data.label): surrogate accuracy and the transfer attack compare with the labels")
	}
	if d.N < 4 {
		return errs.Invalidf("config suites.extraction: %d evaluation samples; extraction needs at least 4", d.N)
	}
	return nil
}
