package wire

import "testing"

// presizeStack must keep its pad on the stack: a heap allocation of 10 KiB
// per Check would cost more than the stack copies it saves.
func TestPresizeStackDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { presizeStack(7) }); n != 0 {
		t.Fatalf("presizeStack allocates %v times", n)
	}
}
