package cputime

import "testing"

// Spinning must show up as CPU time.
func TestNowAdvances(t *testing.T) {
	start := Now()
	spins := 0
	for spins == 0 || Now() == start {
		for i := range 1 << 16 {
			spins += i & 1
		}
	}
	if Now() <= start {
		t.Fatal("CPU time did not advance")
	}
	if PerOp(start, 0) != 0 {
		t.Fatal("PerOp with no operations")
	}
}
