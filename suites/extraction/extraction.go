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
	pr, err := prepare(ctx, t, cfg, r)
	if err != nil {
		return nil, err
	}
	defer pr.cleanup()
	r.SetProportion("target_accuracy", pr.correct, pr.test.N, t.ConfidenceLevel)
	var curve []map[string]any
	for i, b := range cfg.Budgets {
		if b > pr.pool.N {
			overPool(r, b, pr.pool.N)
			continue
		}
		// What r holds before the budget, to take its partial figures
		// back out if runtime.timeout stops it.
		metrics, nu, nw := maps.Clone(r.Metrics), len(r.Undefined), len(r.Warnings)
		br, err := s.budget(ctx, t, cfg, pr, b)
		if err != nil {
			err = fmt.Errorf("budget %d: %w", b, err)
			if !suite.TimedOut(ctx, err) || i == 0 {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of a run of the
			// budgets before this one (its queries are a prefix of
			// this run's, so they are the same).
			r.Metrics, r.Undefined, r.Warnings = metrics, r.Undefined[:nu], r.Warnings[:nw]
			writeDetails(r, cfg, pr.split, pr.arch, pr.atk.N, curve)
			r.SetTimedOut(pr.test.N, pr.test.N, map[string]any{"budgets_finished": slices.Clone(cfg.Budgets[:i]), "stopped_in": b})
			return r, err
		}
		curve = append(curve, setBudget(r, t, b, br))
	}
	writeDetails(r, cfg, pr.split, pr.arch, pr.atk.N, curve)
	return r, nil
}

// prepared is what every budget uses: the query pool, the test part, the
// model's answers on both, the surrogate architecture, the transfer
// attack's rows and the folder the surrogates are written to.
type prepared struct {
	pool, test, atk *data.Dataset
	split           map[string]any
	refPred         []int
	correct         int // the model's right answers on the test part
	arch            string
	qx              []float32 // the largest budget's queries that fits the pool
	targets         []float64 // the model's answers on them
	dir             string
	seed            uint64
	cleanup         func()
}

