package membership

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Attack names, in report order.
const (
	Loss            = "loss"
	Confidence      = "confidence"
	Entropy         = "entropy"
	ModifiedEntropy = "modified_entropy"
	Correctness     = "correctness"
	LiRA            = "lira"
	Learned         = "learned"
	// Gap is ART's LabelOnlyGapAttack, which ART defines as its rule-based
	// attack: the same rule as Correctness, listed among the label-only
	// attacks.
	Gap = "gap"
	// BoundaryDistance is the label-only decision-boundary attack
	// (boundary.go).
	BoundaryDistance = "boundary_distance"
)

var knownAttacks = []string{Correctness, Loss, Confidence, Entropy, ModifiedEntropy, LiRA, Learned, Gap, BoundaryDistance}

// Defaults of the config.
const (
	DefaultFolds     = 5
	DefaultROCPoints = 40
	// maxSortedProbs caps the sorted-probability features of the learned
	// attack (the top entries carry the signal; C can be 1000).
	maxSortedProbs = 10
)

// DefaultFPR are the false-positive rates TPR is reported at.
var DefaultFPR = []float64{0.01, 0.001}

// Config is the membership suite's config block.
type Config struct {
	// Members and Nonmembers are data blocks (like `data:`) with labels.
	Members    data.Spec `mapstructure:"members"`
	Nonmembers data.Spec `mapstructure:"nonmembers"`
	// Attacks to run; default: correctness, the four threshold attacks and
	// learned, and lira when reference models are given.
	Attacks []string `mapstructure:"attacks"`
	// ReferenceModels are ONNX models with the target's signature, trained
	// without the members (offline LiRA).
	ReferenceModels []string `mapstructure:"reference_models"`
	// LiRAVariance is "per_example" (default) or "global".
	LiRAVariance string `mapstructure:"lira_variance"`
	// FPR lists the false-positive rates for tpr@fpr=<v>.
	FPR []float64 `mapstructure:"fpr"`
	// Folds is k of the learned attack's k-fold cross-validation.
	Folds int `mapstructure:"folds"`
	// ROCPoints is the grid size of the downsampled ROC in details.
	ROCPoints int `mapstructure:"roc_points"`
	// AttackModel is the learned attack's classifier: mlp (a gorgonia
	// network, default) or logistic.
	AttackModel string `mapstructure:"attack_model"`
	// EpsilonDelta is δ of every attack's differential-privacy ε lower
	// bound (epsilon.go); default 0, TensorFlow Privacy's.
	EpsilonDelta float64 `mapstructure:"epsilon_delta"`
	// Slices are the slicing features of every attack's per-slice AUC and
	// advantage (slices.go); the by columns add their groups. Default
	// DefaultSlices; an empty list slices by the by columns only.
	Slices []string `mapstructure:"slices"`
	// BoundaryQueries is the boundary_distance attack's budget of model
	// queries per sample (boundary.go).
	BoundaryQueries int `mapstructure:"boundary_queries"`
	// MinSliceSize is the smallest slice (rows) in the worst-slice metrics.
	MinSliceSize int `mapstructure:"min_slice_size"`
	// By reports every attack's advantage and AUC by group of the members
	// and nonmembers together (groups.go).
	groups.By `mapstructure:",squash"`
}

