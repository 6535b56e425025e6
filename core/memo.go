package core

import (
	"sync"

	"github.com/docker/docker/api/types/container"
)

// memo keeps the CRI form of the view's objects between list calls: the view replaces
// an object (a new pointer) whenever it changes, so the pointer is the key, and each
// call keeps only the entries of the objects it saw.
type memo[T any] struct {
	mu    sync.Mutex
	items map[*container.InspectResponse]T
}

// each returns the CRI form of each of objs (made by conv when not memoised; skipped
// when conv fails).
func (m *memo[T]) each(objs []*container.InspectResponse, conv func(*container.InspectResponse) (T, error)) []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[*container.InspectResponse]T, len(objs))
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		item, ok := m.items[obj]
		if !ok {
			var err error
			if item, err = conv(obj); err != nil {
				continue
			}
		}
		next[obj] = item
		out = append(out, item)
	}
	m.items = next
	return out
}
