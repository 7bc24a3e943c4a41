package extraction

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
	"github.com/gauntlet-ml/gauntlet/train"
)

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	r := suite.NewResult()
	seed := suite.DeriveSeed(t.Seed, "extraction")
	pool, test, split, err := parts(t, cfg, seed, r)
	if err != nil {
		return nil, err
	}
	k := t.Classes
	// The model's answers on the test part: fidelity's reference.
	ref, err := outputs(ctx, t, test)
	if err != nil {
		return nil, err
	}
	refPred := make([]int, test.N)
	correct := 0
	for i := range refPred {
		refPred[i] = stats.Argmax(ref[i*k : (i+1)*k])
		if int64(refPred[i]) == test.Y[i] {
			correct++
		}
	}
	r.SetProportion("target_accuracy", correct, test.N, t.ConfidenceLevel)
	arch := cfg.Arch
	if arch == ArchAuto {
		arch = train.MLP
		if sh := test.SampleShape; (len(sh) == 3 || len(sh) == 2) && sh[len(sh)-1] >= 2 && sh[len(sh)-2] >= 2 {
			arch = train.CNN
		}
	}
	// The queries: the first budget rows of the shuffled pool, so that
	// a smaller budget's queries are a prefix of a larger one's.
	maxB := 0
	for _, b := range cfg.Budgets {
		if b <= pool.N {
			maxB = b
		}
	}
	qx := pool.X[:maxB*pool.SampleSize()]
	var targets []float64
	if maxB > 0 {
		q := &data.Dataset{X: qx, N: maxB, SampleShape: pool.SampleShape}
		out, err := outputs(ctx, t, q)
		if err != nil {
			return nil, err
		}
		targets = answers(out, maxB, k, cfg.Outputs, t.OutputKind)
	}
	dir := filepath.Join(t.OutDir, "extraction")
	if t.OutDir == "" {
		if dir, err = os.MkdirTemp("", "gauntlet-extraction-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// The transfer attack's rows: the first transfer_rows of the test part.
	nt := min(cfg.TransferRows, test.N)
	atk := &data.Dataset{X: test.X[:nt*test.SampleSize()], N: nt, SampleShape: test.SampleShape, Y: test.Y[:nt]}
	var curve []map[string]any
	details := func() {
		r.Details["split"] = split
		r.Details["surrogate"] = map[string]any{"arch": arch, "hidden": cfg.Training.Hidden, "filters": cfg.Training.Filters,
			"epochs": cfg.Training.Epochs, "batch": cfg.Training.Batch, "learning_rate": cfg.Training.LearningRate, "outputs": cfg.Outputs}
		a := cfg.attack.Attacks[0]
		r.Details["attack"] = map[string]any{"name": a.Name, "norm": a.Norm, "eps": a.Eps[0], "steps": a.Steps, "rows": nt}
		r.Details["extraction_curve"] = curve
	}
	for i, b := range cfg.Budgets {
		if b > pool.N {
			r.Warnings = append(r.Warnings, fmt.Sprintf("budget %d: the query pool has %d rows; its metrics are undefined (configure suites.extraction.queries with more rows)", b, pool.N))
			for _, m := range []string{"fidelity", "accuracy", "transfer"} {
				r.Undefined = append(r.Undefined, suite.ProportionKeys(key(m, b))...)
			}
			continue
		}
		// What r holds before the budget, to take its partial figures
		// back out if runtime.timeout stops it.
		metrics, nu, nw := maps.Clone(r.Metrics), len(r.Undefined), len(r.Warnings)
		row, err := s.budget(ctx, t, cfg, arch, b, qx[:b*pool.SampleSize()], pool.SampleShape, targets[:b*k], test, refPred, atk, dir, seed, r)
		if err != nil {
			err = fmt.Errorf("budget %d: %w", b, err)
			if !suite.TimedOut(ctx, err) || i == 0 {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of a run of the
			// budgets before this one (its queries are a prefix of
			// this run's, so they are the same).
			r.Metrics, r.Undefined, r.Warnings = metrics, r.Undefined[:nu], r.Warnings[:nw]
			details()
			r.SetTimedOut(test.N, test.N, map[string]any{"budgets_finished": slices.Clone(cfg.Budgets[:i]), "stopped_in": b})
			return r, err
		}
		curve = append(curve, row)
	}
	details()
	return r, nil
}

// parts returns the query pool (shuffled) and the fidelity-test part of
// the data, and the split's record for the details.
func parts(t *suite.Target, cfg Config, seed uint64, r *suite.Result) (pool, test *data.Dataset, split map[string]any, err error) {
	ev := t.Data
	rng := suite.BatchRand(suite.DeriveSeed(seed, "split"), 0)
	if cfg.hasQueries() {
		q, err := t.LoadData(cfg.Queries, "config suites.extraction.queries")
		if err != nil {
			return nil, nil, nil, err
		}
		if q.SampleSize() != ev.SampleSize() {
			return nil, nil, nil, errs.Invalidf("config suites.extraction.queries: samples of %d values; the evaluation data's have %d", q.SampleSize(), ev.SampleSize())
		}
		r.AddData("queries", q)
		perm := rng.Perm(q.N)
		return subset(q, perm, false), ev, map[string]any{"queries": "suites.extraction.queries", "query_pool": q.N, "test_rows": ev.N,
			"test": "all evaluation rows"}, nil
	}
	perm := rng.Perm(ev.N)
	nTest := int(math.Round(cfg.Holdout * float64(ev.N)))
	nTest = max(1, min(nTest, ev.N-1))
	testIdx := slices.Clone(perm[:nTest])
	slices.Sort(testIdx) // the test part in file order
	return subset(ev, perm[nTest:], false), subset(ev, testIdx, true), map[string]any{"queries": "evaluation data", "query_pool": ev.N - nTest,
		"test_rows": nTest, "holdout": cfg.Holdout, "test": "a seeded share of the evaluation rows, disjoint from the query pool"}, nil
}

// subset returns the rows idx of d in that order (with labels when
// labels is set).
func subset(d *data.Dataset, idx []int, labels bool) *data.Dataset {
	s := d.SampleSize()
	out := &data.Dataset{N: len(idx), SampleShape: d.SampleShape, X: make([]float32, 0, len(idx)*s)}
	for _, i := range idx {
		out.X = append(out.X, d.Sample(i)...)
	}
	if labels && d.Y != nil {
		out.Y = make([]int64, len(idx))
		for j, i := range idx {
			out.Y[j] = d.Y[i]
		}
	}
	return out
}

// answers turns the model's outputs on n queries into training targets:
// probabilities (a softmax of logits) or one-hot predicted labels.
func answers(out []float32, n, k int, mode string, kind runtime.OutputKind) []float64 {
	t := make([]float64, n*k)
	for i := 0; i < n; i++ {
		row, dst := out[i*k:(i+1)*k], t[i*k:(i+1)*k]
		if mode == Labels {
			dst[stats.Argmax(row)] = 1
			continue
		}
		if kind == runtime.Probabilities {
			sum := 0.0
			for j, v := range row {
				dst[j] = max(float64(v), 0)
				sum += dst[j]
			}
			for j := range dst {
				dst[j] /= sum
			}
			continue
		}
		for j, v := range row {
			dst[j] = float64(v)
		}
		learn.Softmax(dst, dst)
	}
	return t
}

// budget trains the surrogate on b queries and measures it.
func (s Suite) budget(ctx context.Context, t *suite.Target, cfg Config, arch string, b int, qx []float32, shape []int, targets []float64,
	test *data.Dataset, refPred []int, atk *data.Dataset, dir string, seed uint64, r *suite.Result) (map[string]any, error) {
	k := t.Classes
	tc := cfg.Training
	net, err := train.FitTargets(ctx, qx, shape, targets, k, train.Config{Arch: arch, Hidden: tc.Hidden, Filters: tc.Filters,
		Epochs: tc.Epochs, Batch: tc.Batch, LearningRate: tc.LearningRate, Seed: suite.DeriveSeed(seed, "train/"+strconv.Itoa(b))})
	if err != nil {
		return nil, err
	}
	m, err := net.ONNX("input", shape)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "surrogate_"+strconv.Itoa(b)+".onnx")
	if err := m.Save(path); err != nil {
		return nil, err
	}
	sess, err := t.OpenModel(path)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	st := *t
	st.Session, st.Model, st.OutputKind = sess, sess.Model(), sess.OutputKind()
	sur, err := outputs(ctx, &st, test)
	if err != nil {
		return nil, err
	}
	agree, right := 0, 0
	for i := 0; i < test.N; i++ {
		p := stats.Argmax(sur[i*k : (i+1)*k])
		if p == refPred[i] {
			agree++
		}
		if int64(p) == test.Y[i] {
			right++
		}
	}
	r.SetProportion(key("fidelity", b), agree, test.N, t.ConfidenceLevel)
	r.SetProportion(key("accuracy", b), right, test.N, t.ConfidenceLevel)
	// Transfer: PGD on the surrogate (its own gradient graph, evasion's
	// Craft), replayed on the model.
	st.Data = atk
	st.Seed = suite.DeriveSeed(seed, "attack/"+strconv.Itoa(b))
	crafted, mode, err := evasion.Craft(ctx, &st, cfg.attack)
	if err != nil {
		return nil, fmt.Errorf("transfer attack on the surrogate: %w", err)
	}
	c := crafted[0]
	advOut, err := outputs(ctx, t, &data.Dataset{X: c.Adv, N: atk.N, SampleShape: atk.SampleShape})
	if err != nil {
		return nil, err
	}
	ran, fooled, surFooled := 0, 0, 0
	for i := 0; i < atk.N; i++ {
		// Rows the model and the surrogate both classify right: the
		// attack ran on the surrogate and the model had the answer.
		if refPred[i] != int(atk.Y[i]) || int64(stats.Argmax(sur[i*k:(i+1)*k])) != atk.Y[i] {
			continue
		}
		ran++
		if c.Success[i] {
			surFooled++
		}
		if int64(stats.Argmax(advOut[i*k:(i+1)*k])) != atk.Y[i] {
			fooled++
		}
	}
	r.SetProportion(key("transfer", b), fooled, ran, t.ConfidenceLevel)
	row := map[string]any{"budget": b, "fidelity": float64(agree) / float64(test.N), "accuracy": float64(right) / float64(test.N),
		"attacked": ran, "surrogate_fooled": surFooled, "model_fooled": fooled, "gradient_mode": mode, "surrogate": filepath.Base(path)}
	if ran > 0 {
		row["transfer"] = float64(fooled) / float64(ran)
	}
	return row, nil
}

// outputs runs t's model on d and returns its outputs, sample-major.
func outputs(ctx context.Context, t *suite.Target, d *data.Dataset) ([]float32, error) {
	out := make([]float32, d.N*t.Classes)
	err := suite.ForEachBatch(ctx, t, d, func(_, lo, hi int, o []float32) error {
		copy(out[lo*t.Classes:hi*t.Classes], o[:(hi-lo)*t.Classes])
		return nil
	})
	return out, err
}
