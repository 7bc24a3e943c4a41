package membership

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units, in order (docs/sharding.md): the batches of
// runtime.batch_size members, then the batches of the nonmembers, then,
// when the lira attack is configured, one unit per reference model (its φ
// of every member and nonmember). The attacks themselves, which need every
// sample (ROC curves, cross-validation folds, LiRA's per-sample Gaussians),
// run in Merge.

// shardCommon is what every shard computes alike: the set sizes, the count
// of top probabilities the learned attack reads, and the sets' files.
type shardCommon struct {
	Members    int         `json:"members"`
	Nonmembers int         `json:"nonmembers"`
	Top        int         `json:"top"`
	MemFiles   []data.File `json:"member_files,omitempty"`
	NonFiles   []data.File `json:"nonmember_files,omitempty"`
	// Box is the boundary_distance search's clip range (boundaryBox of
	// both sets), when that attack runs.
	Box []float64 `json:"box,omitempty"`
}

// shardUnit is one unit's result. A member or nonmember batch holds its
// samples' labels, the per-sample scores (learn.Scores, field by field),
// their top probabilities (Top per sample) and their by-column values; a
// reference model's unit holds Phi only, one value per member then
// nonmember.
type shardUnit struct {
	Y           []int64             `json:"y,omitempty"`
	LogPY       suite.Floats        `json:"log_py,omitempty"`
	LogConf     suite.Floats        `json:"log_conf,omitempty"`
	NegEntropy  suite.Floats        `json:"neg_entropy,omitempty"`
	NegMEntropy suite.Floats        `json:"neg_mentropy,omitempty"`
	Phi         suite.Floats        `json:"phi,omitempty"`
	Correct     []bool              `json:"correct,omitempty"`
	Top         suite.Floats        `json:"top,omitempty"`
	By          map[string][]string `json:"by,omitempty"`
	// Boundary, BoundaryQueries and BoundaryFound are the boundary_distance
	// search's per-sample results (boundaryOut), when that attack runs.
	Boundary        suite.Floats `json:"boundary,omitempty"`
	BoundaryQueries []int32      `json:"boundary_queries,omitempty"`
	BoundaryFound   []bool       `json:"boundary_found,omitempty"`
}

// layout returns the unit counts of the members' and nonmembers' batches
// and of the reference models, for sets of nm and nn samples.
func layout(t *suite.Target, cfg Config, nm, nn int) (bm, bn, refs int) {
	if slices.Contains(cfg.Attacks, LiRA) {
		refs = len(cfg.ReferenceModels)
	}
	return t.Batches(nm), t.Batches(nn), refs
}

