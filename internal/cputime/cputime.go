// Package cputime reads the process's CPU time, for benchmarks that run on
// shared machines: wall time per operation swings with whatever else the
// machine runs, CPU time per operation much less, so benchmarks report it
// next to ns/op as "cpu-ns/op".
package cputime

import "time"

// PerOp is the CPU time per operation since start, in nanoseconds, for
// testing.B.ReportMetric(cputime.PerOp(start, n), "cpu-ns/op").
func PerOp(start time.Duration, n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(Now()-start) / float64(n)
}