// Suite is the membership-inference suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "membership" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Folds: DefaultFolds, ROCPoints: DefaultROCPoints, LiRAVariance: "per_example", AttackModel: "mlp",
		MinSliceSize: DefaultMinSliceSize, BoundaryQueries: DefaultBoundaryQueries}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	// An empty list is a value, not "the default": only absent keys default.
	for _, k := range []struct {
		key string
		n   int
	}{{"attacks", len(cfg.Attacks)}, {"fpr", len(cfg.FPR)}} {
		if keys[k.key] && k.n == 0 {
			return nil, errs.Invalidf("config suites.membership.%s: empty; list at least one, or leave %s out for the defaults", k.key, k.key)
		}
	}
	for _, b := range []struct {
		name string
		spec data.Spec
	}{{"members", cfg.Members}, {"nonmembers", cfg.Nonmembers}} {
		if b.spec.X == "" && b.spec.CSV == "" {
			return nil, errs.Invalidf("config suites.membership.%s: set x (and y) or csv (and label)", b.name)
		}
	}
	if cfg.FPR == nil {
		cfg.FPR = DefaultFPR
	}
	for _, f := range cfg.FPR {
		if !(f > 0 && f < 1) {
			return nil, errs.Invalidf("config suites.membership.fpr: %v is outside (0, 1)", f)
		}
	}
	if cfg.Attacks == nil {
		cfg.Attacks = []string{Correctness, Loss, Confidence, Entropy, ModifiedEntropy}
		if len(cfg.ReferenceModels) > 0 {
			cfg.Attacks = append(cfg.Attacks, LiRA)
		}
		cfg.Attacks = append(cfg.Attacks, Learned)
	}
	seen := map[string]bool{}
	for _, a := range cfg.Attacks {
		if !slices.Contains(knownAttacks, a) {
			return nil, errs.Invalidf("config suites.membership.attacks: unknown attack %q (known: %v)", a, knownAttacks)
		}
		if seen[a] {
			return nil, errs.Invalidf("config suites.membership.attacks: %q listed twice", a)
		}
		seen[a] = true
	}
	if seen[LiRA] && len(cfg.ReferenceModels) == 0 {
		return nil, errs.Invalidf("config suites.membership.attacks: lira needs reference_models (ONNX models trained without the members)")
	}
	if cfg.LiRAVariance != "per_example" && cfg.LiRAVariance != "global" {
		return nil, errs.Invalidf("config suites.membership.lira_variance: %q is not per_example or global", cfg.LiRAVariance)
	}
	if cfg.AttackModel != "mlp" && cfg.AttackModel != "logistic" {
		return nil, errs.Invalidf("config suites.membership.attack_model: %q is not mlp or logistic", cfg.AttackModel)
	}
	if cfg.Folds < 2 || cfg.Folds > 100 {
		return nil, errs.Invalidf("config suites.membership.folds: %d is outside 2..100", cfg.Folds)
	}
	if !(cfg.EpsilonDelta >= 0 && cfg.EpsilonDelta < 1) {
		return nil, errs.Invalidf("config suites.membership.epsilon_delta: %v is outside [0, 1)", cfg.EpsilonDelta)
	}
	if cfg.Slices == nil {
		cfg.Slices = DefaultSlices
	}
	seenSlice := map[string]bool{}
	for _, f := range cfg.Slices {
		if !slices.Contains(knownSlicings, f) {
			return nil, errs.Invalidf("config suites.membership.slices: unknown slicing %q (known: %v)", f, knownSlicings)
		}
		if seenSlice[f] {
			return nil, errs.Invalidf("config suites.membership.slices: %q listed twice", f)
		}
		seenSlice[f] = true
	}
	if cfg.BoundaryQueries < minBoundaryQueries || cfg.BoundaryQueries > 1000000 {
		return nil, errs.Invalidf("config suites.membership.boundary_queries: %d is outside %d..1000000", cfg.BoundaryQueries, minBoundaryQueries)
	}
	if cfg.MinSliceSize < 1 {
		return nil, errs.Invalidf("config suites.membership.min_slice_size: %d is below 1", cfg.MinSliceSize)
	}
	if cfg.ROCPoints < 2 || cfg.ROCPoints > 10000 {
		return nil, errs.Invalidf("config suites.membership.roc_points: %d is outside 2..10000", cfg.ROCPoints)
	}
	if err := cfg.By.Validate(s.Name()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// FPRKey is the metric key of the TPR at false-positive rate f.
func FPRKey(attack string, f float64) string {
	return attack + ".tpr@fpr=" + strconv.FormatFloat(f, 'g', -1, 64)
}

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/membership.md.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := append(suite.ProportionKeys("member_accuracy"), suite.ProportionKeys("nonmember_accuracy")...)
	keys = append(keys, "generalisation_gap", "mean_loss.members", "mean_loss.nonmembers")
	for _, a := range cfg.Attacks {
		keys = append(keys, a+".auc", a+".advantage", a+".balanced_accuracy", a+".epsilon_lower_bound")
		keys = append(keys, byKeys(cfg, a)...)
		keys = append(keys, sliceKeys(cfg, a)...)
		if a == BoundaryDistance {
			keys = append(keys, BoundaryDistance+".calibrated_accuracy")
		}
		for _, f := range cfg.FPR {
			keys = append(keys, suite.ProportionKeys(FPRKey(a, f))...)
		}
	}
	return keys
}

