package poisoning

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite shards its Neural Cleanse scan only (docs/sharding.md): a
// unit is one class of the scan (neural_cleanse.classes, else every class,
// in order), its result the class's reversed trigger. The data methods,
// STRIP, the trigger's attack success rate and susceptibility need every
// row or every sample at once and do not shard yet: ShardRefusal names
// them, and the engine refuses the run before anything is loaded.

// ShardRefusal returns why cfg's poisoning block cannot run sharded ("":
// it can): anything but a model block whose only method is
// neural_cleanse, without a trigger.
func (Suite) ShardRefusal(cfgAny any) string {
	cfg := cfgAny.(Config)
	var no []string
	if cfg.Data != nil {
		no = append(no, "data")
	}
	if cfg.Susceptibility != nil {
		no = append(no, "susceptibility")
	}
	if m := cfg.Model; m != nil {
		for _, method := range m.Methods {
			if method != MethodCleanse {
				no = append(no, "model.methods "+method)
			}
		}
		if m.Trigger != nil {
			no = append(no, "model.trigger")
		}
	}
	if len(no) > 0 {
		return "only model.methods [neural_cleanse] shards, by class, not " + strings.Join(no, ", ")
	}
	if cfg.Model == nil || !hasMethod(cfg.Model.Methods, MethodCleanse) {
		return "only model.methods [neural_cleanse] shards, by class, and the block has none"
	}
	return ""
}

// shardCommon is what every shard computes alike: the images' dimensions.
type shardCommon struct {
	C int `json:"c"`
	H int `json:"h"`
	W int `json:"w"`
}

// shardUnit is one class's reversed trigger.
type shardUnit struct {
	Class   int          `json:"class"`
	Mask    suite.Floats `json:"mask"`
	Pattern suite.Floats `json:"pattern"`
	L1      suite.Floats `json:"l1"`
	Success suite.Floats `json:"success"`
	Reached bool         `json:"reached"`
}

// RunShard implements suite.Sharder for a Neural Cleanse scan (see
// above): the units are the scanned classes, in order.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	if why := s.ShardRefusal(cfg); why != "" {
		return 0, nil, errs.Invalidf("config suites.poisoning: a sharded or resumed run: %s", why)
	}
	if err := checkModel(t, cfg.Model); err != nil {
		return 0, nil, fmt.Errorf("model: %w", err)
	}
	ch, h, w, err := cleanseDims(t)
	if err != nil {
		return 0, nil, fmt.Errorf("model: neural cleanse: %w", err)
	}
	common, err := json.Marshal(shardCommon{C: ch, H: h, W: w})
	if err != nil {
		return 0, nil, err
	}
	nc := cfg.Model.NeuralCleanse
	classes := cleanseClasses(nc, t.Classes)
	lo, hi := sh.Range(len(classes))
	for _, r := range suite.Runs(suite.Pending(st, lo, hi)) {
		err := reverseClasses(ctx, t, nc, classes[r[0]:r[1]], ch, h, w, func(i int, rv *Reversed) error {
			raw, err := json.Marshal(shardUnit{Class: rv.Class, Mask: rv.Mask, Pattern: rv.Pattern,
				L1: suite.Floats{rv.L1}, Success: suite.Floats{rv.Success}, Reached: rv.Reached})
			if err != nil {
				return err
			}
			return st.Save(r[0]+i, raw)
		})
		if err != nil {
			return 0, nil, fmt.Errorf("model: neural cleanse: %w", err)
		}
	}
	return len(classes), common, nil
}

// Merge implements suite.Sharder: the anomaly indices, flags, details and
// PNGs from every class's trigger, as Run computes them.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("poisoning: shard common part: %w", err)
	}
	nc := cfg.Model.NeuralCleanse
	classes := cleanseClasses(nc, t.Classes)
	if len(results) != len(classes) {
		return nil, fmt.Errorf("poisoning: %d units for the %d classes scanned", len(results), len(classes))
	}
	res := make([]*Reversed, len(results))
	for i, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("poisoning: unit %d: %w", i, err)
		}
		if u.Class != classes[i] || len(u.Mask) != cm.H*cm.W || len(u.Pattern) != cm.C*cm.H*cm.W || len(u.L1) != 1 || len(u.Success) != 1 {
			return nil, fmt.Errorf("poisoning: unit %d: class %d with %d mask and %d pattern values (want class %d, %d and %d)", i, u.Class, len(u.Mask), len(u.Pattern), classes[i], cm.H*cm.W, cm.C*cm.H*cm.W)
		}
		res[i] = &Reversed{Class: u.Class, Mask: u.Mask, Pattern: u.Pattern, L1: u.L1[0], Success: u.Success[0], Reached: u.Reached}
	}
	r := suite.NewResult()
	nd, err := cleanseReport(t, nc, r, res, cm.C, cm.H, cm.W)
	if err != nil {
		return nil, fmt.Errorf("model: neural cleanse: %w", err)
	}
	r.Details["model"] = map[string]any{MethodCleanse: nd}
	return r, nil
}
