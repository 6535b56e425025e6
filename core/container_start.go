package core

import (
	"context"
	"os"
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/crilog"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// StartContainer starts a created container and begins copying its output to its CRI log.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectKind(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	}
	if s.host.cgroupV2 {
		oomKills.starting(insp.ID, insp.HostConfig)
	} else {
		oomKills.startingV1(insp.ID)
	}
	if err := s.docker.ContainerStart(ctx, insp.ID, container.StartOptions{}); err != nil {
		return nil, grpcerr.Wrap(err, "start container "+insp.ID)
	}
	if err := s.startUnified(ctx, &insp); err != nil {
		return nil, err
	}
	// Docker names the json-file log only once the container has started.
	if started, err := s.view.Refresh(context.WithoutCancel(ctx), insp.ID); err == nil && started != nil {
		insp = *started
	}
	s.followLog(insp)
	if path := insp.Config.Labels[labelLogPath]; path != "" && s.cfg.ContainerLogFormat == config.LogFormatDockerJSON {
		// Docker names the json-file log only once the container has started.
		if err := s.linkDockerLog(ctx, insp.ID, path); err != nil {
			klog.ErrorS(err, "Link the container's log path to Docker's json-file log", "containerID", insp.ID, "path", path)
		}
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// followLog starts copying a container's output into its CRI log file, if it has one.
func (s *Service) followLog(insp container.InspectResponse) {
	path := insp.Config.Labels[labelLogPath]
	if path == "" || s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return
	}
	s.logs.Start(logContainer(insp))
}

// logContainer names the output of container insp for the log copying: its CRI log and
// Docker's json-file log, when Docker keeps one.
func logContainer(insp container.InspectResponse) crilog.Container {
	c := crilog.Container{ID: insp.ID, Path: insp.Config.Labels[labelLogPath], TTY: insp.Config.Tty}
	if insp.HostConfig != nil && insp.HostConfig.LogConfig.Type == jsonFileDriver {
		c.DockerLog = insp.LogPath
	}
	return c
}

// linkDockerLog makes the CRI log path a symlink to Docker's json-file log, as dockershim
// did, for sites whose log agents read Docker's JSON.
func (s *Service) linkDockerLog(ctx context.Context, id, logPath string) error {
	insp, err := s.docker.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	if insp.LogPath == "" {
		return status.Errorf(codes.FailedPrecondition, "docker reports no log file for %s (log driver %s)", id, insp.HostConfig.LogConfig.Type)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	_ = os.Remove(logPath)
	return os.Symlink(insp.LogPath, logPath)
}