// prepare splits the data, asks the model about the test part and the
// largest budget's queries, and readies the surrogates' folder: the work
// Run and every shard do alike before the budgets.
func prepare(ctx context.Context, t *suite.Target, cfg Config, r *suite.Result) (*prepared, error) {
	seed := suite.DeriveSeed(t.Seed, "extraction")
	pool, test, split, err := parts(t, cfg, seed, r)
	if err != nil {
		return nil, err
	}
	pr := &prepared{pool: pool, test: test, split: split, seed: seed, cleanup: func() {}}
	k := t.Classes
	// The model's answers on the test part: fidelity's reference.
	ref, err := outputs(ctx, t, test)
	if err != nil {
		return nil, err
	}
	pr.refPred = make([]int, test.N)
	for i := range pr.refPred {
		pr.refPred[i] = stats.Argmax(ref[i*k : (i+1)*k])
		if int64(pr.refPred[i]) == test.Y[i] {
			pr.correct++
		}
	}
	pr.arch = cfg.Arch
	if pr.arch == ArchAuto {
		pr.arch = train.MLP
		if sh := test.SampleShape; (len(sh) == 3 || len(sh) == 2) && sh[len(sh)-1] >= 2 && sh[len(sh)-2] >= 2 {
			pr.arch = train.CNN
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
	pr.qx = pool.X[:maxB*pool.SampleSize()]
	if maxB > 0 {
		q := &data.Dataset{X: pr.qx, N: maxB, SampleShape: pool.SampleShape}
		out, err := outputs(ctx, t, q)
		if err != nil {
			return nil, err
		}
		pr.targets = answers(out, maxB, k, cfg.Outputs, t.OutputKind)
	}
	pr.dir = filepath.Join(t.OutDir, "extraction")
	if t.OutDir == "" {
		if pr.dir, err = os.MkdirTemp("", "gauntlet-extraction-"); err != nil {
			return nil, err
		}
		dir := pr.dir
		pr.cleanup = func() { os.RemoveAll(dir) }
	} else if err := os.MkdirAll(pr.dir, 0o755); err != nil {
		return nil, err
	}
	// The transfer attack's rows: the first transfer_rows of the test part.
	nt := min(cfg.TransferRows, test.N)
	pr.atk = &data.Dataset{X: test.X[:nt*test.SampleSize()], N: nt, SampleShape: test.SampleShape, Y: test.Y[:nt]}
	return pr, nil
}

// overPool records a budget larger than the query pool: its metrics are
// undefined, and a warning says why.
func overPool(r *suite.Result, b, pool int) {
	r.Warnings = append(r.Warnings, fmt.Sprintf("budget %d: the query pool has %d rows; its metrics are undefined (configure suites.extraction.queries with more rows)", b, pool))
	for _, m := range []string{"fidelity", "accuracy", "transfer"} {
		r.Undefined = append(r.Undefined, suite.ProportionKeys(key(m, b))...)
	}
}

// writeDetails writes the split, the surrogate's and the attack's
// settings and the extraction curve (one row per budget that ran).
func writeDetails(r *suite.Result, cfg Config, split map[string]any, arch string, nt int, curve []map[string]any) {
	r.Details["split"] = split
	r.Details["surrogate"] = map[string]any{"arch": arch, "hidden": cfg.Training.Hidden, "filters": cfg.Training.Filters,
		"epochs": cfg.Training.Epochs, "batch": cfg.Training.Batch, "learning_rate": cfg.Training.LearningRate, "outputs": cfg.Outputs}
	a := cfg.attack.Attacks[0]
	r.Details["attack"] = map[string]any{"name": a.Name, "norm": a.Norm, "eps": a.Eps[0], "steps": a.Steps, "rows": nt}
	r.Details["extraction_curve"] = curve
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

// budgetResult is one budget's counts: a unit of a sharded run.
type budgetResult struct {
	TestN     int    `json:"test_n"`
	Agree     int    `json:"agree"`
	Right     int    `json:"right"`
	Ran       int    `json:"ran"`
	Fooled    int    `json:"fooled"`
	SurFooled int    `json:"surrogate_fooled"`
	Mode      string `json:"gradient_mode"`
	Surrogate string `json:"surrogate"`
}

// setBudget writes a budget's metrics into r and returns its row of the
// extraction curve: Run's and Merge's reduction.
func setBudget(r *suite.Result, t *suite.Target, b int, br budgetResult) map[string]any {
	r.SetProportion(key("fidelity", b), br.Agree, br.TestN, t.ConfidenceLevel)
	r.SetProportion(key("accuracy", b), br.Right, br.TestN, t.ConfidenceLevel)
	r.SetProportion(key("transfer", b), br.Fooled, br.Ran, t.ConfidenceLevel)
	row := map[string]any{"budget": b, "fidelity": float64(br.Agree) / float64(br.TestN), "accuracy": float64(br.Right) / float64(br.TestN),
		"attacked": br.Ran, "surrogate_fooled": br.SurFooled, "model_fooled": br.Fooled, "gradient_mode": br.Mode, "surrogate": br.Surrogate}
	if br.Ran > 0 {
		row["transfer"] = float64(br.Fooled) / float64(br.Ran)
	}
	return row
}

// budget trains the surrogate on the first b queries (its own seed: a
// budget does not depend on another's surrogate) and measures it.
func (s Suite) budget(ctx context.Context, t *suite.Target, cfg Config, pr *prepared, b int) (budgetResult, error) {
	k := t.Classes
	tc := cfg.Training
	shape, test, refPred, atk, seed := pr.pool.SampleShape, pr.test, pr.refPred, pr.atk, pr.seed
	net, err := train.FitTargets(ctx, pr.qx[:b*pr.pool.SampleSize()], shape, pr.targets[:b*k], k, train.Config{Arch: pr.arch, Hidden: tc.Hidden, Filters: tc.Filters,
		Epochs: tc.Epochs, Batch: tc.Batch, LearningRate: tc.LearningRate, Seed: suite.DeriveSeed(seed, "train/"+strconv.Itoa(b))})
	if err != nil {
		return budgetResult{}, err
	}
	m, err := net.ONNX("input", shape)
	if err != nil {
		return budgetResult{}, err
	}
	path := filepath.Join(pr.dir, "surrogate_"+strconv.Itoa(b)+".onnx")
	if err := m.Save(path); err != nil {
		return budgetResult{}, err
	}
	sess, err := t.OpenModel(path)
	if err != nil {
		return budgetResult{}, err
	}
	defer sess.Close()
	st := *t
	st.Session, st.Model, st.OutputKind = sess, sess.Model(), sess.OutputKind()
	sur, err := outputs(ctx, &st, test)
	if err != nil {
		return budgetResult{}, err
	}
	br := budgetResult{TestN: test.N, Surrogate: filepath.Base(path)}
	for i := 0; i < test.N; i++ {
		p := stats.Argmax(sur[i*k : (i+1)*k])
		if p == refPred[i] {
			br.Agree++
		}
		if int64(p) == test.Y[i] {
			br.Right++
		}
	}
	// Transfer: PGD on the surrogate (its own gradient graph, evasion's
	// Craft), replayed on the model.
	st.Data = atk
	st.Seed = suite.DeriveSeed(seed, "attack/"+strconv.Itoa(b))
	crafted, mode, err := evasion.Craft(ctx, &st, cfg.attack)
	if err != nil {
		return budgetResult{}, fmt.Errorf("transfer attack on the surrogate: %w", err)
	}
	br.Mode = mode
	c := crafted[0]
	advOut, err := outputs(ctx, t, &data.Dataset{X: c.Adv, N: atk.N, SampleShape: atk.SampleShape})
	if err != nil {
		return budgetResult{}, err
	}
	for i := 0; i < atk.N; i++ {
		// Rows the model and the surrogate both classify right: the
		// attack ran on the surrogate and the model had the answer.
		if refPred[i] != int(atk.Y[i]) || int64(stats.Argmax(sur[i*k:(i+1)*k])) != atk.Y[i] {
			continue
		}
		br.Ran++
		if c.Success[i] {
			br.SurFooled++
		}
		if int64(stats.Argmax(advOut[i*k:(i+1)*k])) != atk.Y[i] {
			br.Fooled++
		}
	}
	return br, nil
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
