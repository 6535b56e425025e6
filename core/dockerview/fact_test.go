package dockerview

import (
	"context"
	"errors"
	"testing"
)

func TestFactKeptPerEpoch(t *testing.T) {
	epoch, live := uint64(1), true
	f := NewFact[string](func() (uint64, bool) { return epoch, live })
	reads := 0
	read := func(context.Context) (string, error) {
		reads++
		if !live {
			return "", errors.New("docker down")
		}
		return "v" + string(rune('0'+epoch)), nil
	}
	get := func() (string, error) { return f.Get(context.Background(), read) }

	for range 3 {
		if v, err := get(); v != "v1" || err != nil {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if reads != 1 {
		t.Errorf("%d reads within one epoch, want 1", reads)
	}
	// The stream broke (dockerd stopped): Docker is asked, and its error returned.
	live = false
	if _, err := get(); err == nil {
		t.Error("Get while the stream is down returned the old value")
	}
	// Back, listed again (new epoch): read afresh.
	epoch, live = 2, true
	if v, _ := get(); v != "v2" {
		t.Errorf("Get after a new epoch = %q, want v2", v)
	}
	if reads != 3 {
		t.Errorf("%d reads, want 3", reads)
	}
}
