package evasion

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Attack names accepted in attacks[].name; FAB, DeepFool, FMN, HopSkipJump
// and SignOPT are declared beside their attacks (fab.go, deepfool.go,
// fmn.go, hsj.go, signopt.go).
const (
	FGSM       = "fgsm"
	PGD        = "pgd"
	APGD       = "apgd"
	Square     = "square"
	AutoAttack = "autoattack"
)

// Norms accepted in attacks[].norm; fmn also takes L1 and L0 (fmn.go).
const (
	Linf = "linf"
	L2   = "l2"
)

// Gradient modes (gradient_mode).
const (
	ModeAuto      = "auto"      // exact when the model has a gradient rule for every op
	ModeExact     = "exact"     // ONNX gradient graph; an error when the model has none
	ModeEstimated = "estimated" // NES estimates from forward passes only
)

// Defaults of the attack parameters (documented in docs/metrics/evasion.md).
const (
	DefaultPGDSteps      = 40   // ART's and Madry et al.'s max_iter
	DefaultAPGDSteps     = 100  // Croce & Hein (2020)
	DefaultTargetClasses = 9    // AutoAttack's n_target_classes
	DefaultQueries       = 5000 // AutoAttack's Square budget
	DefaultPInit         = 0.8  // AutoAttack's p_init for Square L∞
	DefaultNESSamples    = 20   // antithetic pairs per NES gradient estimate
	DefaultNESSigma      = 1e-3 // NES smoothing, relative to the input range width
	maxSteps             = 100000
	maxQueries           = 10000000
)

// Config is the evasion suite's config block.
type Config struct {
	// Attacks are run in order; each gives metrics for every eps.
	Attacks []AttackConfig `mapstructure:"attacks"`
	// SaveExamples writes that many adversarial examples (.npy, and a PNG
	// grid for image inputs) to the run's output folder.
	SaveExamples int `mapstructure:"save_examples"`
	// GradientMode is auto, exact or estimated.
	GradientMode string `mapstructure:"gradient_mode"`
	// NESSamples and NESSigma configure the gradient estimator.
	NESSamples int     `mapstructure:"nes_samples"`
	NESSigma   float64 `mapstructure:"nes_sigma"`
	// Fuse is auto, always or never: whether PGD's iterations run in one
	// fused ONNX Loop per batch (fused.go).
	Fuse string `mapstructure:"fuse"`
	// BatchSize is the attack batch (0: the rule of attackBatch); halved
	// on out-of-memory errors (batch.go).
	BatchSize int `mapstructure:"batch_size"`
	// LabelOutput is where the decision-based attacks (hopskipjump) read
	// the predicted label: auto (the model's int64 label output when it
	// has exactly one, else the arg max of the scores), argmax, or the
	// name of an output (decision.go).
	LabelOutput string `mapstructure:"label_output"`
	// Features, when set, are the only input values the attacks perturb:
	// CSV feature column names or 0-based indices; the others keep their
	// clean values (features.go).
	Features []string `mapstructure:"features"`
	// By reports robust accuracy by group (groups.go).
	groups.By `mapstructure:",squash"`
}

