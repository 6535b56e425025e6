package core

import (
	"context"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/dockercri/dockercri/core/dockerview"
)

// The stats collector keeps each running container's cgroup files open (core/stats);
// they are closed as soon as the container is known to have ended: after dockercri
// stopped or removed it (refresh), and when Docker reports it died or was removed,
// which also covers a container that exited by itself.

// forgetIfEnded closes the cgroup files of container id, and drops its kept status
// (statusMemo), unless obj, its state after a change, still runs.
func (s *Service) forgetIfEnded(id string, obj *container.InspectResponse) {
	if obj == nil || !running(obj) {
		s.stats.Forget(id)
		s.statuses.forget(id)
	}
}

// forgetEnded follows the view's changes until ctx ends, closing the cgroup files of
// each container that dies or is removed. A subscription dropped for falling behind is
// made again; what it missed is closed by the collector's own pruning of idle files.
func (s *Service) forgetEnded(ctx context.Context) {
	for ctx.Err() == nil {
		changes, stop := s.view.Subscribe()
		s.forgetFrom(ctx, changes)
		stop()
	}
}

func (s *Service) forgetFrom(ctx context.Context, changes <-chan dockerview.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			if ch.Action == events.ActionDie || ch.Action == events.ActionDestroy {
				s.forgetIfEnded(ch.ID, ch.Obj)
			}
		}
	}
}
