package core

import (
	"context"
	"time"

	"github.com/dockercri/dockercri/config"
)

// resumeLogs picks up, after a (re)start of dockercri, the copying of every running
// container's output into its CRI log, from where the log file ends: Docker kept the
// output meanwhile. It reads the view of Docker once the view has loaded, so that
// start-up lists and inspects Docker's containers once, not twice; while Docker is
// down, it waits with the view.
func (s *Service) resumeLogs(ctx context.Context) {
	if s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return
	}
	for {
		if objs, err := s.viewOf(ctx, typeContainer); err == nil {
			for _, c := range objs {
				if path := c.Config.Labels[labelLogPath]; path != "" && running(c) {
					s.logs.Start(logContainer(*c))
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
