package poisoning

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Detection methods of the data part and scan methods of the model part.
const (
	MethodSpectral   = "spectral_signatures"
	MethodClustering = "activation_clustering"
	MethodSpectre    = "spectre"
	MethodSTRIP      = "strip"
	MethodCleanse    = "neural_cleanse"
)

// Config is the poisoning suite's config block: three parts, each enabled
// by its presence.
type Config struct {
	Data           *DataConfig           `mapstructure:"data"`
	Model          *ModelConfig          `mapstructure:"model"`
	Susceptibility *SusceptibilityConfig `mapstructure:"susceptibility"`
}

// DataConfig configures poisoned-data detection on a training set.
type DataConfig struct {
	Train      data.Spec        `mapstructure:"train"`
	IsPoisoned string           `mapstructure:"is_poisoned"`
	Layer      string           `mapstructure:"layer"`
	Layers     []string         `mapstructure:"layers"` // extra candidate layers when Layer is unset
	Methods    []string         `mapstructure:"methods"`
	Spectral   SpectralConfig   `mapstructure:"spectral_signatures"`
	Clustering ClusteringConfig `mapstructure:"activation_clustering"`
	Spectre    SpectreConfig    `mapstructure:"spectre"`
}

// SpectralConfig are the spectral-signature settings (ART's names): with
// expected_poison_rate, the top eps_multiplier·expected_poison_rate share
// of each class's scores is flagged; without it (0), the rate-free rule of
// ClassCutoff. Score "" (neither score nor centred set) picks the variant
// from the data (chooseCentred).
type SpectralConfig struct {
	ExpectedPoisonRate float64 `mapstructure:"expected_poison_rate"`
	EpsMultiplier      float64 `mapstructure:"eps_multiplier"`
	Score              string  `mapstructure:"score"`
	Centred            *bool   `mapstructure:"centred"`
}

// ClusteringConfig are the activation-clustering settings (ART's names and
// defaults, except the analysis: relative-size is the default here).
type ClusteringConfig struct {
	Dims                int     `mapstructure:"dims"`
	Reduce              string  `mapstructure:"reduce"` // ReducePCA (default) or ReduceICA
	Analysis            string  `mapstructure:"analysis"`
	SizeThreshold       float64 `mapstructure:"size_threshold"`
	SilhouetteThreshold float64 `mapstructure:"silhouette_threshold"`
	Restarts            int     `mapstructure:"restarts"`
}

// ModelConfig configures the backdoor scan of the model.
type ModelConfig struct {
	Methods       []string      `mapstructure:"methods"`
	Trigger       *Trigger      `mapstructure:"trigger"`
	Target        *int          `mapstructure:"target"`
	STRIP         STRIPConfig   `mapstructure:"strip"`
	NeuralCleanse CleanseConfig `mapstructure:"neural_cleanse"`
}

// STRIPConfig are the STRIP settings.
type STRIPConfig struct {
	OverlaysKey any     `mapstructure:"overlays"` // the overlays key as given: a whole number ≥ 1 or "auto"
	Overlays    int     `mapstructure:"-"`        // clean inputs superimposed on each input; 0: auto (overlaysFor)
	Samples     int     `mapstructure:"samples"`  // inputs per scored part (held-out clean, triggered) of the seeded split, at most a third of the eval data each; the rest are the overlays. 0: a third
	FRR         float64 `mapstructure:"frr"`      // false-rejection rate fixing the threshold
	AlphaKey    any     `mapstructure:"alpha"`    // the alpha key as given: a number in (0, 1) or "auto"
	Alpha       float64 `mapstructure:"-"`        // weight of the overlaid clean input, (1 − alpha)·x + alpha·overlay; 0: auto (chooseAlpha)
	Score       string  `mapstructure:"score"`    // STRIPScoreMean (default) or STRIPScoreMixture
}

// CleanseConfig are the Neural Cleanse settings.
type CleanseConfig struct {
	Samples      int     `mapstructure:"samples"`       // clean inputs the trigger must flip
	Steps        int     `mapstructure:"steps"`         // Adam steps per class
	LearningRate float64 `mapstructure:"learning_rate"` // Adam step size on the mask and pattern parameters
	InitCost     float64 `mapstructure:"init_cost"`     // starting weight of the mask L1 term
	Success      float64 `mapstructure:"success"`       // attack success a mask must reach to count
	Threshold    float64 `mapstructure:"threshold"`     // anomaly index above which a class is flagged
	Classes      []int   `mapstructure:"classes"`       // classes to scan (default all)
}

