package attribute

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// DefaultFolds is k of the k-fold cross-validation.
const DefaultFolds = 5

// Config is the attribute_inference suite's config block.
type Config struct {
	// Sensitive is the CSV column to infer; it must be listed in the data
	// block's keep.
	Sensitive string `mapstructure:"sensitive"`
	// Data optionally replaces the run's data block (CSV with keep).
	Data *data.Spec `mapstructure:"data"`
	// UseFeatures adds the non-sensitive features to the attack's input
	// (default true): the attacker knows the rest of the record.
	UseFeatures *bool `mapstructure:"use_features"`
	// ExcludeFeatures are features withheld from the attacker besides
	// those derived from the sensitive column (name == column, or
	// containing it as a "_"-separated token such as cat_sex_Female).
	ExcludeFeatures []string `mapstructure:"exclude_features"`
	// Folds is k of the stratified k-fold cross-validation.
	Folds int `mapstructure:"folds"`
	// L2 is the logistic attack classifier's L2 penalty.
	L2 float64 `mapstructure:"l2"`
	// AttackModel is mlp (a gorgonia network, default) or logistic.
	AttackModel string `mapstructure:"attack_model"`
}

// Suite is the attribute-inference suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "attribute_inference" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Folds: DefaultFolds, L2: learn.DefaultL2, AttackModel: "mlp"}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Sensitive == "" {
		return nil, errs.Invalidf("config suites.attribute_inference.sensitive: name the sensitive CSV column")
	}
	if cfg.UseFeatures == nil {
		t := true
		cfg.UseFeatures = &t
	}
	if cfg.Folds < 2 || cfg.Folds > 100 {
		return nil, errs.Invalidf("config suites.attribute_inference.folds: %d is outside 2..100", cfg.Folds)
	}
	if cfg.AttackModel != "mlp" && cfg.AttackModel != "logistic" {
		return nil, errs.Invalidf("config suites.attribute_inference.attack_model: %q is not mlp or logistic", cfg.AttackModel)
	}
	if !(cfg.L2 >= 0) {
		return nil, errs.Invalidf("config suites.attribute_inference.l2: %v is not >= 0", cfg.L2)
	}
	return cfg, nil
}

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/attribute_inference.md.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := append(suite.ProportionKeys("accuracy"), "baseline", "advantage", "balanced_accuracy", "auc")
	if *cfg.UseFeatures {
		keys = append(keys, "features_only.accuracy", "features_only.auc", "output_gain")
	}
	return keys
}

// derived reports whether feature f encodes the sensitive column s.
func derived(f, s string) bool {
	if f == s || strings.HasPrefix(f, s+"_") {
		return true
	}
	return slices.Contains(strings.Split(f, "_"), s) || strings.Contains(f, "_"+s+"_")
}

// DataColumns implements suite.ColumnUser: the sensitive column, when the
// suite reads the run's data (its own data block keeps it itself).
func (Suite) DataColumns(cfgAny any) []string {
	cfg := cfgAny.(Config)
	if cfg.Data != nil {
		return nil
	}
	return []string{cfg.Sensitive}
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(t, cfg)
	if err != nil {
		return nil, err
	}
	logp, finished, err := outputs(ctx, t, p.d)
	if err != nil && !suite.TimedOut(ctx, err) {
		return nil, err
	}
	in := p.input(t.Classes)
	in.LogP = logp
	size := p.d.SampleSize()
	for i := 0; i < p.d.N; i++ {
		for k, j := range p.feats {
			in.FX[i*len(p.feats)+k] = float64(p.d.X[i*size+j])
		}
	}
	if err != nil {
		return partial(ctx, t, cfg, in, finished, err)
	}
	return finish(ctx, t, cfg, in)
}

// partial is Run's result when runtime.timeout stopped the model pass
// (stop): the attack trained and scored, as finish does, on the rows of
// the batches that finished (in row order), marked with details.timed_out.
// The deadline has passed, so this training runs past it, on those rows
// only (docs/metrics/attribute_inference.md). It returns no figures when
// no batch finished or those rows make no attack (finish's error: fewer
// rows than folds, a single category).
func partial(ctx context.Context, t *suite.Target, cfg Config, in attackInput, finished []bool, stop error) (*suite.Result, error) {
	c, nf := t.Classes, len(in.Features)
	sub := attackInput{Features: in.Features, Withheld: in.Withheld, Files: in.Files}
	for b, ok := range finished {
		if !ok {
			continue
		}
		lo, hi := t.BatchRange(b, in.N)
		sub.LogP = append(sub.LogP, in.LogP[lo*c:hi*c]...)
		sub.FX = append(sub.FX, in.FX[lo*nf:hi*nf]...)
		sub.Sensitive = append(sub.Sensitive, in.Sensitive[lo:hi]...)
		sub.N += hi - lo
	}
	if sub.N < cfg.Folds {
		return nil, stop
	}
	res, err := finish(context.WithoutCancel(ctx), t, cfg, sub)
	if err != nil {
		return nil, stop
	}
	res.SetTimedOut(sub.N, in.N, nil)
	return res, stop
}

