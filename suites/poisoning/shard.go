package poisoning

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units (docs/sharding.md) are those of its parts, one
// block after another, in the order Run runs them (each block present
// when its part is configured):
//
//   - data: a batch of runtime.batch_size training rows, in data order;
//     its result is the rows' labels, ground truth and activations at
//     every candidate layer (layerCands). The layer choice, which compares
//     the classes' statistics across layers, and every detector's
//     per-class statistics and cut-offs run in Merge on all the rows
//     (detectData), exactly as Run runs them.
//   - model.trigger: a batch of runtime.batch_size triggered evaluation
//     inputs (Triggered); its result is how many the model classifies as
//     the target. Merge adds them up.
//   - strip: every shard splits the rows and chooses the settings alike
//     (planSTRIP: alpha auto and overlays auto's pilot score the held-out
//     clean inputs in each shard; its outcome is in the common part); the
//     units are the model runs (stripTasks) that score the held-out clean
//     inputs at the chosen settings (when they are still to be scored),
//     then the triggered inputs. Merge sets the threshold at the FRR
//     quantile of all the clean scores and judges the triggered ones.
//   - neural_cleanse: a scanned class; its result the class's reversed
//     trigger.
//   - susceptibility: an experiment (the baseline, then each attack at
//     each rate, in config order), each poisoned and trained from its own
//     seed; its result the model's counts on the evaluation inputs (the
//     trained models stay in the shards' output folders).
//
// A unit's result depends only on the unit: its rows, batches and seeds
// are those of the unsharded run.

// Unit blocks, in order.
const (
	blockData     = "data"
	blockBackdoor = "model.trigger"
	blockSTRIP    = "model.strip"
	blockCleanse  = "model.neural_cleanse"
	blockSuscept  = "susceptibility"
)

// block is one part's block of units.
type block struct {
	Part  string `json:"part"`
	Units int    `json:"units"`
}

// shardCommon is what every shard computes alike: the blocks and each
// part's common part.
type shardCommon struct {
	Blocks   []block         `json:"blocks"`
	Data     *dataCommon     `json:"data,omitempty"`
	Backdoor *backdoorCommon `json:"backdoor,omitempty"`
	STRIP    *stripCommon    `json:"strip,omitempty"`
	Cleanse  *cleanseCommon  `json:"neural_cleanse,omitempty"`
	Suscept  *susceptCommon  `json:"susceptibility,omitempty"`
}

// dataCommon is the data part's common part: the training rows, the
// batch, the candidate layers and the default ones skipped, the training
// set's files (paths relative to the config's folder: suite.RelFiles).
type dataCommon struct {
	N       int              `json:"n"`
	Batch   int              `json:"batch"`
	Cands   []layerCand      `json:"candidates"`
	Skipped []map[string]any `json:"skipped,omitempty"`
	Files   []data.File      `json:"files"`
}

// dataUnit is a batch of training rows: labels, ground truth (when
// is_poisoned is set) and, per candidate layer, the activations
// (rows×size) and size.
type dataUnit struct {
	Y     []int64          `json:"y"`
	Truth []bool           `json:"truth,omitempty"`
	Acts  []suite.Floats32 `json:"acts"`
	Sizes []int            `json:"sizes"`
}

// backdoorCommon is the trigger part's common part: the triggered inputs.
type backdoorCommon struct {
	N int `json:"n"`
}

// backdoorUnit is a batch of triggered inputs: those classified as the
// target.
type backdoorUnit struct {
	Hit int `json:"hit"`
}

// stripCommon is STRIP's plan (planSTRIP), the same in every shard.
type stripCommon struct {
	N               int              `json:"n"`
	Hold            int              `json:"hold"`
	Triggered       int              `json:"triggered"` // -1: no trigger
	Rescore         bool             `json:"rescore"`
	HoldTasks       int              `json:"hold_tasks"`
	Alpha           float64          `json:"alpha"`
	Overlays        int              `json:"overlays"`
	Search          []map[string]any `json:"search,omitempty"`
	Clean           suite.Floats     `json:"clean,omitempty"`
	NoiseShare      suite.Floats     `json:"noise_share"`
	PilotNoiseShare suite.Floats     `json:"pilot_noise_share"`
	Suggested       int              `json:"suggested"`
}

