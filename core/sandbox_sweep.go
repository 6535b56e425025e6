package core

import (
	"context"
	"slices"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/network"
)

// sweepNetworks tries again, now and then (once at start, and as soon as the view has
// listed Docker again after its event stream broke: a dockerd restarted), the CNI DEL
// of every sandbox that needs one and no call will do soon: one whose pause container
// is gone (removed behind dockercri's back, or while Docker went away under a failed
// RunPodSandbox) or stopped (it failed, or died) while what the plugins gave it is still
// held. A DEL that fails, a plugin of the chain failing its part, holds the others'
// addresses and rules too: the checkpoint that names the network stays until a DEL
// succeeds. The checkpoints of sandboxes Docker no longer has go too.
func (s *Service) sweepNetworks(ctx context.Context, every time.Duration) {
	// Asleep between two sweeps, but for a new epoch of the view: a node's dozens of
	// quiet pods cost no wake-up a second.
	var lastEpoch uint64
	due := time.Now()
	for ctx.Err() == nil {
		moved := s.view.EpochMoved()
		epoch, live := s.view.Epoch()
		if wait := time.Until(due); wait > 0 && (!live || epoch == lastEpoch) {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-moved:
			}
			t.Stop()
			continue
		}
		s.sweepOnce(ctx)
		lastEpoch, due = epoch, time.Now().Add(every)
	}
}

func (s *Service) sweepOnce(ctx context.Context) {
	ids, err := s.checkpoints.IDs()
	if err != nil {
		klog.ErrorS(err, "List the sandbox checkpoints for the network sweep")
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.sweepSandbox(ctx, id)
	}
	// A pin outlives its checkpoint only if the checkpoint was lost.
	for _, id := range s.pinnedIDs() {
		if slices.Contains(ids, id) {
			continue
		}
		unlock := s.netLocks.lock(id)
		if cp, err := s.checkpoints.Load(id); err == nil && cp == nil {
			s.dropNetNS(id)
		}
		unlock()
	}
}

// sweepSandbox tears down the network of one sandbox if it needs it, and removes the
// checkpoint of one Docker no longer has once nothing is left to tear down.
func (s *Service) sweepSandbox(ctx context.Context, id string) {
	if obj, err := s.view.Get(id); err == nil && running(obj) {
		return // the common case, known without asking Docker
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	unlock := s.netLocks.lock(id)
	defer unlock()
	cp, err := s.checkpoints.Load(id)
	if err != nil || cp == nil {
		return // damaged (Stop and Remove deal with it) or just removed
	}
	pending := networkPending(cp)
	insp, err := s.docker.ContainerInspect(ctx, id)
	switch {
	case cerrdefs.IsNotFound(err):
		if err := s.forgetSandbox(ctx, id, cp); err != nil {
			klog.ErrorS(err, "Tear down the network of a removed sandbox; will try again", "podSandboxID", id)
		}
	case err != nil:
		return // Docker down: next time
	case pending && !running(&insp):
		if err := s.tearDownNetwork(ctx, insp); err != nil {
			klog.ErrorS(err, "Tear down the network of a stopped sandbox; will try again", "podSandboxID", id)
		}
	}
}

// forgetSandbox finishes with a sandbox Docker no longer has: the CNI DEL if its
// checkpoint says one is due, then the checkpoint. When the DEL fails the checkpoint
// stays, for the sweep to try again. The caller holds the sandbox's lock.
func (s *Service) forgetSandbox(ctx context.Context, id string, cp *checkpoint.Sandbox) error {
	if cp != nil && networkPending(cp) {
		// Docker has nothing of it left; the checkpoint has its name and ports, and
		// libcni's cache the arguments of its ADD (and, for a pod of the old server,
		// the networks).
		pod := network.Pod{ID: id, Name: cp.Name, Namespace: cp.Namespace, NetNS: s.podNetNS(id, "")}
		if err := s.podDEL(ctx, pod, cp); err != nil {
			return networkError(err, "sandbox "+id)
		}
	}
	s.dropNetNS(id)
	if err := s.checkpoints.Delete(id); err != nil {
		return grpcerr.Wrap(err, "remove checkpoint of sandbox "+id)
	}
	return nil
}

// sandboxLocks serialise the network work on each sandbox (its ADD, its DELs, its
// checkpoint's removal), so that the sweep never runs beside a call on the same one.
type sandboxLocks struct {
	mu   sync.Mutex
	held map[string]*sandboxLock
}

type sandboxLock struct {
	sync.Mutex
	users int
}

// lock takes id's lock and returns the function that gives it back.
func (l *sandboxLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*sandboxLock{}
	}
	e := l.held[id]
	if e == nil {
		e = &sandboxLock{}
		l.held[id] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.held, id)
		}
		l.mu.Unlock()
	}
}