// loadSet loads the members or nonmembers block and readies it as the
// evaluation data (suite.Target.LoadData: fitted, labels mapped through
// the model's class labels, validated).
func loadSet(t *suite.Target, name string, spec data.Spec) (*data.Dataset, error) {
	d, err := t.LoadData(spec, "suites.membership."+name)
	if err != nil {
		return nil, err
	}
	if d.N == 0 {
		return nil, errs.Invalidf("suites.membership.%s: the set is empty", name)
	}
	if d.Y == nil {
		return nil, errs.Invalidf("suites.membership.%s: labels are needed (set y, or label for csv)", name)
	}
	return d, nil
}

// perSample runs sess over d and returns the per-sample scores and, when
// top > 0, each sample's top largest softmax probabilities in decreasing
// order (d.N×top).
func perSample(ctx context.Context, t *suite.Target, sess *runtime.Session, d *data.Dataset, top int) ([]learn.Scores, []float64, error) {
	tt := *t
	tt.Session = sess
	k := sess.NumClasses()
	probs := sess.OutputKind() == runtime.Probabilities
	out := make([]learn.Scores, d.N)
	tops := make([]float64, d.N*top)
	err := suite.ForEachBatch(ctx, &tt, d, func(_, lo, hi int, o []float32) error {
		scoreBatch(out[lo:hi], tops[lo*top:hi*top], o, d.Y[lo:hi], k, top, probs)
		return nil
	})
	return out, tops, err
}

// scoreBatch computes the scores (out) and top probabilities (tops,
// len(out)×top) of a batch's samples from its model outputs o and labels
// y: perSample's and RunShard's per-batch work.
func scoreBatch(out []learn.Scores, tops []float64, o []float32, y []int64, k, top int, probs bool) {
	z := make([]float64, k)
	p := make([]float64, k)
	for i := range out {
		learn.Logits(z, o[i*k:(i+1)*k], probs)
		out[i].Compute(z, int(y[i]))
		if top > 0 {
			learn.Softmax(p, z)
			slices.Sort(p)
			for j := 0; j < top; j++ {
				tops[i*top+j] = p[k-1-j]
			}
		}
	}
}

// run holds what the attacks share.
type run struct {
	cfg      Config
	t        *suite.Target
	mem, non *data.Dataset
	scores   []learn.Scores // members then nonmembers
	member   []bool
	labels   []int64
	top      []float64 // sorted top probabilities, ntop per sample
	ntop     int
	// phi holds LiRA's φ under each reference model (reference k,
	// sample i at k·n+i) when a merge read them from the units; nil in
	// a Run, which scores the reference models in the lira attack.
	phi []float64
	// cpMem and cpNon cache the Clopper-Pearson bounds of the ε lower
	// bound over the member and nonmember counts.
	cpMem, cpNon *cpTable
	// bd holds the boundary_distance search's per-sample results (members
	// then nonmembers) and box its clip range, when the attack is run.
	bd  boundaryOut
	box [2]float64
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	mem, non, top, err := prepare(t, cfg)
	if err != nil {
		return nil, err
	}
	sm, tm, err := perSample(ctx, t, t.Session, mem, top)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	sn, tn, err := perSample(ctx, t, t.Session, non, top)
	if err != nil {
		return nil, fmt.Errorf("nonmembers: %w", err)
	}
	r := newRun(cfg, t, mem, non, append(sm, sn...), append(tm, tn...), top)
	if slices.Contains(cfg.Attacks, BoundaryDistance) {
		r.box = boundaryBox(t, mem, non)
		bm, bn := newBoundaryOut(mem.N), newBoundaryOut(non.N)
		if err := boundaryBatches(ctx, t, mem, "members", 0, t.Batches(mem.N), cfg.BoundaryQueries, r.box, bm); err != nil {
			return nil, fmt.Errorf("attack %s: members: %w", BoundaryDistance, err)
		}
		if err := boundaryBatches(ctx, t, non, "nonmembers", 0, t.Batches(non.N), cfg.BoundaryQueries, r.box, bn); err != nil {
			return nil, fmt.Errorf("attack %s: nonmembers: %w", BoundaryDistance, err)
		}
		r.bd = boundaryOut{Dist: append(bm.Dist, bn.Dist...), Queries: append(bm.Queries, bn.Queries...), Found: append(bm.Found, bn.Found...)}
	}
	return r.finish(ctx)
}