// stripUnit is one model run of STRIP's scoring: its inputs' scores and
// (held-out clean inputs) per-input variances.
type stripUnit struct {
	H    suite.Floats `json:"h"`
	Vars suite.Floats `json:"vars,omitempty"`
}

// cleanseCommon is Neural Cleanse's common part: the images' dimensions.
type cleanseCommon struct {
	C int `json:"c"`
	H int `json:"h"`
	W int `json:"w"`
}

// cleanseUnit is one class's reversed trigger.
type cleanseUnit struct {
	Class   int          `json:"class"`
	Mask    suite.Floats `json:"mask"`
	Pattern suite.Floats `json:"pattern"`
	L1      suite.Floats `json:"l1"`
	Success suite.Floats `json:"success"`
	Reached bool         `json:"reached"`
}

// susceptCommon is the susceptibility part's common part: the evaluation
// and training rows, each attack's triggered inputs (-1: none), the
// training set's files (suite.RelFiles).
type susceptCommon struct {
	EvalN     int         `json:"eval_n"`
	TrainN    int         `json:"train_n"`
	Triggered []int       `json:"triggered"`
	Files     []data.File `json:"files"`
}

// susceptUnit is one experiment's result.
type susceptUnit struct {
	Model    string `json:"model"`
	Poisoned int    `json:"poisoned"`
	Correct  int    `json:"correct"`
	Hits     []int  `json:"hits"`
}

// RunShard implements suite.Sharder (see the units above).
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	// Progress counts this shard's units as they are saved (the parts'
	// model runs report nothing).
	ps := &progressStore{UnitStore: st, progress: t.Pool.Progress}
	st = ps
	tq := *t
	tq.Pool.Progress = nil
	t = &tq
	var cm shardCommon
	// Each part sets up (every shard alike), appends its block and runs
	// its units of [lo, hi) from the block's first unit off.
	type part struct {
		name  string
		on    bool
		setup func() (units int, run func(lo, hi, off int) error, err error)
	}
	var closers []func()
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	parts := []part{
		{"data", cfg.Data != nil, func() (int, func(lo, hi, off int) error, error) { return shardData(ctx, t, cfg.Data, &cm, st) }},
		{"model", cfg.Model != nil, func() (int, func(lo, hi, off int) error, error) { return 0, nil, checkModel(t, cfg.Model) }},
		{"model", cfg.Model != nil && cfg.Model.Trigger != nil, func() (int, func(lo, hi, off int) error, error) {
			return shardBackdoor(ctx, t, cfg.Model, &cm, st)
		}},
		{"model", cfg.Model != nil && hasMethod(cfg.Model.Methods, MethodSTRIP), func() (int, func(lo, hi, off int) error, error) {
			return shardSTRIP(ctx, t, cfg.Model, &cm, st)
		}},
		{"model", cfg.Model != nil && hasMethod(cfg.Model.Methods, MethodCleanse), func() (int, func(lo, hi, off int) error, error) {
			return shardCleanse(ctx, t, cfg.Model, &cm, st)
		}},
		{"susceptibility", cfg.Susceptibility != nil, func() (int, func(lo, hi, off int) error, error) {
			x, n, run, err := shardSuscept(ctx, t, cfg.Susceptibility, &cm, st)
			if x != nil {
				closers = append(closers, x.close)
			}
			return n, run, err
		}},
	}
	type ready struct {
		name string
		off  int
		n    int
		run  func(lo, hi, off int) error
	}
	var rs []ready
	units := 0
	for _, p := range parts {
		if !p.on {
			continue
		}
		n, run, err := p.setup()
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if run != nil {
			rs = append(rs, ready{p.name, units, n, run})
			units += n
		}
	}
	common, err := json.Marshal(cm)
	if err != nil {
		return 0, nil, err
	}
	lo, hi := sh.Range(units)
	ps.total = hi - lo
	for u := lo; u < hi; u++ {
		if _, ok := st.Load(u); ok {
			ps.done++ // saved by an earlier run (--resume)
		}
	}
	for _, r := range rs {
		a, b := max(lo, r.off), min(hi, r.off+r.n)
		if a >= b {
			continue
		}
		if err := r.run(a-r.off, b-r.off, r.off); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", r.name, err)
		}
	}
	return units, common, nil
}

// progressStore is a UnitStore that reports each saved unit to progress
// (done of total: the shard's units).
type progressStore struct {
	suite.UnitStore
	progress    func(done, total int)
	mu          sync.Mutex
	done, total int
}

