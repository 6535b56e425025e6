package main

import (
	"os"
	"runtime"
)

// dockercri's steady work is a kubelet's dozen small calls a second, each a few tens
// of microseconds of work. With as many Ps as CPUs, every call wakes a second thread on
// another CPU (the handler, then the writer), and on a VM that wake-up costs more than
// the call: measured on a 2-CPU VM, a call every 77 ms cost 0.45 ms of CPU with 2 Ps
// and 0.35 ms with 1. The heavy calls (stats of a few hundred pods, some tens of
// milliseconds) still run in parallel on big nodes with a quarter of the CPUs.

// defaultMaxProcs is the GOMAXPROCS dockercri runs with on ncpu CPUs.
func defaultMaxProcs(ncpu int) int {
	return max(1, ncpu/4)
}

// setMaxProcs applies defaultMaxProcs unless GOMAXPROCS is set in the environment,
// which Go's runtime has applied already.
func setMaxProcs() {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return
	}
	runtime.GOMAXPROCS(min(runtime.GOMAXPROCS(0), defaultMaxProcs(runtime.NumCPU())))
}
