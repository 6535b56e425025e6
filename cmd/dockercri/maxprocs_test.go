package main

import "testing"

func TestDefaultMaxProcs(t *testing.T) {
	for ncpu, want := range map[int]int{1: 1, 2: 1, 4: 1, 8: 2, 16: 4, 64: 16} {
		if got := defaultMaxProcs(ncpu); got != want {
			t.Errorf("defaultMaxProcs(%d) = %d, want %d", ncpu, got, want)
		}
	}
}