// newRun readies the attacks' shared state from the members' and
// nonmembers' scores (members first) and top probabilities.
func newRun(cfg Config, t *suite.Target, mem, non *data.Dataset, scores []learn.Scores, top []float64, ntop int) *run {
	r := &run{cfg: cfg, t: t, mem: mem, non: non, scores: scores, top: top, ntop: ntop}
	r.member = make([]bool, mem.N+non.N)
	for i := range mem.N {
		r.member[i] = true
	}
	r.labels = append(slices.Clone(mem.Y), non.Y...)
	return r
}

// finish is Run's and Merge's reduction: the generalisation figures and
// every attack from the per-sample scores (and, for LiRA, the reference
// models' φ), per class and by group.
func (r *run) finish(ctx context.Context) (*suite.Result, error) {
	cfg, mem, non := r.cfg, r.mem, r.non
	var err error
	res := suite.NewResult()
	res.AddData("members", mem)
	res.AddData("nonmembers", non)
	r.generalisation(res)
	attacks := map[string]any{}
	attackScores := map[string][]float64{}
	finished := []string{}
	var stopped error // runtime.timeout's deadline passed in an attack
	for _, a := range cfg.Attacks {
		var sc []float64
		var extra map[string]any
		switch a {
		case LiRA:
			sc, extra, err = r.lira(ctx)
		case Learned:
			sc, extra, err = r.learned(ctx)
		case BoundaryDistance:
			sc, extra = r.boundary(res)
		default:
			sc = r.threshold(a)
		}
		if err != nil {
			err = fmt.Errorf("attack %s: %w", a, err)
			if !suite.TimedOut(ctx, err) {
				return nil, err
			}
			// The figures so far are those of the attacks that finished.
			stopped = err
			res.SetTimedOut(mem.N+non.N, mem.N+non.N, map[string]any{"attacks_finished": finished, "stopped_in": a})
			break
		}
		finished = append(finished, a)
		attackScores[a] = sc
		det := r.report(res, a, sc)
		for k, v := range extra {
			det[k] = v
		}
		attacks[a] = det
	}
	res.Details["members"] = mem.N
	res.Details["nonmembers"] = non.N
	res.Details["attacks"] = attacks
	res.Details["per_class"] = r.perClass(attackScores)
	if stopped != nil {
		// By-group figures are left out, and so are the slices by group.
		res.Details["slices"] = r.sliced(res.Set, attackScores, r.buildSlices(nil))
		return res, stopped
	}
	var p *groups.Partition
	if cfg.By.Enabled() {
		p, err = cfg.By.Partition("membership", []string{"suites.membership.members", "suites.membership.nonmembers"}, r.mem, r.non)
		if err != nil {
			return nil, err
		}
	}
	if len(cfg.Slices) > 0 || p != nil {
		res.Details["slices"] = r.sliced(res.Set, attackScores, r.buildSlices(p))
	}
	if p != nil {
		r.byGroup(res, p, attackScores)
	}
	return res, nil
}