// AttackConfig is one entry of attacks.
type AttackConfig struct {
	Name  string    `mapstructure:"name"`
	Label string    `mapstructure:"label"` // metric prefix instead of name
	Norm  string    `mapstructure:"norm"`
	Eps   []float64 `mapstructure:"eps"`
	// StepSize is the absolute step of pgd (default 2.5·eps/steps).
	StepSize    *float64 `mapstructure:"step_size"`
	Steps       int      `mapstructure:"steps"`
	RandomStart bool     `mapstructure:"random_start"`
	Restarts    int      `mapstructure:"restarts"`
	// EarlyStop stops a sample as soon as the attack succeeds on it
	// (default true); false keeps iterating and judges the last iterate.
	EarlyStop *bool `mapstructure:"early_stop"`
	// Targeted attacks aim at Target (a class), or at a class drawn
	// uniformly among the others when Target is unset. apgd with
	// targeted: true is APGD-T over the TargetClasses top classes.
	Targeted      bool   `mapstructure:"targeted"`
	Target        *int   `mapstructure:"target"`
	TargetClasses int    `mapstructure:"target_classes"`
	Loss          string `mapstructure:"loss"`
	// Queries is the Square budget per sample; PInit its initial share.
	Queries int     `mapstructure:"queries"`
	PInit   float64 `mapstructure:"p_init"`
	// Version is the autoattack preset's version: standard, plus or rand
	// (autoattack.go).
	Version string `mapstructure:"version"`
	// Overshoot is DeepFool's η (default 0.02); NBGrads the number of
	// top classes of the clean output it linearises (default 10).
	Overshoot *float64 `mapstructure:"overshoot"`
	NBGrads   int      `mapstructure:"nb_grads"`
	// Budgets are the query budgets per sample of a decision-based attack
	// (hopskipjump), ascending; InitEval, MaxEval and InitSize are
	// HopSkipJump's init_eval, max_eval and init_size (hsj.go).
	Budgets  []int `mapstructure:"budgets"`
	InitEval int   `mapstructure:"init_eval"`
	MaxEval  int   `mapstructure:"max_eval"`
	InitSize int   `mapstructure:"init_size"`
	// K, Alpha, Beta, Epsilon and NumTrial are Sign-OPT's k, alpha,
	// beta, epsilon and num_trial (signopt.go).
	K        int     `mapstructure:"k"`
	Alpha    float64 `mapstructure:"alpha"`
	Beta     float64 `mapstructure:"beta"`
	Epsilon  float64 `mapstructure:"epsilon"`
	NumTrial int     `mapstructure:"num_trial"`
	// Gamma is FMN's initial ε step (default 0.05); AlphaInit and
	// AlphaFinal its initial and final gradient step, relative to the
	// data.range width (defaults 1 and AlphaInit/100).
	Gamma      *float64 `mapstructure:"gamma"`
	AlphaInit  *float64 `mapstructure:"alpha_init"`
	AlphaFinal *float64 `mapstructure:"alpha_final"`
}

// Key returns the metric prefix of the attack: its label, else its name.
func (a AttackConfig) Key() string {
	if a.Label != "" {
		return a.Label
	}
	return a.Name
}

// epsStar reports whether the attack gives each sample its ε* (the
// minimal-perturbation attacks deepfool and fmn: deepfool.go).
func (a AttackConfig) epsStar() bool { return a.Name == DeepFool || a.Name == FMN }

func (a AttackConfig) earlyStop() bool { return a.EarlyStop == nil || *a.EarlyStop }

// whiteBox reports whether the attack needs gradients.
func (a AttackConfig) whiteBox() bool { return a.Name != Square && !a.decision() }

// decision reports whether the attack reads only the predicted label.
func (a AttackConfig) decision() bool { return a.Name == HopSkipJump || a.Name == SignOPT }

// heads lists the loss heads the attack uses on a model with k classes:
// for apgd the one it runs, for autoattack APGD-CE's and APGD-T's.
func (a AttackConfig) heads(k int) []string {
	switch a.Name {
	case FAB, DeepFool, FMN:
		return []string{headMarginT}
	case Square, HopSkipJump, SignOPT:
		return nil
	case APGD:
		switch {
		case a.Loss == headDLR && a.Targeted:
			return []string{headDLRT}
		case a.Loss == headDLR:
			return []string{headDLR}
		}
	case AutoAttack:
		hs := []string{headCE, headCE} // too few classes for the targeted DLR
		if k >= 4 {
			hs[1] = headDLRT
		}
		for _, p := range a.parts() {
			switch {
			case p == partAPGDDLR && k >= 3:
				hs = append(hs, headDLR)
			case p == partFAB || p == partFABT:
				hs = append(hs, headMarginT)
			}
		}
		return hs
	}
	return []string{headCE}
}

// FormatEps writes eps as metric names do.
func FormatEps(eps float64) string { return strconv.FormatFloat(eps, 'g', -1, 64) }

