package suite

import (
	"context"
	"fmt"

	"github.com/go-viper/mapstructure/v2"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/decode"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// BatchFunc receives the model outputs for samples [lo, hi) of batch b:
// (hi-lo)×classes values, valid only during the call.
type BatchFunc func(b, lo, hi int, out []float32) error

// ForEachBatch runs the model on every batch of d on t's worker pool, one
// Runner per worker, and calls fn with each batch's outputs. fn runs
// concurrently for different batches; write results into per-batch slots
// and reduce them in batch order afterwards, so results do not depend on
// the worker count.
func ForEachBatch(ctx context.Context, t *Target, d *data.Dataset, fn BatchFunc) error {
	return ForBatches(ctx, t, d, 0, t.Batches(d.N), fn)
}

// ForBatches is ForEachBatch over batches [b0, b1) of d only (a shard's
// block of batches, or the batches a resumed run has yet to do): batch b
// holds the same samples as in ForEachBatch, so its outputs and BatchRand
// stream are those of the whole run.
func ForBatches(ctx context.Context, t *Target, d *data.Dataset, b0, b1 int, fn BatchFunc) error {
	n := d.N
	nb := max(0, b1-b0)
	if nb == 0 {
		return nil
	}
	workers := max(1, min(t.Pool.Workers, nb))
	runners := make([]*runtime.Runner, workers)
	defer func() {
		for _, r := range runners {
			if r != nil {
				r.Close()
			}
		}
	}()
	for w := range runners {
		r, err := t.Session.NewRunner(t.BatchSize)
		if err != nil {
			return fmt.Errorf("create runner: %w", err)
		}
		runners[w] = r
	}
	size := d.SampleSize()
	pool := t.Pool
	pool.Workers = workers
	return pool.Run(ctx, nb, func(ctx context.Context, w, j int) error {
		b := b0 + j
		lo, hi := t.BatchRange(b, n)
		out, err := runners[w].Run(ctx, d.X[lo*size:hi*size], hi-lo)
		if err != nil {
			return fmt.Errorf("batch %d (samples %d..%d): %w", b, lo, hi-1, err)
		}
		return fn(b, lo, hi, out)
	})
}

// DecodeConfig decodes a suite's raw config block into dst (a pointer to a
// struct with mapstructure tags). Unknown keys and wrong types are errors
// with exit code 2 that name the suite and the key.
func DecodeConfig(suite string, raw map[string]any, dst any) error {
	_, err := DecodeConfigKeys(suite, raw, dst)
	return err
}

// DecodeConfigKeys is DecodeConfig that also returns the keys the block
// sets, as paths below the block ("steps", "attacks[0].steps",
// "model.strip.overlays"), so that a decoder can tell a key set to its
// zero value from an absent one: a zero may stand for "the default" only
// when the key is absent (docs/config.md). A key with no value (`steps:`)
// counts as absent.
func DecodeConfigKeys(suite string, raw map[string]any, dst any) (map[string]bool, error) {
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		DecodeHook:       decode.UnsignedHook,
		Metadata:         &md,
		Result:           dst,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(raw); err != nil {
		return nil, errs.WithCode(errs.Invalid, decode.Error("suites."+suite, err))
	}
	keys := make(map[string]bool, len(md.Keys))
	for _, k := range md.Keys {
		keys[k] = true
	}
	return keys, nil
}