// prepared is the suite's data, checked, and the features the attacker
// sees (feats) and does not (withheld), as sample positions.
type prepared struct {
	d               *data.Dataset
	col             []string
	feats, withheld []int
	files           []data.File // the suite's own data block's files, if any
}

// prepare loads and checks the suite's data and chooses the attacker's
// features, before the model runs.
func prepare(t *suite.Target, cfg Config) (*prepared, error) {
	d := t.Data
	where := "data"
	p := &prepared{}
	if cfg.Data != nil {
		where = "suites.attribute_inference.data"
		spec := *cfg.Data
		spec.Also = append(append([]string{}, spec.Also...), cfg.Sensitive)
		var err error
		if d, err = t.LoadData(spec, where); err != nil {
			return nil, err
		}
		p.files = d.Files
	}
	col, ok := d.Columns[cfg.Sensitive]
	if !ok {
		return nil, errs.Invalidf("suites.attribute_inference.sensitive: column %q is not in the CSV data of %s (CSV data only)", cfg.Sensitive, where)
	}
	if d.N < cfg.Folds {
		return nil, errs.Invalidf("suites.attribute_inference: %d rows is fewer than folds = %d", d.N, cfg.Folds)
	}
	if cats := slices.Sorted(maps.Keys(uniq(col))); len(cats) < 2 {
		return nil, errs.Invalidf("suites.attribute_inference.sensitive: column %q has a single value %q: nothing to infer", cfg.Sensitive, cats[0])
	}
	p.d, p.col = d, col

	// Features withheld: those derived from the sensitive column and those
	// named in exclude_features.
	if *cfg.UseFeatures {
		for _, e := range cfg.ExcludeFeatures {
			if !slices.Contains(d.Features, e) {
				return nil, errs.Invalidf("suites.attribute_inference.exclude_features: %q is not a feature of %s (features: %s)", e, where, strings.Join(d.Features, ", "))
			}
		}
		for j := 0; j < d.SampleSize(); j++ {
			name := ""
			if j < len(d.Features) {
				name = d.Features[j]
			}
			if name != "" && (derived(name, cfg.Sensitive) || slices.Contains(cfg.ExcludeFeatures, name)) {
				p.withheld = append(p.withheld, j)
				continue
			}
			p.feats = append(p.feats, j)
		}
	}
	return p, nil
}

// input returns the attack input for all rows, LogP and FX yet to fill.
func (p *prepared) input(c int) attackInput {
	names := func(idx []int) []string {
		out := []string{}
		for _, j := range idx {
			if j < len(p.d.Features) {
				out = append(out, p.d.Features[j])
			}
		}
		return out
	}
	return attackInput{N: p.d.N, LogP: make([]float64, p.d.N*c), FX: make([]float64, p.d.N*len(p.feats)), Sensitive: p.col,
		Features: names(p.feats), Withheld: names(p.withheld), Files: p.files}
}

// attackInput is all the attack reads: per row the model's log
// probabilities, the features the attacker sees and the sensitive value.
// A sharded run (shard.go) builds it from the rows of every unit.
type attackInput struct {
	N         int
	LogP      []float64 // N×classes
	FX        []float64 // N×len(Features)
	Sensitive []string
	Features  []string
	Withheld  []string
	Files     []data.File
}

