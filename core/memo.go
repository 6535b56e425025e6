package core

import (
	"sync"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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

// statusMemo keeps ContainerStatus's answer for each container that has not exited,
// with its encoding (answerCodec), while the view's object of the container stays the
// same: the kubelet asks for every container's status every few seconds, and the
// answer changes only when the object does. An exited container is answered afresh
// each time (its log is waited for, its OOM kill looked up). Like the list memo's
// items, a kept answer is shared: read it, never modify it.
type statusMemo struct {
	mu   sync.Mutex
	byID map[string]*keptStatus
}

type keptStatus struct {
	obj  *container.InspectResponse
	resp *runtimeapi.ContainerStatusResponse
	wire []byte // nil until encoded
}

// maxKeptStatuses bounds the memory should forget be missed (a dropped subscription):
// past it, the memo starts again.
const maxKeptStatuses = 4096

// get is the kept answer for the view's object obj, nil if there is none.
func (m *statusMemo) get(obj *container.InspectResponse) *runtimeapi.ContainerStatusResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := m.byID[obj.ID]; k != nil && k.obj == obj {
		return k.resp
	}
	return nil
}

// put keeps resp as the answer for obj, in place of the one for an earlier object.
func (m *statusMemo) put(obj *container.InspectResponse, resp *runtimeapi.ContainerStatusResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil || len(m.byID) >= maxKeptStatuses {
		m.byID = map[string]*keptStatus{}
	}
	m.byID[obj.ID] = &keptStatus{obj: obj, resp: resp}
}

// forget drops the answer kept for container id.
func (m *statusMemo) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, id)
}

// encoded is the protobuf encoding of resp, made once, if resp is a kept answer.
func (m *statusMemo) encoded(resp *runtimeapi.ContainerStatusResponse) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.byID[resp.GetStatus().GetId()]
	if k == nil || k.resp != resp {
		return nil, false, nil
	}
	if k.wire == nil {
		b, err := proto.Marshal(resp)
		if err != nil {
			return nil, false, err
		}
		k.wire = b
	}
	return k.wire, true, nil
}