// Prefix returns "<key>.<norm>.eps=<eps>".
func Prefix(key, norm string, eps float64) string {
	return key + "." + norm + ".eps=" + FormatEps(eps)
}

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	// Top-level defaults are set before decoding, so an explicit value,
	// zero included, replaces them and is checked below.
	cfg := Config{GradientMode: ModeAuto, NESSamples: DefaultNESSamples, NESSigma: DefaultNESSigma, Fuse: FuseAuto, LabelOutput: LabelAuto}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.Attacks) == 0 {
		return nil, errs.Invalidf("config suites.evasion.attacks: list at least one attack (fgsm, pgd, apgd, square, fab, deepfool, fmn, autoattack, hopskipjump, signopt)")
	}
	if keys["features"] && len(cfg.Features) == 0 {
		return nil, errs.Invalidf("config suites.evasion.features: empty; list the feature columns (or indices) to perturb, or leave features out to perturb all")
	}
	if err := validateFeatures(cfg.Features); err != nil {
		return nil, err
	}
	if err := cfg.By.Validate(s.Name()); err != nil {
		return nil, err
	}
	switch cfg.GradientMode {
	case ModeAuto, ModeExact, ModeEstimated:
	default:
		return nil, errs.Invalidf("config suites.evasion.gradient_mode %q: want auto, exact or estimated", cfg.GradientMode)
	}
	switch cfg.Fuse {
	case FuseAuto, FuseAlways, FuseNever:
	default:
		return nil, errs.Invalidf("config suites.evasion.fuse %q: want auto, always or never", cfg.Fuse)
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > 1<<20 {
		return nil, errs.Invalidf("config suites.evasion.batch_size %d: want 1..1048576, or leave it unset for the rule (docs/metrics/evasion.md)", cfg.BatchSize)
	}
	if cfg.SaveExamples < 0 || cfg.SaveExamples > 10000 {
		return nil, errs.Invalidf("config suites.evasion.save_examples %d: want 0..10000", cfg.SaveExamples)
	}
	if err := intIn("config suites.evasion", "nes_samples", cfg.NESSamples, 1, 1000); err != nil {
		return nil, err
	}
	if !(cfg.NESSigma > 0 && cfg.NESSigma < 1) {
		return nil, errs.Invalidf("config suites.evasion.nes_sigma %v: want a value in (0, 1)", cfg.NESSigma)
	}
	if cfg.LabelOutput == "" {
		return nil, errs.Invalidf("config suites.evasion.label_output: empty; want auto, argmax or the name of the model's label output")
	}
	seen := map[string]int{}
	for i := range cfg.Attacks {
		a := &cfg.Attacks[i]
		at := "attacks[" + strconv.Itoa(i) + "]."
		has := func(key string) bool { return keys[at+key] }
		where := "config suites.evasion.attacks[" + strconv.Itoa(i) + "]"
		if err := a.validate(where, has); err != nil {
			return nil, err
		}
		if a.epsStar() || a.decision() {
			p := a.Key() + "." + a.Norm
			if j, dup := seen[p]; dup {
				return nil, errs.Invalidf("%s: metrics %s.* are also produced by attacks[%d]; set label: to tell them apart", where, p, j)
			}
			seen[p] = i
		}
		for _, e := range a.Eps {
			p := Prefix(a.Key(), a.Norm, e)
			if j, dup := seen[p]; dup {
				return nil, errs.Invalidf("%s: metrics %s.* are also produced by attacks[%d]; set label: to tell them apart", where, p, j)
			}
			seen[p] = i
		}
	}
	return cfg, nil
}

// attackParams lists the parameters each attack takes besides name,
// label, norm and eps.
var attackParams = map[string][]string{
	FGSM:        {"targeted", "target", "early_stop"},
	PGD:         {"step_size", "steps", "random_start", "restarts", "early_stop", "targeted", "target"},
	APGD:        {"loss", "steps", "restarts", "targeted", "target", "target_classes"},
	Square:      {"queries", "p_init", "targeted", "target"},
	FAB:         {"steps", "restarts", "targeted", "target_classes"},
	DeepFool:    {"steps", "overshoot", "nb_grads"},
	FMN:         {"steps", "gamma", "alpha_init", "alpha_final"},
	AutoAttack:  {"version", "steps", "restarts", "target_classes", "queries", "p_init"},
	HopSkipJump: {"budgets", "init_eval", "max_eval", "init_size", "k", "alpha", "beta", "epsilon", "num_trial"},
	SignOPT:     {"budgets", "k", "alpha", "beta", "epsilon", "num_trial"},
}

// paramKeys are the keys of attackParams, in the order they are checked.
var paramKeys = []string{"step_size", "steps", "random_start", "restarts", "early_stop", "targeted", "target", "target_classes", "loss", "queries", "p_init", "version", "overshoot", "nb_grads", "budgets", "init_eval", "max_eval", "init_size", "k", "alpha", "beta", "epsilon", "num_trial", "gamma", "alpha_init", "alpha_final"}

