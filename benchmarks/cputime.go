package benchmarks

import "time"

// ProcessCPU returns the CPU time (user + system) the process has used so
// far, all threads together, and false where it cannot be read.
func ProcessCPU() (time.Duration, bool) { return processCPU() }
