package core

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
)

// resumeLogs picks up, after a (re)start of dockercri, the copying of every running
// container's output into its CRI log, from where the log file ends: Docker kept the
// output meanwhile. It waits for Docker when Docker is down.
func (s *Service) resumeLogs(ctx context.Context) {
	if s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return
	}
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		lctx, cancel := s.withTimeout(ctx)
		list, err := s.docker.ContainerList(lctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelType+"="+typeContainer))})
		cancel()
		if err == nil {
			for _, c := range list {
				if path := c.Labels[labelLogPath]; path != "" {
					s.logs.Start(c.ID, path, s.isTTY(ctx, c.ID))
				}
			}
			return
		}
		klog.V(2).InfoS("Waiting for Docker to resume container logs", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// isTTY reports whether container id runs with a terminal, which shapes its log stream.
func (s *Service) isTTY(ctx context.Context, id string) bool {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.docker.ContainerInspect(ctx, id)
	return err == nil && insp.Config != nil && insp.Config.Tty
}
