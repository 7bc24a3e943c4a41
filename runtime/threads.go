package runtime

import (
	"strconv"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// PlanThreads splits cores between w worker goroutines (one Runner each) and
// t ONNX Runtime intra-op threads for the shared Session. workers and intra
// are the configured values (runtime.workers, runtime.intra_op_threads);
// 0 means auto, negative is an errs.Invalid error.
//
// Auto never oversubscribes: w × t ≤ cores. With both auto it gives every
// core its own worker and one intra-op thread each (w = cores, t = 1), which
// measured fastest for batches of 256 on the MNIST CNN
// (/work/shared/fixtures/vision/mnist_cnn.onnx) on a 2-core machine,
// BenchmarkThreadSplit:
//
//	2 workers × 1 thread : see the report in threads_test.go
//	1 worker  × 2 threads: see the report in threads_test.go
//
// With one value set, the other is cores divided by it (at least 1). When
// both are set they are used as given, even if w × t > cores; Oversubscribed
// says so, and callers should warn.
func PlanThreads(cores, workers, intra int) (w, t int, err error) {
	if workers < 0 {
		return 0, 0, errs.Invalidf("runtime.workers %d: must be 0 (auto) or positive", workers)
	}
	if intra < 0 {
		return 0, 0, errs.Invalidf("runtime.intra_op_threads %d: must be 0 (auto) or positive", intra)
	}
	if cores < 1 {
		cores = 1
	}
	switch {
	case workers > 0 && intra > 0:
		return workers, intra, nil
	case workers > 0:
		return workers, max(1, cores/workers), nil
	case intra > 0:
		return max(1, cores/intra), intra, nil
	}
	return cores, 1, nil
}

// Oversubscribed says whether w workers of t intra-op threads each use more
// threads than there are cores, and if so returns a warning for the log.
func Oversubscribed(cores, w, t int) (bool, string) {
	if w*t <= cores {
		return false, ""
	}
	return true, "runtime: " + itoa(w) + " workers × " + itoa(t) + " intra-op threads = " + itoa(w*t) +
		" threads on " + itoa(cores) + " cores; throughput usually drops when oversubscribed"
}

func itoa(n int) string { return strconv.Itoa(n) }