// prepare loads the members and nonmembers (with the by columns), checks
// that their sample shapes agree and that every reference model opens with
// the target's signature (before any scoring, not after the members,
// nonmembers and earlier attacks), and returns the count of sorted top
// probabilities the learned attack uses: Run's and RunShard's setup.
func prepare(t *suite.Target, cfg Config) (mem, non *data.Dataset, top int, err error) {
	mem, err = loadSet(t, "members", withBy(cfg.Members, cfg.By))
	if err != nil {
		return nil, nil, 0, err
	}
	non, err = loadSet(t, "nonmembers", withBy(cfg.Nonmembers, cfg.By))
	if err != nil {
		return nil, nil, 0, err
	}
	if !slices.Equal(mem.SampleShape, non.SampleShape) {
		return nil, nil, 0, errs.Invalidf("suites.membership: members have sample shape %v but nonmembers %v", mem.SampleShape, non.SampleShape)
	}
	if slices.Contains(cfg.Attacks, LiRA) {
		// Fail on a missing or mismatched reference model before any
		// scoring, not after the members, nonmembers and earlier attacks.
		for k := range cfg.ReferenceModels {
			sess, err := openReference(t, cfg.ReferenceModels, k)
			if err != nil {
				return nil, nil, 0, err
			}
			sess.Close()
		}
	}
	if slices.Contains(cfg.Attacks, Learned) {
		top = min(t.Classes, maxSortedProbs)
	}
	return mem, non, top, nil
}

// threshold returns the score vector of a threshold attack.
func (r *run) threshold(a string) []float64 {
	out := make([]float64, len(r.scores))
	for i, s := range r.scores {
		switch a {
		case Loss:
			out[i] = s.LogPY
		case Confidence:
			out[i] = s.LogConf
		case Entropy:
			out[i] = s.NegEntropy
		case ModifiedEntropy:
			out[i] = s.NegMEntropy
		case Correctness, Gap:
			if s.Correct {
				out[i] = 1
			}
		}
	}
	return out
}

// generalisation writes the member/nonmember accuracy, their gap and the
// mean losses.
func (r *run) generalisation(res *suite.Result) {
	level := r.t.ConfidenceLevel
	nm := r.mem.N
	var cm, cn int
	var lm, ln float64
	for i, s := range r.scores {
		if i < nm {
			lm -= s.LogPY
			if s.Correct {
				cm++
			}
		} else {
			ln -= s.LogPY
			if s.Correct {
				cn++
			}
		}
	}
	nn := r.non.N
	res.SetProportion("member_accuracy", cm, nm, level)
	res.SetProportion("nonmember_accuracy", cn, nn, level)
	res.Set("generalisation_gap", float64(cm)/float64(nm)-float64(cn)/float64(nn), true)
	res.Set("mean_loss.members", lm/float64(nm), true)
	res.Set("mean_loss.nonmembers", ln/float64(nn), true)
}

// report writes attack a's metrics from its scores and returns its details.
func (r *run) report(res *suite.Result, a string, sc []float64) map[string]any {
	roc := learn.NewROC(sc, r.member, nil)
	adv, p := roc.Advantage()
	res.Set(a+".auc", roc.AUC(), true)
	res.Set(a+".advantage", adv, true)
	res.Set(a+".balanced_accuracy", 0.5+adv/2, true)
	if r.cpMem == nil {
		r.cpMem, r.cpNon = newCPTable(roc.P, r.t.ConfidenceLevel), newCPTable(roc.N, r.t.ConfidenceLevel)
	}
	eps := epsilonLowerBound(roc, r.cpMem, r.cpNon, r.cfg.EpsilonDelta)
	res.Set(a+".epsilon_lower_bound", eps.Value, true)
	at := map[string]any{}
	for _, f := range r.cfg.FPR {
		q := roc.TPRAt(f)
		key := FPRKey(a, f)
		res.SetProportion(key, roc.TP[q], roc.P, r.t.ConfidenceLevel)
		at[strconv.FormatFloat(f, 'g', -1, 64)] = map[string]any{
			"tp": roc.TP[q], "fp": roc.FP[q], "threshold": finite(roc.Threshold[q]),
		}
	}
	det := map[string]any{
		"roc":                roc.Downsample(r.cfg.ROCPoints),
		"distinct_scores":    len(roc.TP) - 1,
		"best_threshold":     finite(roc.Threshold[p]),
		"best_threshold_tpr": float64(roc.TP[p]) / float64(roc.P),
		"best_threshold_fpr": float64(roc.FP[p]) / float64(roc.N),
		"at_fpr":             at,
		"epsilon_lower_bound": map[string]any{
			"value": eps.Value, "top": eps.Top, "ratio": eps.Ratio, "threshold": finite(roc.Threshold[eps.Point]),
			"tp": roc.TP[eps.Point], "fp": roc.FP[eps.Point], "delta": r.cfg.EpsilonDelta, "confidence_level": r.t.ConfidenceLevel,
		},
	}
	if a == Gap || a == Correctness {
		// ART's view of the rule: how many of each set it calls members,
		// and its accuracy on the two sets as given (unbalanced).
		pm, pn := 0, 0
		for i, v := range sc {
			if v == 1 && r.member[i] {
				pm++
			} else if v == 1 {
				pn++
			}
		}
		det["predicted_members"] = map[string]any{"members": pm, "nonmembers": pn}
		det["accuracy"] = float64(pm+roc.N-pn) / float64(roc.P+roc.N)
	}
	return det
}

