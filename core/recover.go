package core

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/dockercri/dockercri/config"
)

// resumeLogs picks up, after a (re)start of dockercri, the copying of every running
// container's output into its CRI log, from where the log file ends: Docker kept the
// output meanwhile. It reads the view of Docker once the view has loaded, so that
// start-up lists and inspects Docker's containers once, not twice; while Docker is
// down, it waits with the view. Only containers started before since, when dockercri
// started, are its business: those started after are StartContainer's, which follows
// their output itself, and may have been stopped and removed with their log by the
// time the view has loaded (a slow start-up list), when a resumed copying would make
// their log file again, for good. Nor are containers another dockercri on the same
// Docker created (its root directory is not this one's): their log files are that
// one's to write and to remove.
func (s *Service) resumeLogs(ctx context.Context, since time.Time) {
	if s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return
	}
	for {
		// Docker down at start: the view fails until it has listed Docker, which moves
		// its epoch; waiting for that, not polling, keeps a dockercri without Docker asleep.
		moved := s.view.EpochMoved()
		if objs, err := s.viewOf(ctx, typeContainer); err == nil {
			for _, c := range objs {
				if path := c.Config.Labels[labelLogPath]; path != "" && running(c) && startedBefore(c, since) && s.ownsLog(c) {
					s.logs.Start(logContainer(*c))
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-moved:
		}
	}
}

// startedBefore tells whether container c last started before t (or says not when).
func startedBefore(c *container.InspectResponse, t time.Time) bool {
	return dockerTime(c.State.StartedAt) < t.UnixNano()
}

// ownsLog tells whether container c's log is this dockercri's to copy: it created c,
// or no dockercri of this kind did (a dockercri before labelRoot).
func (s *Service) ownsLog(c *container.InspectResponse) bool {
	root, ok := c.Config.Labels[labelRoot]
	return !ok || root == s.cfg.RootDirectory
}