// RunShard implements suite.Sharder (see the units above).
func (Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	mem, non, top, err := prepare(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	boundary := slices.Contains(cfg.Attacks, BoundaryDistance)
	var box []float64
	if boundary {
		b := boundaryBox(t, mem, non)
		box = b[:]
	}
	common, err := json.Marshal(shardCommon{Members: mem.N, Nonmembers: non.N, Top: top, MemFiles: mem.Files, NonFiles: non.Files, Box: box})
	if err != nil {
		return 0, nil, err
	}
	bm, bn, refs := layout(t, cfg, mem.N, non.N)
	units := bm + bn + refs
	lo, hi := sh.Range(units)
	k := t.Classes
	probs := t.OutputKind == runtime.Probabilities
	for _, set := range []struct {
		name  string
		d     *data.Dataset
		first int
		n     int
	}{{"members", mem, 0, bm}, {"nonmembers", non, bm, bn}} {
		plo, phi := max(lo, set.first), min(hi, set.first+set.n)
		if plo >= phi {
			continue
		}
		d := set.d
		var bd boundaryOut
		if boundary {
			bd = newBoundaryOut(d.N)
		}
		for _, r := range suite.Runs(suite.Pending(st, plo, phi)) {
			if boundary {
				// The search's results of these batches, saved with them;
				// progress is the units', reported as they are saved.
				quiet := *t
				quiet.Pool.Progress = nil
				if err := boundaryBatches(ctx, &quiet, d, set.name, r[0]-set.first, r[1]-set.first, cfg.BoundaryQueries, [2]float64{box[0], box[1]}, bd); err != nil {
					return 0, nil, fmt.Errorf("attack %s: %s: %w", BoundaryDistance, set.name, err)
				}
			}
			err := suite.ForBatches(ctx, t, d, r[0]-set.first, r[1]-set.first, func(b, rlo, rhi int, o []float32) error {
				n := rhi - rlo
				sc := make([]learn.Scores, n)
				tops := make([]float64, n*top)
				scoreBatch(sc, tops, o, d.Y[rlo:rhi], k, top, probs)
				u := shardUnit{Y: d.Y[rlo:rhi], LogPY: make([]float64, n), LogConf: make([]float64, n), NegEntropy: make([]float64, n),
					NegMEntropy: make([]float64, n), Phi: make([]float64, n), Correct: make([]bool, n), Top: tops}
				for i, s := range sc {
					u.LogPY[i], u.LogConf[i], u.NegEntropy[i], u.NegMEntropy[i], u.Phi[i], u.Correct[i] = s.LogPY, s.LogConf, s.NegEntropy, s.NegMEntropy, s.Phi, s.Correct
				}
				if boundary {
					u.Boundary, u.BoundaryQueries, u.BoundaryFound = bd.Dist[rlo:rhi], bd.Queries[rlo:rhi], bd.Found[rlo:rhi]
				}
				if cfg.By.Enabled() {
					u.By = map[string][]string{}
					for _, c := range cfg.By.Columns {
						u.By[c] = d.Columns[c][rlo:rhi]
					}
				}
				return suite.SaveUnit(st, set.first+b, u)
			})
			if err != nil {
				return 0, nil, fmt.Errorf("%s: %w", set.name, err)
			}
		}
	}
	// A reference model's unit reports progress once, as one unit, not
	// per batch of its pass.
	quiet := *t
	quiet.Pool.Progress = nil
	r := &run{cfg: cfg, t: &quiet, mem: mem, non: non}
	n := mem.N + non.N
	rlo := max(lo, bm+bn)
	for u := rlo; u < hi; u++ {
		if _, ok := st.Load(u); ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		phi := make([]float64, n)
		if err := r.referencePhi(ctx, u-bm-bn, phi); err != nil {
			return 0, nil, fmt.Errorf("attack lira: %w", err)
		}
		if err := suite.SaveUnit(st, u, shardUnit{Phi: phi}); err != nil {
			return 0, nil, err
		}
		if p := t.Pool.Progress; p != nil {
			p(u-rlo+1, hi-rlo)
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the members' and nonmembers'
// scores in order, reads the reference models' φ and runs the attacks as
// Run does.
func (Suite) Merge(ctx context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("membership: shard common part: %w", err)
	}
	bm, bn, refs := layout(t, cfg, cm.Members, cm.Nonmembers)
	if len(results) != bm+bn+refs {
		return nil, fmt.Errorf("membership: %d units, want %d (%d member and %d nonmember batches, %d reference models)", len(results), bm+bn+refs, bm, bn, refs)
	}
	units := make([]shardUnit, len(results))
	for i, raw := range results {
		if err := json.Unmarshal(raw, &units[i]); err != nil {
			return nil, fmt.Errorf("membership: unit %d: %w", i, err)
		}
	}
	n := cm.Members + cm.Nonmembers
	scores := make([]learn.Scores, 0, n)
	var top []float64
	boundary := slices.Contains(cfg.Attacks, BoundaryDistance)
	var bd boundaryOut
	if boundary && len(cm.Box) != 2 {
		return nil, fmt.Errorf("membership: shard common part has no boundary_distance box")
	}
	sets := []*data.Dataset{
		{N: cm.Members, Files: cm.MemFiles, Columns: map[string][]string{}},
		{N: cm.Nonmembers, Files: cm.NonFiles, Columns: map[string][]string{}},
	}
	for i, u := range units[:bm+bn] {
		d := sets[0]
		if i >= bm {
			d = sets[1]
		}
		m := len(u.Y)
		if len(u.LogPY) != m || len(u.LogConf) != m || len(u.NegEntropy) != m || len(u.NegMEntropy) != m || len(u.Phi) != m ||
			len(u.Correct) != m || len(u.Top) != m*cm.Top {
			return nil, fmt.Errorf("membership: unit %d: %d labels with %d/%d/%d/%d/%d scores, %d outcomes, %d top probabilities", i, m,
				len(u.LogPY), len(u.LogConf), len(u.NegEntropy), len(u.NegMEntropy), len(u.Phi), len(u.Correct), len(u.Top))
		}
		d.Y = append(d.Y, u.Y...)
		for j := range m {
			scores = append(scores, learn.Scores{LogPY: u.LogPY[j], LogConf: u.LogConf[j], NegEntropy: u.NegEntropy[j],
				NegMEntropy: u.NegMEntropy[j], Phi: u.Phi[j], Correct: u.Correct[j]})
		}
		top = append(top, u.Top...)
		if boundary {
			if len(u.Boundary) != m || len(u.BoundaryQueries) != m || len(u.BoundaryFound) != m {
				return nil, fmt.Errorf("membership: unit %d: %d samples with %d/%d/%d boundary results", i, m, len(u.Boundary), len(u.BoundaryQueries), len(u.BoundaryFound))
			}
			bd.Dist = append(bd.Dist, u.Boundary...)
			bd.Queries = append(bd.Queries, u.BoundaryQueries...)
			bd.Found = append(bd.Found, u.BoundaryFound...)
		}
		for _, c := range cfg.By.Columns {
			if len(u.By[c]) != m {
				return nil, fmt.Errorf("membership: unit %d: by column %s has %d values for %d samples", i, c, len(u.By[c]), m)
			}
			d.Columns[c] = append(d.Columns[c], u.By[c]...)
		}
	}
	for _, d := range sets {
		if len(d.Y) != d.N {
			return nil, fmt.Errorf("membership: the units hold %d of %d samples of a set", len(d.Y), d.N)
		}
	}
	if top == nil {
		top = []float64{}
	}
	r := newRun(cfg, t, sets[0], sets[1], scores, top, cm.Top)
	if boundary {
		r.bd, r.box = bd, [2]float64{cm.Box[0], cm.Box[1]}
	}
	if refs > 0 {
		r.phi = make([]float64, 0, refs*n)
		for k, u := range units[bm+bn:] {
			if len(u.Phi) != n {
				return nil, fmt.Errorf("membership: reference model %d's unit holds %d φ values for %d samples", k, len(u.Phi), n)
			}
			r.phi = append(r.phi, u.Phi...)
		}
	}
	return r.finish(ctx)
}