// finite returns v, or nil for ±Inf (JSON has no infinities).
func finite(v float64) any {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return v
}

// perClass breaks AUC and advantage down by true class.
func (r *run) perClass(attackScores map[string][]float64) []map[string]any {
	k := r.t.Classes
	out := make([]map[string]any, 0, k)
	for c := 0; c < k; c++ {
		var idx []int
		var nm, nn, cm, cn int
		for i, y := range r.labels {
			if int(y) != c {
				continue
			}
			idx = append(idx, i)
			if r.member[i] {
				nm++
				if r.scores[i].Correct {
					cm++
				}
			} else {
				nn++
				if r.scores[i].Correct {
					cn++
				}
			}
		}
		row := map[string]any{"class": c, "members": nm, "nonmembers": nn,
			"member_accuracy": ratio(cm, nm), "nonmember_accuracy": ratio(cn, nn)}
		auc := map[string]any{}
		adv := map[string]any{}
		sub := make([]float64, len(idx))
		lab := make([]bool, len(idx))
		for _, a := range r.cfg.Attacks {
			if _, ok := attackScores[a]; !ok {
				continue // not run: runtime.timeout stopped the suite before it
			}
			if nm == 0 || nn == 0 {
				auc[a], adv[a] = nil, nil
				continue
			}
			for j, i := range idx {
				sub[j], lab[j] = attackScores[a][i], r.member[i]
			}
			roc := learn.NewROC(sub, lab, nil)
			v, _ := roc.Advantage()
			auc[a], adv[a] = roc.AUC(), v
		}
		row["auc"], row["advantage"] = auc, adv
		out = append(out, row)
	}
	return out
}

func ratio(k, n int) any {
	if n == 0 {
		return nil
	}
	return float64(k) / float64(n)
}

// lira runs offline LiRA: φ under every reference model, a Gaussian per
// sample (or one global σ), and the one-sided z-score of the target's φ.
func (r *run) lira(ctx context.Context) ([]float64, map[string]any, error) {
	n := len(r.scores)
	m := len(r.cfg.ReferenceModels)
	phi := r.phi
	if phi == nil {
		phi = make([]float64, m*n) // reference k, sample i
		for k := range m {
			if err := r.referencePhi(ctx, k, phi[k*n:(k+1)*n]); err != nil {
				return nil, nil, err
			}
		}
	}
	mu := make([]float64, n)
	sigma := make([]float64, n)
	var meanVar float64
	for i := 0; i < n; i++ {
		for k := 0; k < m; k++ {
			mu[i] += phi[k*n+i]
		}
		mu[i] /= float64(m)
		for k := 0; k < m; k++ {
			d := phi[k*n+i] - mu[i]
			sigma[i] += d * d
		}
		meanVar += sigma[i] / float64(m)
		sigma[i] = math.Sqrt(sigma[i] / float64(m)) // ddof 0, as numpy
	}
	global := math.Sqrt(meanVar / float64(n))
	sc := make([]float64, n)
	for i := range sc {
		s := sigma[i]
		if r.cfg.LiRAVariance == "global" {
			s = global
		}
		// The z-score ranks as the one-sided log Pr[Z ≤ φ] does, without
		// its saturation at 0 for z above ~38.
		sc[i] = (r.scores[i].Phi - mu[i]) / max(s, minSigma)
	}
	return sc, map[string]any{"reference_models": m, "variance": r.cfg.LiRAVariance, "sigma_global": global}, nil
}

