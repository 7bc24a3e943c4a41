package evasion

import (
	"strings"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// Attack batch sizing (suites.evasion.batch_size; docs/metrics/evasion.md).
const (
	// maxAttackBatch bounds the default attack batch.
	maxAttackBatch = 1024
	// attackBatchBytes bounds one batch of float32 inputs under the default
	// rule: 16 MiB, so a 3×224×224 input gets 16 samples and MNIST 1024
	// (capped by runtime.batch_size).
	attackBatchBytes = 16 << 20
)

// batchChoice is the attack batch of a run and how it was settled
// (details.batch).
type batchChoice struct {
	size   int
	source string // "config" or "rule"
	// halved lists the sizes that failed with an out-of-memory error, in
	// the order they were tried.
	halved []int
}

func (b batchChoice) details() map[string]any {
	d := map[string]any{"size": b.size, "source": b.source}
	if len(b.halved) > 0 {
		d["out_of_memory_at"] = append([]int(nil), b.halved...)
	}
	return d
}

// attackBatch settles the attack batch: suites.evasion.batch_size when
// set, else the rule: the largest power of two b ≤ maxAttackBatch whose
// batch of float32 inputs (b·dim·4 bytes) fits attackBatchBytes, and not
// above runtime.batch_size. It depends on the data's shape and the config
// only, never on timing, so the per-batch random streams
// (suite.BatchRand) and with them the results are the same on every
// machine.
func attackBatch(t *suite.Target, cfg Config, dim int) batchChoice {
	if cfg.BatchSize > 0 {
		return batchChoice{size: cfg.BatchSize, source: "config"}
	}
	b := maxAttackBatch
	for b > 1 && b*max(dim, 1)*4 > attackBatchBytes {
		b /= 2
	}
	if t.BatchSize > 0 && t.BatchSize < b {
		b = t.BatchSize
	}
	return batchChoice{size: b, source: "rule"}
}

// isOOM reports whether err is an out-of-memory failure of ONNX Runtime:
// its CUDA allocator's "out of memory" (CUDA failure 2), the BFC arena's
// "Failed to allocate memory for requested buffer" and "Available memory
// of … is smaller than requested bytes".
func isOOM(err error) bool {
	if err == nil {
		return false
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "out of memory") || strings.Contains(s, "failed to allocate memory") ||
		strings.Contains(s, "available memory of")
}