// finish trains and scores the attack on in and fills the result.
func finish(ctx context.Context, t *suite.Target, cfg Config, in attackInput) (*suite.Result, error) {
	n, col := in.N, in.Sensitive
	cats := slices.Sorted(maps.Keys(uniq(col)))
	if len(cats) < 2 {
		return nil, errs.Invalidf("suites.attribute_inference.sensitive: column %q has a single value: nothing to infer", cfg.Sensitive)
	}
	y := make([]int, n)
	count := make([]int, len(cats))
	for i, v := range col {
		y[i], _ = slices.BinarySearch(cats, v)
		count[y[i]]++
	}
	c := t.Classes
	nf := len(in.Features)
	dim := c + nf
	x := make([]float64, n*dim)
	for i := 0; i < n; i++ {
		row := x[i*dim : (i+1)*dim]
		copy(row, in.LogP[i*c:(i+1)*c])
		copy(row[c:], in.FX[i*nf:(i+1)*nf])
	}
	k := len(cats)
	rng := rand.New(rand.NewPCG(suite.DeriveSeed(t.Seed, "attribute_inference/folds"), 0))
	fold := learn.Folds(y, k, cfg.Folds, rng)
	seed := suite.DeriveSeed(t.Seed, "attribute_inference/train")
	train, model := learn.MLP(learn.DefaultMLP), fmt.Sprintf("gorgonia MLP (%d hidden ReLU units, Adam), standardised inputs", learn.DefaultMLP.Hidden)
	if cfg.AttackModel == "logistic" {
		train, model = learn.Logistic(cfg.L2), "L2 logistic regression (softmax regression), standardised inputs, L-BFGS"
	}
	p, err := learn.CrossValidate(ctx, x, dim, y, k, fold, cfg.Folds, train, seed)
	if err != nil {
		return nil, err
	}
	res := suite.NewResult()
	for _, f := range in.Files {
		res.Data = append(res.Data, suite.DataFile{Role: "data", File: f})
	}
	acc, bal, auc, aucOK := evaluate(p, y, k)
	majority := slices.Max(count)
	baseline := float64(majority) / float64(n)
	res.SetProportion("accuracy", acc, n, t.ConfidenceLevel)
	res.Set("baseline", baseline, true)
	res.Set("advantage", float64(acc)/float64(n)-baseline, true)
	res.Set("balanced_accuracy", bal, true)
	res.Set("auc", auc, aucOK)
	if *cfg.UseFeatures {
		fx := make([]float64, n*nf)
		for i := 0; i < n; i++ {
			copy(fx[i*nf:(i+1)*nf], x[i*dim+c:(i+1)*dim])
		}
		fp, err := learn.CrossValidate(ctx, fx, nf, y, k, fold, cfg.Folds, train, seed)
		if err != nil {
			return nil, err
		}
		facc, _, fauc, _ := evaluate(fp, y, k)
		res.Set("features_only.accuracy", float64(facc)/float64(n), true)
		res.Set("features_only.auc", fauc, aucOK)
		res.Set("output_gain", float64(acc-facc)/float64(n), true)
	}
	dist := map[string]int{}
	for i, v := range cats {
		dist[v] = count[i]
	}
	res.Details["rows"] = n
	res.Details["sensitive"] = cfg.Sensitive
	res.Details["categories"] = dist
	res.Details["attack_inputs"] = map[string]any{"model_log_probabilities": c, "features": in.Features, "withheld_features": in.Withheld}
	res.Details["model"] = model
	res.Details["folds"] = cfg.Folds
	return res, nil
}

func uniq(v []string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, s := range v {
		m[s] = struct{}{}
	}
	return m
}

// outputs runs the model over d and returns log p (N×C) per sample and
// which batches finished (all of them unless err is set).
func outputs(ctx context.Context, t *suite.Target, d *data.Dataset) ([]float64, []bool, error) {
	c := t.Classes
	probs := t.OutputKind == runtime.Probabilities
	out := make([]float64, d.N*c)
	// finished[b] is written by the one worker that ran batch b.
	finished := make([]bool, t.Batches(d.N))
	err := suite.ForEachBatch(ctx, t, d, func(b, lo, hi int, o []float32) error {
		z := make([]float64, c)
		for i := lo; i < hi; i++ {
			learn.Logits(z, o[(i-lo)*c:(i-lo+1)*c], probs)
			learn.LogSoftmax(out[i*c:(i+1)*c], z)
		}
		finished[b] = true
		return nil
	})
	return out, finished, err
}

// evaluate returns the number of correct arg-max predictions, the balanced
// accuracy (mean recall over categories) and, for two categories, the AUC
// of P(category 1).
func evaluate(p []float64, y []int, k int) (correct int, balanced, auc float64, aucOK bool) {
	hit := make([]int, k)
	n := make([]int, k)
	for i, yi := range y {
		row := p[i*k : (i+1)*k]
		pred := stats.Argmax(row)
		n[yi]++
		if pred == yi {
			correct++
			hit[yi]++
		}
	}
	for j := range n {
		balanced += float64(hit[j]) / float64(n[j])
	}
	balanced /= float64(k)
	if k == 2 {
		sc := make([]float64, len(y))
		lab := make([]bool, len(y))
		for i := range y {
			sc[i], lab[i] = p[2*i+1], y[i] == 1
		}
		auc, aucOK = learn.NewROC(sc, lab, nil).AUC(), true
	}
	return correct, balanced, auc, aucOK
}
