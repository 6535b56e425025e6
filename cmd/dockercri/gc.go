package main

import (
	"os"
	"runtime/debug"
)

// Go's heap grows to twice what is live (GOGC=100) before it collects, and the pages
// it grew into stay resident: with the polls' answers made anew each time, that
// doubling is the biggest part of dockercri's RSS after its binary. At 50 the heap
// peaks at one and a half times what is live, for a collection twice as often, each
// marking only what is live (8 MB at 200 pods). Measured in the bench's polling at 200
// pods: RSS 40 -> 34 MB; the CPU of the heavy calls did not move beyond the run's
// noise, a list's (0.3 ms) rose by about a fifth, the mark workers' share. No memory
// limit: the heap grows with the pods as before, and dockercri never collects harder
// because it is big. GOGC in the environment wins.

// defaultGCPercent is the GOGC dockercri runs with.
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent unless GOGC is set in the environment, which
// Go's runtime has applied already.
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
}
