package inversion

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// shardCommon is what every shard computes alike: the reference class
// means and counts, the image geometry, the gradient source and the
// reference data's files.
type shardCommon struct {
	Means   suite.Floats32 `json:"means"`
	Counts  []int          `json:"counts"`
	Sample  []int          `json:"sample_shape"`
	Image   [3]int         `json:"image"` // channels, height, width
	IsImage bool           `json:"is_image"`
	Mode    string         `json:"gradient"`
	Reason  string         `json:"gradient_reason,omitempty"`
	Files   []data.File    `json:"files,omitempty"`
}

// shardUnit is one batch of classes: their starting images,
// reconstructions and final probabilities.
type shardUnit struct {
	Start suite.Floats32 `json:"start"`
	X     suite.Floats32 `json:"x"`
	Prob  suite.Floats   `json:"probability"`
}

// RunShard implements suite.Sharder: the units are the batches of
// runtime.batch_size classes that descend together (as in Run, so a
// class's reconstruction is the same whichever shard runs it).
func (Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(t, cfg)
	if err != nil {
		return 0, nil, err
	}
	defer p.close()
	common, err := json.Marshal(shardCommon{Means: p.means, Counts: p.counts, Sample: p.sample, Image: [3]int{p.ch, p.h, p.w},
		IsImage: p.isImage, Mode: p.mode, Reason: p.reason, Files: p.refFiles})
	if err != nil {
		return 0, nil, err
	}
	units := p.tasks(t)
	lo, hi := sh.Range(units)
	todo := suite.Pending(st, lo, hi)
	err = t.Pool.Run(ctx, len(todo), func(ctx context.Context, _, i int) error {
		task := todo[i]
		c0, c1 := p.taskRange(t, task)
		start := p.start[c0*p.d : c1*p.d]
		x := append([]float32(nil), start...)
		prob := make([]float64, c1-c0)
		if err := p.descend(ctx, t, cfg, c0, c1, x, prob); err != nil {
			return err
		}
		return suite.SaveUnit(st, task, shardUnit{Start: start, X: x, Prob: prob})
	})
	if err != nil {
		return 0, nil, err
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the classes' reconstructions in
// order and measures them as Run does. The artifacts (reconstructions,
// class means, PNGs, montage) are written to the merge's output folder.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("inversion: shard common part: %w", err)
	}
	classes := cfg.classes(t.Classes)
	d := 1
	for _, s := range cm.Sample {
		d *= s
	}
	p := &prepared{classes: classes, sample: cm.Sample, d: d, ch: cm.Image[0], h: cm.Image[1], w: cm.Image[2], isImage: cm.IsImage,
		means: cm.Means, counts: cm.Counts, mode: cm.Mode, reason: cm.Reason, refFiles: cm.Files, lo: t.Range[0], hi: t.Range[1]}
	if len(cm.Counts) != t.Classes || len(cm.Means) != t.Classes*d {
		return nil, fmt.Errorf("inversion: shard common part has %d class counts and %d mean values for %d classes of %d values", len(cm.Counts), len(cm.Means), t.Classes, d)
	}
	var x []float32
	var prob []float64
	for i, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("inversion: unit %d: %w", i, err)
		}
		if len(u.X) != len(u.Prob)*d || len(u.Start) != len(u.X) {
			return nil, fmt.Errorf("inversion: unit %d: %d probabilities, %d and %d image values (want %d values per class)", i, len(u.Prob), len(u.X), len(u.Start), d)
		}
		p.start = append(p.start, u.Start...)
		x = append(x, u.X...)
		prob = append(prob, u.Prob...)
	}
	if len(prob) != len(classes) {
		return nil, fmt.Errorf("inversion: the units hold %d classes, the config %d", len(prob), len(classes))
	}
	return p.finish(t, cfg, x, prob)
}
