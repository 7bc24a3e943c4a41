package attribute

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// shardCommon is what every shard of the suite computes alike: the row
// count, the attacker's feature names and the suite's own data files.
type shardCommon struct {
	N        int         `json:"n"`
	Features []string    `json:"features"`
	Withheld []string    `json:"withheld"`
	Files    []data.File `json:"files,omitempty"`
}

// shardUnit is one unit's rows (a batch of runtime.batch_size rows of the
// suite's data): the model's log probabilities, the features the attacker
// sees and the sensitive value, row after row.
type shardUnit struct {
	LogP      suite.Floats `json:"logp"`
	FX        suite.Floats `json:"features"`
	Sensitive []string     `json:"sensitive"`
}

// RunShard implements suite.Sharder: the units are the batches of the
// suite's data (its data block, else the run's), in order. A unit's result
// is its rows' model outputs; the attack itself, which needs every row
// (cross-validation folds), runs in Merge.
func (Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	in := p.input(t.Classes)
	common, err := json.Marshal(shardCommon{N: p.d.N, Features: in.Features, Withheld: in.Withheld, Files: in.Files})
	if err != nil {
		return 0, nil, err
	}
	units := t.Batches(p.d.N)
	lo, hi := sh.Range(units)
	c := t.Classes
	probs := t.OutputKind == runtime.Probabilities
	size := p.d.SampleSize()
	for _, r := range suite.Runs(suite.Pending(st, lo, hi)) {
		err := suite.ForBatches(ctx, t, p.d, r[0], r[1], func(b, rlo, rhi int, o []float32) error {
			u := shardUnit{LogP: make([]float64, (rhi-rlo)*c), FX: make([]float64, 0, (rhi-rlo)*len(p.feats)),
				Sensitive: p.col[rlo:rhi]}
			z := make([]float64, c)
			for i := rlo; i < rhi; i++ {
				learn.Logits(z, o[(i-rlo)*c:(i-rlo+1)*c], probs)
				learn.LogSoftmax(u.LogP[(i-rlo)*c:(i-rlo+1)*c], z)
				for _, j := range p.feats {
					u.FX = append(u.FX, float64(p.d.X[i*size+j]))
				}
			}
			return suite.SaveUnit(st, b, u)
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the units' rows in order and
// runs the attack on them, as Run does.
func (Suite) Merge(ctx context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("attribute_inference: shard common part: %w", err)
	}
	in := attackInput{N: cm.N, Features: cm.Features, Withheld: cm.Withheld, Files: cm.Files}
	c, nf := t.Classes, len(cm.Features)
	for i, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("attribute_inference: unit %d: %w", i, err)
		}
		rows := len(u.Sensitive)
		if len(u.LogP) != rows*c || len(u.FX) != rows*nf {
			return nil, fmt.Errorf("attribute_inference: unit %d: %d rows with %d log probabilities and %d feature values (want %d and %d)", i, rows, len(u.LogP), len(u.FX), rows*c, rows*nf)
		}
		in.LogP = append(in.LogP, u.LogP...)
		in.FX = append(in.FX, u.FX...)
		in.Sensitive = append(in.Sensitive, u.Sensitive...)
	}
	if len(in.Sensitive) != cm.N {
		return nil, fmt.Errorf("attribute_inference: the units hold %d rows, the data %d", len(in.Sensitive), cm.N)
	}
	return finish(ctx, t, cfg, in)
}
