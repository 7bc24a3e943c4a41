//go:build !unix

package benchmarks

import "time"

// processCPU reports false: process CPU time is read on unix systems only.
func processCPU() (time.Duration, bool) { return 0, false }
