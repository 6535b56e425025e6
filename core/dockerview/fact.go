package dockerview

import (
	"context"
	"sync"
)

// Fact is a value read from Docker that changes only when dockerd restarts (its
// version, its root directory). It is read once and reused while Docker's event stream
// stays unbroken since (the epoch of the view), so that the kubelet asking every second
// costs dockerd nothing; a broken stream — dockerd stopped or restarted — makes the next
// Get ask Docker again, and fail as Docker does while it is down.
type Fact[T any] struct {
	epoch func() (uint64, bool)
	mu    sync.Mutex
	val   T
	at    uint64
	has   bool
}

// NewFact returns a fact kept for as long as epoch reports the same value and true
// (View.Epoch).
func NewFact[T any](epoch func() (uint64, bool)) *Fact[T] {
	return &Fact[T]{epoch: epoch}
}

// Get returns the value, reading it with read when it is not known for this epoch.
func (f *Fact[T]) Get(ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	e, live := f.epoch()
	f.mu.Lock()
	if live && f.has && f.at == e {
		v := f.val
		f.mu.Unlock()
		return v, nil
	}
	f.mu.Unlock()
	v, err := read(ctx)
	if err != nil || !live {
		return v, err
	}
	f.mu.Lock()
	f.val, f.at, f.has = v, e, true
	f.mu.Unlock()
	return v, nil
}
