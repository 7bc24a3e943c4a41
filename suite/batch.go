package suite

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
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
	n := d.N
	nb := t.Batches(n)
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
	return pool.Run(ctx, nb, func(ctx context.Context, w, b int) error {
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
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		Result:           dst,
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		return errs.WithCode(errs.Invalid, decodeError("suites."+suite, err))
	}
	return nil
}

// decodeError rewrites mapstructure's report ("decoding failed due to the
// following error(s):\n\n'attacks[0]' has invalid keys: epz") so that
// each problem names its full config key: "suites.evasion.attacks[0]:
// unknown key(s): epz".
func decodeError(prefix string, err error) error {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "error(s):"); ok {
		msg = rest
	}
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key := prefix
		if strings.HasPrefix(line, "'") {
			if end := strings.Index(line[1:], "'"); end >= 0 {
				if field := line[1 : 1+end]; field != "" {
					key += "." + field
				}
				line = strings.TrimSpace(line[2+end:])
			}
		}
		line = strings.Replace(line, "has invalid keys:", "unknown key(s):", 1)
		parts = append(parts, key+": "+line)
	}
	if len(parts) == 0 {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}
