package core

import (
	"sync"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/protobuf/proto"
)

// memo keeps the CRI form of the view's objects between list calls: the view replaces
// an object (a new pointer) whenever it changes, so the pointer is the key, and each
// call keeps only the entries of the objects it saw. While the view's generation stays
// the same, the last answer is the answer.
type memo[T interface {
	comparable
	proto.Message
}] struct {
	mu    sync.Mutex
	items map[*container.InspectResponse]T
	gen   uint64
	out   []T // for gen; shared: read, never modify
	// wire is the protobuf encoding of the items sent so far (answerCodec), kept
	// while the items are: each of out has a key, nil until encoded. Other items
	// (trimmed copies of an answer too large) are encoded, not kept.
	wire map[T][]byte
}

// each returns the CRI form of each of objs, the view's objects of generation gen
// (made by conv when not memoised; skipped when conv fails). The slice is shared by
// the calls of the same generation.
func (m *memo[T]) each(gen uint64, objs []*container.InspectResponse, conv func(*container.InspectResponse) (T, error)) []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out != nil && m.gen == gen {
		return m.out
	}
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
	wire := make(map[T][]byte, len(out))
	for _, item := range out {
		wire[item] = m.wire[item]
	}
	m.items, m.gen, m.out, m.wire = next, gen, out, wire
	return out
}

// encoded returns the protobuf encoding of each of items, made once per item.
func (m *memo[T]) encoded(items []T) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(items))
	for i, item := range items {
		b, held := m.wire[item]
		if b == nil {
			var err error
			if b, err = proto.Marshal(item); err != nil {
				return nil, err
			}
			if held {
				// Kept until each sees a generation without the item.
				m.wire[item] = b
			}
		}
		out[i] = b
	}
	return out, nil
}

// sizes are the encoded sizes of items (made and kept as encoded does).
func (m *memo[T]) sizes(items []T) ([]int, error) {
	parts, err := m.encoded(items)
	if err != nil {
		return nil, err
	}
	sizes := make([]int, len(parts))
	for i, p := range parts {
		sizes[i] = len(p)
	}
	return sizes, nil
}
