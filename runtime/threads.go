package runtime

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// PlanThreads splits cores between w worker goroutines (one Runner each) and
// t ONNX Runtime intra-op threads for the shared Session. workers and intra
// are the configured values (runtime.workers, runtime.intra_op_threads);
// 0 means auto, negative is an errs.Invalid error.
//
// Auto never oversubscribes: w × t ≤ cores. With both auto it gives every
// core its own worker with one intra-op thread (w = cores, t = 1). The
// choice rests on BenchmarkThreadSplit: Pool + Runners over 2048 samples in
// batches of 256 on the MNIST CNN (shared/fixtures/vision/mnist_cnn.onnx,
// ORT 1.30.0 CPU), the splits interleaved in one process, 16 passes each,
// on the 2-core development machine while other builds ran on it (load
// average 1.7–2.2). Five runs, samples/s:
//
//	2 workers × 1 thread : 19.6k 32.5k 24.2k 26.4k 32.3k  mean 27.0k
//	1 worker  × 2 threads: 13.3k 36.2k 22.3k 23.1k 36.9k  mean 26.4k
//	2 workers × 2 threads: 14.7k 24.2k 18.2k 18.9k 23.3k  (oversubscribed)
//	1 worker  × 1 thread : 14.2k 20.3k 18.0k 16.1k 19.8k
//
// 1×2 is up to 12 % faster when the machine is quiet but loses more under
// load (ONNX Runtime's pool threads spin and wait on each other), where 2×1
// wins in three runs of five by 9–47 %. One-thread workers need no
// cross-thread synchronisation and scale with cores, so auto picks them.
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
	return true, fmt.Sprintf("runtime: %d workers × %d intra-op threads = %d threads on %d cores; throughput usually drops when oversubscribed", w, t, w*t, cores)
}