// Save implements suite.UnitStore.
func (p *progressStore) Save(unit int, result json.RawMessage) error {
	if err := p.UnitStore.Save(unit, result); err != nil {
		return err
	}
	if p.progress != nil {
		p.mu.Lock()
		p.done++
		p.progress(p.done, p.total)
		p.mu.Unlock()
	}
	return nil
}

// pending returns the runs of units of [lo, hi) of a block starting at
// off that st does not hold yet, as block-relative half-open ranges.
func pending(st suite.UnitStore, lo, hi, off int) [][2]int {
	rs := suite.Runs(suite.Pending(st, off+lo, off+hi))
	for i := range rs {
		rs[i][0] -= off
		rs[i][1] -= off
	}
	return rs
}

// shardData sets up the data part: the training set, its ground truth and
// the candidate layers; a unit is a batch of rows (chunks of a few
// batches share one activation graph per layer).
func shardData(ctx context.Context, t *suite.Target, cfg *DataConfig, cm *shardCommon, st suite.UnitStore) (int, func(lo, hi, off int) error, error) {
	d, truth, err := loadData(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	cands, skipped, err := layerCands(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	nb := t.Batches(d.N)
	cm.Blocks = append(cm.Blocks, block{blockData, nb})
	cm.Data = &dataCommon{N: d.N, Batch: t.BatchSize, Cands: cands, Skipped: skipped, Files: suite.RelFiles(t.BaseDir, d.Files)}
	size := d.SampleSize()
	chunk := max(1, 4*t.Pool.Workers)
	return nb, func(lo, hi, off int) error {
		for _, r := range pending(st, lo, hi, off) {
			for c0 := r[0]; c0 < r[1]; c0 += chunk {
				c1 := min(c0+chunk, r[1])
				// rows of batches [c0, c1): their batches are those of
				// the whole set
				rlo, _ := t.BatchRange(c0, d.N)
				_, rhi := t.BatchRange(c1-1, d.N)
				sub := &data.Dataset{X: d.X[rlo*size : rhi*size], N: rhi - rlo, SampleShape: d.SampleShape}
				acts := make([][]float32, len(cands))
				sizes := make([]int, len(cands))
				for i, c := range cands {
					if acts[i], sizes[i], err = Activations(ctx, t, sub, c.Name); err != nil {
						return err
					}
				}
				for b := c0; b < c1; b++ {
					blo, bhi := t.BatchRange(b, d.N)
					u := dataUnit{Y: d.Y[blo:bhi], Sizes: sizes}
					if truth != nil {
						u.Truth = truth[blo:bhi]
					}
					for i := range cands {
						u.Acts = append(u.Acts, acts[i][(blo-rlo)*sizes[i]:(bhi-rlo)*sizes[i]])
					}
					if err := suite.SaveUnit(st, off+b, u); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}, nil
}

// shardBackdoor sets up the trigger's attack success rate: a unit is a
// batch of triggered inputs.
func shardBackdoor(ctx context.Context, t *suite.Target, cfg *ModelConfig, cm *shardCommon, st suite.UnitStore) (int, func(lo, hi, off int) error, error) {
	_, triggered, err := backdoorInputs(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	nb := t.Batches(triggered.N)
	cm.Blocks = append(cm.Blocks, block{blockBackdoor, nb})
	cm.Backdoor = &backdoorCommon{N: triggered.N}
	target := int64(*cfg.Target)
	return nb, func(lo, hi, off int) error {
		for _, r := range pending(st, lo, hi, off) {
			err := suite.ForBatches(ctx, t, triggered, r[0], r[1], func(b, blo, bhi int, out []float32) error {
				hit := 0
				for i := blo; i < bhi; i++ {
					if int64(stats.Argmax(out[(i-blo)*t.Classes:(i-blo+1)*t.Classes])) == target {
						hit++
					}
				}
				return suite.SaveUnit(st, off+b, backdoorUnit{Hit: hit})
			})
			if err != nil {
				return fmt.Errorf("backdoor attack success rate: %w", err)
			}
		}
		return nil
	}, nil
}

// shardSTRIP sets up STRIP: every shard plans the scan alike (planSTRIP);
// the units are the model runs that score the held-out clean inputs (when
// the plan left them to score), then the triggered inputs.
func shardSTRIP(ctx context.Context, t *suite.Target, cfg *ModelConfig, cm *shardCommon, st suite.UnitStore) (int, func(lo, hi, off int) error, error) {
	sc := cfg.STRIP
	p, err := planSTRIP(ctx, t, sc)
	if err != nil {
		return 0, nil, fmt.Errorf("strip: %w", err)
	}
	o := p.o
	var tr *data.Dataset
	if cfg.Trigger != nil {
		trig, _, err := backdoorInputs(t, cfg)
		if err != nil {
			return 0, nil, err
		}
		tr = Triggered(gather(t.Data, p.farRows), trig, *cfg.Target)
	}
	c := &stripCommon{N: t.Data.N, Hold: p.hold.N, Triggered: -1, Rescore: p.rescore, Alpha: o.Alpha, Overlays: o.Overlays, Search: o.Search,
		NoiseShare: suite.Floats{o.NoiseShare}, PilotNoiseShare: suite.Floats{o.PilotNoiseShare}, Suggested: o.Suggested}
	if p.rescore {
		_, c.HoldTasks = stripTasks(t, p.hold.N, o.Overlays)
	} else {
		c.Clean = o.Clean
	}
	units := c.HoldTasks
	if tr != nil {
		c.Triggered = tr.N
		_, n := stripTasks(t, tr.N, o.Overlays)
		units += n
	}
	cm.Blocks = append(cm.Blocks, block{blockSTRIP, units})
	cm.STRIP = c
	return units, func(lo, hi, off int) error {
		hold := make([]float64, p.hold.N)
		vars := make([]float64, p.hold.N)
		var th []float64
		if tr != nil {
			th = make([]float64, tr.N)
		}
		for _, r := range pending(st, lo, hi, off) {
			// the hold tasks [0, HoldTasks), then the triggered ones
			if a, b := r[0], min(r[1], c.HoldTasks); a < b {
				err := stripScores(ctx, t, p.hold, p.hold.N, p.pool.X, o.Overlays, o.Alpha, sc.Score, p.seed, vars, hold, a, b, func(task, lo, hi int) error {
					return suite.SaveUnit(st, off+task, stripUnit{H: hold[lo:hi], Vars: vars[lo:hi]})
				})
				if err != nil {
					return fmt.Errorf("strip: %w", err)
				}
			}
			if a, b := max(r[0], c.HoldTasks)-c.HoldTasks, r[1]-c.HoldTasks; a < b {
				err := stripScores(ctx, t, tr, tr.N, p.pool.X, o.Overlays, o.Alpha, sc.Score, suite.DeriveSeed(p.seed, "triggered"), nil, th, a, b, func(task, lo, hi int) error {
					return suite.SaveUnit(st, off+c.HoldTasks+task, stripUnit{H: th[lo:hi]})
				})
				if err != nil {
					return fmt.Errorf("strip: %w", err)
				}
			}
		}
		return nil
	}, nil
}

// shardCleanse sets up Neural Cleanse: a unit is a scanned class.
func shardCleanse(ctx context.Context, t *suite.Target, cfg *ModelConfig, cm *shardCommon, st suite.UnitStore) (int, func(lo, hi, off int) error, error) {
	ch, h, w, err := cleanseDims(t)
	if err != nil {
		return 0, nil, fmt.Errorf("neural cleanse: %w", err)
	}
	nc := cfg.NeuralCleanse
	classes := cleanseClasses(nc, t.Classes)
	cm.Blocks = append(cm.Blocks, block{blockCleanse, len(classes)})
	cm.Cleanse = &cleanseCommon{C: ch, H: h, W: w}
	return len(classes), func(lo, hi, off int) error {
		for _, r := range pending(st, lo, hi, off) {
			err := reverseClasses(ctx, t, nc, classes[r[0]:r[1]], ch, h, w, func(i int, rv *Reversed) error {
				return suite.SaveUnit(st, off+r[0]+i, cleanseUnit{Class: rv.Class, Mask: rv.Mask, Pattern: rv.Pattern,
					L1: suite.Floats{rv.L1}, Success: suite.Floats{rv.Success}, Reached: rv.Reached})
			})
			if err != nil {
				return fmt.Errorf("neural cleanse: %w", err)
			}
		}
		return nil
	}, nil
}

// shardSuscept sets up the susceptibility experiments: a unit is one
// experiment, trained and evaluated.
func shardSuscept(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, cm *shardCommon, st suite.UnitStore) (*susceptibility, int, func(lo, hi, off int) error, error) {
	x, err := prepareSusceptibility(t, cfg)
	if err != nil {
		return nil, 0, nil, err
	}
	c := &susceptCommon{EvalN: t.Data.N, TrainN: x.tr.N, Files: suite.RelFiles(t.BaseDir, x.tr.Files)}
	for _, trg := range x.triggered {
		n := -1
		if trg != nil {
			n = trg.N
		}
		c.Triggered = append(c.Triggered, n)
	}
	cm.Blocks = append(cm.Blocks, block{blockSuscept, len(x.exps)})
	cm.Suscept = c
	n := len(x.exps)
	return x, n, func(lo, hi, off int) error {
		todo := suite.Pending(st, off+lo, off+hi)
		pool := t.Pool
		pool.Workers = max(1, min(pool.Workers, len(todo)))
		if cfg.Trainer == TrainerCommand {
			pool.Workers = 1 // one user command at a time
		}
		pool.Progress = nil
		return pool.Run(ctx, len(todo), func(ctx context.Context, _, i int) error {
			e := x.exps[todo[i]-off]
			if err := x.train(ctx, t, cfg, e); err != nil {
				return err
			}
			if err := x.evaluate(ctx, t, cfg, e); err != nil {
				return err
			}
			return suite.SaveUnit(st, todo[i], susceptUnit{Model: filepath.Base(e.path), Poisoned: e.poisoned, Correct: e.correct, Hits: e.hits})
		})
	}, nil
}

// Merge implements suite.Sharder: each part's figures from its units, as
// Run computes them, in Run's order.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("poisoning: shard common part: %w", err)
	}
	blocks := map[string][]json.RawMessage{}
	off := 0
	for _, b := range cm.Blocks {
		if off+b.Units > len(results) {
			return nil, fmt.Errorf("poisoning: %d units, the blocks need more", len(results))
		}
		blocks[b.Part] = results[off : off+b.Units]
		off += b.Units
	}
	if off != len(results) {
		return nil, fmt.Errorf("poisoning: %d units for the blocks' %d", len(results), off)
	}
	need := func(part string, c any) error {
		if _, ok := blocks[part]; !ok || c == nil {
			return fmt.Errorf("poisoning: the shards have no %s units", part)
		}
		return nil
	}
	r := suite.NewResult()
	if cfg.Data != nil {
		if err := need(blockData, cm.Data); err != nil {
			return nil, err
		}
		if err := mergeData(t, cfg.Data, cm.Data, blocks[blockData], r); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
	}
	if m := cfg.Model; m != nil {
		details := map[string]any{}
		if m.Trigger != nil {
			if err := need(blockBackdoor, cm.Backdoor); err != nil {
				return nil, err
			}
			hit := 0
			for i, raw := range blocks[blockBackdoor] {
				var u backdoorUnit
				if err := json.Unmarshal(raw, &u); err != nil {
					return nil, fmt.Errorf("poisoning: model.trigger unit %d: %w", i, err)
				}
				hit += u.Hit
			}
			setBackdoor(t, m, r, details, hit, cm.Backdoor.N)
		}
		if hasMethod(m.Methods, MethodSTRIP) {
			if err := need(blockSTRIP, cm.STRIP); err != nil {
				return nil, err
			}
			o, err := mergeSTRIP(t, m.STRIP, cm.STRIP, blocks[blockSTRIP])
			if err != nil {
				return nil, fmt.Errorf("model: strip: %w", err)
			}
			sd, hist := reportSTRIP(t, m.STRIP, r, o, cm.STRIP.N, cm.STRIP.Triggered >= 0)
			details[MethodSTRIP] = sd
			r.Details["histograms"] = map[string]any{"strip.entropy": hist}
		}
		if hasMethod(m.Methods, MethodCleanse) {
			if err := need(blockCleanse, cm.Cleanse); err != nil {
				return nil, err
			}
			nd, err := mergeCleanse(t, m.NeuralCleanse, cm.Cleanse, blocks[blockCleanse], r)
			if err != nil {
				return nil, fmt.Errorf("model: neural cleanse: %w", err)
			}
			details[MethodCleanse] = nd
		}
		r.Details["model"] = details
	}
	if sc := cfg.Susceptibility; sc != nil {
		if err := need(blockSuscept, cm.Suscept); err != nil {
			return nil, err
		}
		if err := mergeSuscept(t, sc, cm.Suscept, blocks[blockSuscept], r); err != nil {
			return nil, fmt.Errorf("susceptibility: %w", err)
		}
	}
	return r, nil
}

// mergeData joins the data units' rows and activations and runs the
// detectors on them (detectData).
func mergeData(t *suite.Target, cfg *DataConfig, c *dataCommon, units []json.RawMessage, r *suite.Result) error {
	tb := *t
	tb.BatchSize = c.Batch
	if nb := tb.Batches(c.N); nb != len(units) {
		return fmt.Errorf("%d units for the %d batches of %d training rows", len(units), nb, c.N)
	}
	y := make([]int64, 0, c.N)
	var truth []bool
	if cfg.IsPoisoned != "" {
		truth = make([]bool, 0, c.N)
	}
	acts := make([][]float32, len(c.Cands))
	sizes := make([]int, len(c.Cands))
	for b, raw := range units {
		var u dataUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("unit %d: %w", b, err)
		}
		lo, hi := tb.BatchRange(b, c.N)
		m := hi - lo
		if len(u.Y) != m || truth != nil && len(u.Truth) != m || len(u.Acts) != len(c.Cands) || len(u.Sizes) != len(c.Cands) {
			return fmt.Errorf("unit %d: its rows do not cover batch %d's %d rows and %d layers", b, b, m, len(c.Cands))
		}
		for _, k := range u.Y {
			if k < 0 || int(k) >= t.Classes {
				return fmt.Errorf("unit %d: label %d is not a class of the model (%d classes)", b, k, t.Classes)
			}
		}
		y = append(y, u.Y...)
		if truth != nil {
			truth = append(truth, u.Truth...)
		}
		for i := range c.Cands {
			if b > 0 && u.Sizes[i] != sizes[i] || len(u.Acts[i]) != m*u.Sizes[i] {
				return fmt.Errorf("unit %d: layer %s: %d values for %d rows of %d", b, c.Cands[i].Name, len(u.Acts[i]), m, u.Sizes[i])
			}
			sizes[i] = u.Sizes[i]
			acts[i] = append(acts[i], u.Acts[i]...)
		}
	}
	r.AddData("data.train", &data.Dataset{Files: suite.AbsFiles(t.BaseDir, c.Files)})
	return detectData(t, cfg, r, y, truth, func(byClass [][]int) (*layerChoice, map[string]any, error) {
		return pickLayer(cfg, c.Cands, c.Skipped, byClass, t.Seed, func(name string) ([]float32, int, error) {
			for i, cd := range c.Cands {
				if cd.Name == name {
					return acts[i], sizes[i], nil
				}
			}
			return nil, 0, fmt.Errorf("layer %s: not among the shards' candidate layers", name)
		})
	})
}

// mergeSTRIP rebuilds the STRIP outcome from the plan and the scores of
// its units, and judges it.
func mergeSTRIP(t *suite.Target, cfg STRIPConfig, c *stripCommon, units []json.RawMessage) (*stripOutcome, error) {
	if len(c.NoiseShare) != 1 || len(c.PilotNoiseShare) != 1 {
		return nil, fmt.Errorf("the shards' plan has no noise shares")
	}
	o := &stripOutcome{Alpha: c.Alpha, Overlays: c.Overlays, Search: c.Search, Clean: c.Clean,
		NoiseShare: c.NoiseShare[0], PilotNoiseShare: c.PilotNoiseShare[0], Suggested: c.Suggested}
	read := func(from, n int, vars bool) ([]float64, []float64, error) {
		per, tasks := stripTasks(t, n, c.Overlays)
		if from+tasks > len(units) {
			return nil, nil, fmt.Errorf("%d units, want at least %d", len(units), from+tasks)
		}
		var h, v []float64
		for k := range tasks {
			var u stripUnit
			if err := json.Unmarshal(units[from+k], &u); err != nil {
				return nil, nil, fmt.Errorf("unit %d: %w", from+k, err)
			}
			m := min((k+1)*per, n) - k*per
			if len(u.H) != m || vars && len(u.Vars) != m {
				return nil, nil, fmt.Errorf("unit %d: %d scores for %d inputs", from+k, len(u.H), m)
			}
			h = append(h, u.H...)
			v = append(v, u.Vars...)
		}
		if h == nil {
			h = []float64{}
		}
		return h, v, nil
	}
	p := &stripPlan{o: o}
	tasks := 0
	if c.Rescore {
		h, vars, err := read(0, c.Hold, true)
		if err != nil {
			return nil, err
		}
		_, tasks = stripTasks(t, c.Hold, c.Overlays)
		p.scored(cfg, h, vars)
	} else if len(c.Clean) != c.Hold {
		return nil, fmt.Errorf("the shards' plan has %d clean scores for %d held-out inputs", len(c.Clean), c.Hold)
	}
	if c.Triggered < 0 {
		if tasks != len(units) {
			return nil, fmt.Errorf("%d units, want %d", len(units), tasks)
		}
		o.judge(cfg, nil)
		return o, nil
	}
	h, _, err := read(tasks, c.Triggered, false)
	if err != nil {
		return nil, err
	}
	if _, n := stripTasks(t, c.Triggered, c.Overlays); tasks+n != len(units) {
		return nil, fmt.Errorf("%d units, want %d", len(units), tasks+n)
	}
	o.judge(cfg, h)
	return o, nil
}

// mergeCleanse reads the classes' reversed triggers and reports them as
// runCleanse does.
func mergeCleanse(t *suite.Target, nc CleanseConfig, c *cleanseCommon, units []json.RawMessage, r *suite.Result) (map[string]any, error) {
	classes := cleanseClasses(nc, t.Classes)
	if len(units) != len(classes) {
		return nil, fmt.Errorf("%d units for the %d classes scanned", len(units), len(classes))
	}
	res := make([]*Reversed, len(units))
	for i, raw := range units {
		var u cleanseUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("unit %d: %w", i, err)
		}
		if u.Class != classes[i] || len(u.Mask) != c.H*c.W || len(u.Pattern) != c.C*c.H*c.W || len(u.L1) != 1 || len(u.Success) != 1 {
			return nil, fmt.Errorf("unit %d: class %d with %d mask and %d pattern values (want class %d, %d and %d)", i, u.Class, len(u.Mask), len(u.Pattern), classes[i], c.H*c.W, c.C*c.H*c.W)
		}
		res[i] = &Reversed{Class: u.Class, Mask: u.Mask, Pattern: u.Pattern, L1: u.L1[0], Success: u.Success[0], Reached: u.Reached}
	}
	return cleanseReport(t, nc, r, res, c.C, c.H, c.W)
}

// mergeSuscept reads the experiments' counts and reports them as
// runSusceptibility does.
func mergeSuscept(t *suite.Target, cfg *SusceptibilityConfig, c *susceptCommon, units []json.RawMessage, r *suite.Result) error {
	if len(c.Triggered) != len(cfg.Attacks) {
		return fmt.Errorf("the shards' common part has %d attacks, the config %d", len(c.Triggered), len(cfg.Attacks))
	}
	x := &susceptibility{tr: &data.Dataset{N: c.TrainN}, triggered: make([]*data.Dataset, len(cfg.Attacks))}
	for i, n := range c.Triggered {
		if n >= 0 {
			x.triggered[i] = &data.Dataset{N: n}
		}
	}
	x.exps = []*experiment{{attack: -1}}
	for i := range cfg.Attacks {
		for _, rate := range cfg.Rates {
			x.exps = append(x.exps, &experiment{attack: i, rate: rate})
		}
	}
	if len(units) != len(x.exps) {
		return fmt.Errorf("%d units for the %d experiments", len(units), len(x.exps))
	}
	for i, raw := range units {
		var u susceptUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("unit %d: %w", i, err)
		}
		if len(u.Hits) != len(cfg.Attacks) {
			return fmt.Errorf("unit %d: %d attack counts for %d attacks", i, len(u.Hits), len(cfg.Attacks))
		}
		e := x.exps[i]
		e.path, e.poisoned, e.correct, e.hits = u.Model, u.Poisoned, u.Correct, u.Hits
	}
	r.AddData("susceptibility.train", &data.Dataset{Files: suite.AbsFiles(t.BaseDir, c.Files)})
	tt := *t
	tt.Data = &data.Dataset{N: c.EvalN}
	x.report(&tt, cfg, r)
	return nil
}
