package drift

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units (docs/sharding.md), numbered in this order:
//
//   - one per tested feature (testedFeatures' order): its test, from the
//     feature's column in both sets;
//   - with mmd on, one for the MMD: the activations of the seeded
//     subsamples of both sets (at most mmd_samples each); the
//     permutation test runs in the merge, on the random stream Run uses;
//   - one per batch of runtime.batch_size evaluation samples, in data
//     order: each sample's predicted class, label, sensitive values and
//     shift feature values, from which the merge computes accuracy,
//     selection-rate gaps and the simulated shift (its quantile
//     thresholds need every sample).

// shardCommon is what every shard computes alike: the tested features,
// both sets' sizes, whether the evaluation data has labels and the
// reference data's files (provenance; paths relative to the config's
// folder, suite.RelFiles).
type shardCommon struct {
	Tested   []string    `json:"tested"`
	RefN     int         `json:"reference_samples"`
	N        int         `json:"samples"`
	Labels   bool        `json:"labels"`
	RefFiles []data.File `json:"reference_files"`
}

// shiftBatch is one evaluation batch's part of the shift: per sample its
// predicted class, label (none without labels), sensitive values (one
// column per sensitive) and shift feature values (one per shift feature).
type shiftBatch struct {
	Pred   []int32        `json:"pred"`
	Y      []int64        `json:"y,omitempty"`
	Sens   [][]string     `json:"sensitive,omitempty"`
	Values []suite.Floats `json:"values"`
}

// shardUnit is a unit's result: exactly one of its fields is set.
type shardUnit struct {
	Feature *featureResult `json:"feature,omitempty"`
	MMD     *mmdActs       `json:"mmd,omitempty"`
	Shift   *shiftBatch    `json:"shift,omitempty"`
}

// layout returns the unit counts of the parts: features, MMD (0 or 1)
// and evaluation batches.
func layout(cfg Config, t *suite.Target, features, n int) (nf, nm, nb int) {
	nm = 0
	if cfg.MMD != MMDOff {
		nm = 1
	}
	return features, nm, t.Batches(n)
}

// RunShard implements suite.Sharder: it loads the reference, then runs
// the units of sh's block that st does not hold, saving each as it
// finishes.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	ref, err := loadReference(cfg, t)
	if err != nil {
		return 0, nil, err
	}
	names := featureNames(d)
	tested := testedFeatures(cfg, names)
	common, err := json.Marshal(shardCommon{Tested: tested, RefN: ref.N, N: d.N, Labels: d.Y != nil, RefFiles: suite.RelFiles(t.BaseDir, ref.Files)})
	if err != nil {
		return 0, nil, err
	}
	nf, nm, nb := layout(cfg, t, len(tested), d.N)
	units := nf + nm + nb
	lo, hi := sh.Range(units)
	var batches []int
	for _, u := range suite.Pending(st, lo, hi) {
		switch {
		case u < nf:
			fr := testFeature(cfg, ref, d, tested[u], names)
			if err := suite.SaveUnit(st, u, shardUnit{Feature: &fr}); err != nil {
				return 0, nil, err
			}
		case u < nf+nm:
			acts, err := mmdActivations(ctx, cfg, t, ref, d)
			if err != nil {
				return 0, nil, err
			}
			if err := suite.SaveUnit(st, u, shardUnit{MMD: acts}); err != nil {
				return 0, nil, err
			}
		default:
			batches = append(batches, u-nf-nm)
		}
	}
	k := t.Classes
	for _, r := range suite.Runs(batches) {
		err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, blo, bhi int, out []float32) error {
			sb := &shiftBatch{Pred: make([]int32, bhi-blo)}
			for i := range sb.Pred {
				sb.Pred[i] = int32(stats.Argmax(out[i*k : (i+1)*k]))
			}
			if d.Y != nil {
				sb.Y = d.Y[blo:bhi]
			}
			for _, c := range cfg.Sensitive {
				sb.Sens = append(sb.Sens, d.Columns[c][blo:bhi])
			}
			for _, v := range shiftValues(cfg, d, blo, bhi) {
				sb.Values = append(sb.Values, v)
			}
			return suite.SaveUnit(st, nf+nm+b, shardUnit{Shift: sb})
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: the features' tests, the MMD's
// permutation test on the subsamples' activations and the shift's figures
// over every evaluation sample, reduced as Run reduces them.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("drift: shard common part: %w", err)
	}
	nf, nm, nb := layout(cfg, t, len(cm.Tested), cm.N)
	if len(results) != nf+nm+nb {
		return nil, fmt.Errorf("drift: %d units for %d features, %d MMD and %d batches of %d samples", len(results), nf, nm, nb, cm.N)
	}
	us := make([]shardUnit, len(results))
	for u, raw := range results {
		if err := json.Unmarshal(raw, &us[u]); err != nil {
			return nil, fmt.Errorf("drift: unit %d: %w", u, err)
		}
	}
	r := suite.NewResult()
	r.AddData("reference", &data.Dataset{Files: suite.AbsFiles(t.BaseDir, cm.RefFiles)})
	frs := make([]featureResult, nf)
	for u := range nf {
		fr := us[u].Feature
		if fr == nil || fr.Feature != cm.Tested[u] || len(fr.PSIStatP) != 3 {
			return nil, fmt.Errorf("drift: unit %d is not feature %s's test", u, cm.Tested[u])
		}
		frs[u] = *fr
	}
	reduceFeatures(r, cfg, frs, cm.RefN, cm.N)
	if nm == 1 {
		acts := us[nf].MMD
		if acts == nil || len(acts.A) != acts.NA*acts.Dim || len(acts.B) != acts.NB*acts.Dim {
			return nil, fmt.Errorf("drift: unit %d is not the MMD's activations", nf)
		}
		reduceMMD(r, cfg, acts, t.Seed, cm.RefN, cm.N)
	}
	pred := make([]int32, 0, cm.N)
	var y []int64
	if cm.Labels {
		y = make([]int64, 0, cm.N)
	}
	sens := make([][]string, len(cfg.Sensitive))
	values := make([][]float64, len(cfg.Shift.Features))
	for b := range nb {
		sb := us[nf+nm+b].Shift
		lo, hi := t.BatchRange(b, cm.N)
		n := hi - lo
		if sb == nil || len(sb.Pred) != n || (cm.Labels && len(sb.Y) != n) || len(sb.Sens) != len(sens) || len(sb.Values) != len(values) {
			return nil, fmt.Errorf("drift: unit %d is not evaluation batch %d's %d samples", nf+nm+b, b, n)
		}
		pred = append(pred, sb.Pred...)
		if cm.Labels {
			y = append(y, sb.Y...)
		}
		for j := range sens {
			if len(sb.Sens[j]) != n {
				return nil, fmt.Errorf("drift: unit %d: sensitive column %s has %d values for %d samples", nf+nm+b, cfg.Sensitive[j], len(sb.Sens[j]), n)
			}
			sens[j] = append(sens[j], sb.Sens[j]...)
		}
		for j := range values {
			if len(sb.Values[j]) != n {
				return nil, fmt.Errorf("drift: unit %d: shift feature %s has %d values for %d samples", nf+nm+b, cfg.Shift.Features[j], len(sb.Values[j]), n)
			}
			values[j] = append(values[j], sb.Values[j]...)
		}
	}
	if err := reduceShift(r, cfg, y, pred, sens, values); err != nil {
		return nil, err
	}
	return r, nil
}