// validate checks the attack and fills in the defaults of the keys it does
// not set; has reports whether the block sets a key. A zero value stands for
// the default only when its key is absent: an explicit steps: 0 is an error.
func (a *AttackConfig) validate(where string, has func(key string) bool) error {
	switch a.Name {
	case FGSM, PGD, APGD, Square, FAB, DeepFool, FMN, AutoAttack, HopSkipJump, SignOPT:
	case "":
		return errs.Invalidf("%s.name: missing; want fgsm, pgd, apgd, square, fab, deepfool, fmn, autoattack, hopskipjump or signopt", where)
	default:
		return errs.Invalidf("%s.name %q: unknown attack; want fgsm, pgd, apgd, square, fab, deepfool, fmn, autoattack, hopskipjump or signopt", where, a.Name)
	}
	if has("label") && a.Label == "" {
		return errs.Invalidf("%s.label: empty; leave label out to use the attack's name", where)
	}
	if a.Label != "" {
		for _, r := range a.Label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return errs.Invalidf("%s.label %q: use lowercase letters, digits, _ and -", where, a.Label)
			}
		}
	}
	// every parameter set, to any value, must be one the attack takes
	for _, key := range paramKeys {
		if has(key) && !slices.Contains(attackParams[a.Name], key) {
			return errs.Invalidf("%s.%s: not a parameter of %s (it takes %s)", where, key, a.Name, strings.Join(attackParams[a.Name], ", "))
		}
	}
	if !has("norm") {
		a.Norm = Linf
	}
	switch {
	case a.Norm == Linf, a.Norm == L2:
	case (a.Norm == L1 || a.Norm == L0) && a.Name == FMN:
	case a.Norm == L1, a.Norm == L0:
		return errs.Invalidf("%s.norm %q: only fmn takes l1 and l0; %s takes linf or l2", where, a.Norm, a.Name)
	case a.Name == FMN:
		return errs.Invalidf("%s.norm %q: unknown norm; fmn takes linf, l2, l1 or l0", where, a.Norm)
	default:
		return errs.Invalidf("%s.norm %q: unknown norm; want linf or l2", where, a.Norm)
	}
	if len(a.Eps) == 0 && !a.decision() {
		return errs.Invalidf("%s.eps: list at least one eps", where)
	}
	if has("eps") && len(a.Eps) == 0 {
		return errs.Invalidf("%s.eps: empty; list eps values or leave eps out", where)
	}
	for j, e := range a.Eps {
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 {
			return errs.Invalidf("%s.eps[%d] %v: eps must be a finite number ≥ 0", where, j, e)
		}
	}
	if v := a.StepSize; v != nil && (!(*v > 0) || math.IsInf(*v, 0)) {
		return errs.Invalidf("%s.step_size %v: must be a finite number > 0", where, *v)
	}
	for _, c := range []struct {
		key    string
		v      int
		lo, hi int
	}{
		{"steps", a.Steps, 1, maxSteps},
		{"restarts", a.Restarts, 1, 1000},
		{"queries", a.Queries, 1, maxQueries},
		{"target_classes", a.TargetClasses, 1, math.MaxInt}, // at most k-1 are attacked
		{"nb_grads", a.NBGrads, 2, math.MaxInt},             // the label and at least one other class
		{"init_eval", a.InitEval, 1, maxQueries},
		{"max_eval", a.MaxEval, 1, maxQueries},
		{"init_size", a.InitSize, 1, maxQueries},
		{"k", a.K, 1, maxQueries},
		{"num_trial", a.NumTrial, 1, maxQueries},
	} {
		if has(c.key) {
			if err := intIn(where, c.key, c.v, c.lo, c.hi); err != nil {
				return err
			}
		}
	}
	if !has("restarts") {
		a.Restarts = 1
	}
	if has("p_init") && !(a.PInit > 0 && a.PInit <= 1) {
		return errs.Invalidf("%s.p_init %v: want a share in (0, 1]", where, a.PInit)
	}
	if a.Target != nil && *a.Target < 0 {
		return errs.Invalidf("%s.target %d: must be a class index ≥ 0", where, *a.Target)
	}
	if a.Target != nil && !a.Targeted {
		return errs.Invalidf("%s.target is set but targeted is false", where)
	}
	if a.Name == APGD && a.TargetClasses != 0 && (!a.Targeted || a.Target != nil) {
		return errs.Invalidf("%s.target_classes: only for targeted apgd without a fixed target (APGD-T)", where)
	}
	switch a.Name {
	case FGSM:
		a.Steps = 1
	case PGD:
		if !has("steps") {
			a.Steps = DefaultPGDSteps
		}
	case APGD:
		if !has("steps") {
			a.Steps = DefaultAPGDSteps
		}
		switch {
		case !has("loss"):
			a.Loss = "ce"
			if a.Targeted {
				a.Loss = "dlr" // APGD-T of AutoAttack: targeted DLR
			}
		case a.Loss == "ce", a.Loss == "dlr":
		default:
			return errs.Invalidf("%s.loss %q: want ce or dlr", where, a.Loss)
		}
		if a.Targeted && a.Target == nil && !has("target_classes") {
			a.TargetClasses = DefaultTargetClasses
		}
		a.RandomStart = true
	case Square:
		if !has("queries") {
			a.Queries = DefaultQueries
		}
		if !has("p_init") {
			a.PInit = DefaultPInit
		}
	case FAB:
		if !has("steps") {
			a.Steps = DefaultFABSteps
		}
		if a.Targeted && !has("target_classes") {
			a.TargetClasses = DefaultTargetClasses
		}
		if !a.Targeted && has("target_classes") {
			return errs.Invalidf("%s.target_classes: only for targeted fab (FAB-T)", where)
		}
	case DeepFool:
		if !has("steps") {
			a.Steps = DefaultDeepFoolSteps
		}
		if !has("nb_grads") {
			a.NBGrads = DefaultNBGrads
		}
		if a.Overshoot == nil {
			v := DefaultOvershoot
			a.Overshoot = &v
		}
		if v := *a.Overshoot; !(v >= 0 && v <= 1) {
			return errs.Invalidf("%s.overshoot %v: want a number in [0, 1]", where, v)
		}
	case HopSkipJump:
		return a.validateHSJ(where, has)
	case SignOPT:
		return a.validateSignOPT(where, has)
	case FMN:
		if !has("steps") {
			a.Steps = DefaultFMNSteps
		}
		for _, f := range []struct {
			key string
			v   **float64
			def float64
		}{{"gamma", &a.Gamma, DefaultFMNGamma}, {"alpha_init", &a.AlphaInit, DefaultFMNAlphaInit}} {
			if *f.v == nil {
				v := f.def
				*f.v = &v
			}
		}
		if a.AlphaFinal == nil {
			v := *a.AlphaInit * fmnAlphaShare
			a.AlphaFinal = &v
		}
		if v := *a.Gamma; !(v > 0 && v < 1) {
			return errs.Invalidf("%s.gamma %v: want a number in (0, 1)", where, v)
		}
		if v := *a.AlphaInit; !(v > 0) || math.IsInf(v, 0) {
			return errs.Invalidf("%s.alpha_init %v: must be a finite number > 0", where, v)
		}
		if v := *a.AlphaFinal; !(v > 0 && v <= *a.AlphaInit) {
			return errs.Invalidf("%s.alpha_final %v: want a number in (0, alpha_init %v]", where, v, *a.AlphaInit)
		}
	case AutoAttack:
		switch a.Version {
		case "":
			a.Version = AAStandard
		case AAStandard, AAPlus, AARand:
		default:
			return errs.Invalidf("%s.version %q: want standard, plus or rand", where, a.Version)
		}
		if a.Version == AAPlus && !has("restarts") {
			a.Restarts = 5 // AutoAttack's plus: APGD and FAB with 5 restarts
		}
		if !has("steps") {
			a.Steps = DefaultAPGDSteps
		}
		if !has("queries") {
			a.Queries = DefaultQueries
		}
		if !has("p_init") {
			a.PInit = DefaultPInit
		}
		if !has("target_classes") {
			a.TargetClasses = DefaultTargetClasses
		}
	}
	return nil
}

// intIn checks an integer key set explicitly against lo..hi.
func intIn(where, key string, v, lo, hi int) error {
	switch {
	case v < lo:
		return errs.Invalidf("%s.%s %d: must be at least %d", where, key, v, lo)
	case v > hi:
		return errs.Invalidf("%s.%s %d: must be at most %d", where, key, v, hi)
	}
	return nil
}
