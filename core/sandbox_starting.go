package core

import (
	"sync"
	"sync/atomic"
)

// startingSandboxes are the sandboxes whose RunPodSandbox is under way. The view shows a
// pause container as soon as it runs, but the sandbox is not ready before its network
// is set up: the kubelet's PLEG, listing meanwhile, would take it for a ready sandbox
// without an IP, keep that status, and make the pod a new sandbox once RunPodSandbox has
// returned (the node e2e saw it). As in containerd, a sandbox is listed once its
// RunPodSandbox is done, and its status says not ready until then.
type startingSandboxes struct {
	n   atomic.Int32 // len(ids), read without the lock: most lists find none
	mu  sync.Mutex
	ids map[string]struct{}
}

func (s *startingSandboxes) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]struct{}{}
	}
	s.ids[id] = struct{}{}
	s.n.Store(int32(len(s.ids)))
}

func (s *startingSandboxes) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
	s.n.Store(int32(len(s.ids)))
}

func (s *startingSandboxes) has(id string) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}