// referencePhi writes φ of every member and nonmember (members first)
// under reference model k to dst.
func (r *run) referencePhi(ctx context.Context, k int, dst []float64) error {
	sess, err := openReference(r.t, r.cfg.ReferenceModels, k)
	if err != nil {
		return err
	}
	defer sess.Close()
	sm, _, err := perSample(ctx, r.t, sess, r.mem, 0)
	if err != nil {
		return err
	}
	sn, _, err := perSample(ctx, r.t, sess, r.non, 0)
	if err != nil {
		return err
	}
	for i, s := range append(sm, sn...) {
		dst[i] = s.Phi
	}
	return nil
}

// minSigma floors σ when all reference models agree exactly.
const minSigma = 1e-12

// openReference opens reference model k of paths (relative to t.BaseDir)
// and checks that its signature matches the target's. Errors are
// errs.Invalid and name the file. The caller closes the session.
func openReference(t *suite.Target, paths []string, k int) (*runtime.Session, error) {
	p := paths[k]
	path := p
	if !filepath.IsAbs(path) && t.BaseDir != "" {
		path = filepath.Join(t.BaseDir, path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, errs.Invalidf("suites.membership.reference_models[%d] %s: %v", k, p, err)
	}
	sess, err := t.OpenModel(path)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("suites.membership.reference_models[%d] %s: %w", k, p, err))
	}
	if err := checkSignature(t.Session, sess, p, k); err != nil {
		sess.Close()
		return nil, err
	}
	if err := t.CheckClassLabels(sess, fmt.Sprintf("suites.membership.reference_models[%d] %s", k, p)); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// checkSignature rejects a reference model whose input or output differs
// from the target's.
func checkSignature(target, ref *runtime.Session, path string, k int) error {
	ti, ri := target.Input(), ref.Input()
	if ti.Type != ri.Type || !slices.Equal(target.SampleShape(), ref.SampleShape()) || target.NumClasses() != ref.NumClasses() {
		return errs.Invalidf("suites.membership.reference_models[%d] %s: signature input %s %v → %d classes differs from the target's %s %v → %d classes",
			k, path, ri.Type, ref.SampleShape(), ref.NumClasses(), ti.Type, target.SampleShape(), target.NumClasses())
	}
	return nil
}

// learned trains the attack classifier on per-sample features with
// stratified k-fold cross-validation and returns the out-of-fold
// membership probabilities.
func (r *run) learned(ctx context.Context) ([]float64, map[string]any, error) {
	n := len(r.scores)
	np := r.ntop
	d := 3 + np
	x := make([]float64, n*d)
	y := make([]int, n)
	for i, s := range r.scores {
		row := x[i*d : (i+1)*d]
		row[0], row[1], row[2] = s.LogPY, s.LogConf, s.NegEntropy
		copy(row[3:], r.top[i*np:(i+1)*np])
		if r.member[i] {
			y[i] = 1
		}
	}
	seed := suite.DeriveSeed(r.t.Seed, "membership/learned")
	fold := learn.Folds(y, 2, r.cfg.Folds, rand.New(rand.NewPCG(seed, 0)))
	train, model := learn.MLP(learn.DefaultMLP), fmt.Sprintf("gorgonia MLP (%d hidden ReLU units, Adam)", learn.DefaultMLP.Hidden)
	if r.cfg.AttackModel == "logistic" {
		train, model = learn.Logistic(learn.DefaultL2), "L2 logistic regression"
	}
	p, err := learn.CrossValidate(ctx, x, d, y, 2, fold, r.cfg.Folds, train, suite.DeriveSeed(seed, "train"))
	if err != nil {
		return nil, nil, err
	}
	sc := make([]float64, n)
	for i := range sc {
		sc[i] = p[2*i+1]
	}
	return sc, map[string]any{"folds": r.cfg.Folds, "model": model, "features": d}, nil
}