// SusceptibilityConfig configures the poisoning experiments.
type SusceptibilityConfig struct {
	Train        data.Spec     `mapstructure:"train"`
	Attacks      []Trigger     `mapstructure:"attacks"`
	Rates        []float64     `mapstructure:"rates"`
	Trainer      string        `mapstructure:"trainer"`
	TrainCommand string        `mapstructure:"train_command"`
	Training     TrainerConfig `mapstructure:"training"`
}

// TrainerConfig are the built-in trainer's settings.
type TrainerConfig struct {
	Hidden       int     `mapstructure:"hidden"`
	Filters      int     `mapstructure:"filters"`
	Epochs       int     `mapstructure:"epochs"`
	Batch        int     `mapstructure:"batch"`
	LearningRate float64 `mapstructure:"learning_rate"`
}

// Trainers.
const (
	TrainerLogReg  = "logreg"
	TrainerMLP     = "mlp"
	TrainerCNN     = "cnn"
	TrainerCommand = "command"
)

// Suite is the poisoning and backdoor suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "poisoning" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	var cfg Config
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	// A zero value stands for the default only when its key is absent.
	has := func(key string) bool { return keys[key] }
	if cfg.Data == nil && cfg.Model == nil && cfg.Susceptibility == nil {
		return nil, errs.Invalidf("config suites.poisoning: enable at least one of data, model, susceptibility")
	}
	if d := cfg.Data; d != nil {
		if d.Train.X == "" && d.Train.CSV == "" {
			return nil, errs.Invalidf("config suites.poisoning.data.train: set x (and y) or csv")
		}
		if !has("data.methods") {
			d.Methods = []string{MethodSpectral, MethodClustering}
		}
		if len(d.Methods) == 0 {
			return nil, errs.Invalidf("config suites.poisoning.data.methods: empty; list %s and/or %s, or leave methods out for both", MethodSpectral, MethodClustering)
		}
		for _, m := range d.Methods {
			if m != MethodSpectral && m != MethodClustering && m != MethodSpectre {
				return nil, errs.Invalidf("config suites.poisoning.data.methods: %q: want %s, %s or %s", m, MethodSpectral, MethodClustering, MethodSpectre)
			}
		}
		if err := decodeSpectre(&d.Spectre, has); err != nil {
			return nil, err
		}
		if d.Layer != "" && len(d.Layers) > 0 {
			return nil, errs.Invalidf("config suites.poisoning.data.layers: candidate layers are tried only when layer is unset; set one of layer and layers")
		}
		for i, l := range d.Layers {
			if l == "" {
				return nil, errs.Invalidf("config suites.poisoning.data.layers[%d]: empty tensor name", i)
			}
		}
		sp := &d.Spectral
		const spk = "data.spectral_signatures."
		if !has(spk + "eps_multiplier") {
			sp.EpsMultiplier = 1.5
		}
		if has(spk+"expected_poison_rate") && !(sp.ExpectedPoisonRate > 0 && sp.ExpectedPoisonRate <= 0.5) {
			return nil, errs.Invalidf("config suites.poisoning.data.spectral_signatures.expected_poison_rate: %g is outside (0, 0.5]; leave it out to take the cut-off from the score distribution", sp.ExpectedPoisonRate)
		}
		if sp.Centred != nil {
			want := ScoreART
			if *sp.Centred {
				want = ScoreCentred
			}
			if has(spk+"score") && sp.Score != want {
				return nil, errs.Invalidf("config suites.poisoning.data.spectral_signatures.centred: %v contradicts score: %s", *sp.Centred, sp.Score)
			}
			sp.Score = want
		}
		if !(sp.EpsMultiplier > 0) || math.IsInf(sp.EpsMultiplier, 0) {
			return nil, errs.Invalidf("config suites.poisoning.data.spectral_signatures.eps_multiplier: %g must be positive", sp.EpsMultiplier)
		}
		if sp.Score != "" && sp.Score != ScoreCentred && sp.Score != ScoreART || has(spk+"score") && sp.Score == "" {
			return nil, errs.Invalidf("config suites.poisoning.data.spectral_signatures.score: %q: want centred or art", sp.Score)
		}
		cl := &d.Clustering
		const clk = "data.activation_clustering."
		if !has(clk + "dims") {
			cl.Dims = 10
		}
		if !has(clk + "analysis") {
			cl.Analysis = AnalysisAuto
		}
		if !has(clk + "size_threshold") {
			cl.SizeThreshold = 0.35
		}
		if !has(clk + "silhouette_threshold") {
			cl.SilhouetteThreshold = 0.1
		}
		if !has(clk + "restarts") {
			cl.Restarts = 50
		}
		if !has(clk + "reduce") {
			cl.Reduce = ReducePCA
		}
		red, ok := ParseReduce(cl.Reduce)
		if !ok {
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.reduce: %q: want pca or ica (fastica)", cl.Reduce)
		}
		cl.Reduce = red
		if cl.Dims < 1 {
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.dims: %d: must be at least 1", cl.Dims)
		}
		if cl.Restarts < 1 {
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.restarts: %d: must be at least 1", cl.Restarts)
		}
		switch cl.Analysis {
		case AnalysisAuto, AnalysisSmaller, AnalysisRelativeSize, AnalysisSilhouette:
		default:
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.analysis: %q: want auto, smaller, relative-size or silhouette", cl.Analysis)
		}
		if !(cl.SizeThreshold > 0 && cl.SizeThreshold < 0.5) {
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.size_threshold: %g is outside (0, 0.5)", cl.SizeThreshold)
		}
		if !(cl.SilhouetteThreshold >= -1 && cl.SilhouetteThreshold <= 1) {
			return nil, errs.Invalidf("config suites.poisoning.data.activation_clustering.silhouette_threshold: %g is outside [-1, 1]", cl.SilhouetteThreshold)
		}
	}
	if m := cfg.Model; m != nil {
		if err := decodeModel(m, has); err != nil {
			return nil, err
		}
	}
	if sc := cfg.Susceptibility; sc != nil {
		if err := decodeSusceptibility(sc, has); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/poisoning.md.
func (Suite) Metrics(cfgAny any, classes int) []string {
	cfg := cfgAny.(Config)
	var keys []string
	if d := cfg.Data; d != nil {
		for _, m := range d.Methods {
			keys = append(keys, suite.ProportionKeys(m+".flagged_fraction")...)
			if d.IsPoisoned != "" {
				keys = append(keys, suite.ProportionKeys(m+".precision")...)
				keys = append(keys, suite.ProportionKeys(m+".recall")...)
				keys = append(keys, m+".f1", m+".auc")
			}
		}
	}
	if m := cfg.Model; m != nil {
		keys = append(keys, modelKeys(m, classes)...)
	}
	if s := cfg.Susceptibility; s != nil {
		keys = append(keys, susceptibilityKeys(s)...)
	}
	return keys
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	r := suite.NewResult()
	parts := []struct {
		name string
		on   bool
		run  func() error
	}{
		{"data", cfg.Data != nil, func() error { return runData(ctx, t, cfg.Data, r) }},
		{"model", cfg.Model != nil, func() error { return runModel(ctx, t, cfg.Model, r) }},
		{"susceptibility", cfg.Susceptibility != nil, func() error { return runSusceptibility(ctx, t, cfg.Susceptibility, r) }},
	}
	finished := []string{}
	for _, p := range parts {
		if !p.on {
			continue
		}
		before := snapshot(r)
		if err := p.run(); err != nil {
			err = fmt.Errorf("%s: %w", p.name, err)
			if !suite.TimedOut(ctx, err) || len(finished) == 0 {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of the parts that
			// finished, as a run of those parts alone reports them.
			r = before
			n := 0
			if t.Data != nil {
				n = t.Data.N
			}
			r.SetTimedOut(n, n, map[string]any{"parts_finished": finished, "stopped_in": p.name})
			return r, err
		}
		finished = append(finished, p.name)
	}
	return r, nil
}

// snapshot returns a copy of r that later writes to r do not change (the
// parts write their own top-level details keys).
func snapshot(r *suite.Result) *suite.Result {
	return &suite.Result{Metrics: maps.Clone(r.Metrics), Undefined: slices.Clone(r.Undefined), Details: maps.Clone(r.Details),
		Warnings: slices.Clone(r.Warnings), Data: slices.Clone(r.Data)}
}

// loadTrain loads a training set from spec, fitted to the model input and
// checked against its classes; field names the config block in errors.
func loadTrain(t *suite.Target, spec data.Spec, field string) (*data.Dataset, error) {
	d, err := t.LoadData(spec, "config "+field)
	if err != nil {
		return nil, err
	}
	if d.Y == nil {
		return nil, errs.Invalidf("config %s: the training set needs labels (y, or label for CSV)", field)
	}
	return d, nil
}

// fmtRate writes a rate or eps as metric names do.
func fmtRate(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// hasMethod reports whether ms lists m.
func hasMethod(ms []string, m string) bool { return slices.Contains(ms, m) }
