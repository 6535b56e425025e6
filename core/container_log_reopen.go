package core

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/crilog"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// logCopier copies containers' output into their CRI log files (core/crilog).
type logCopier interface {
	// Start follows a started container's output into its log file.
	Start(c crilog.Container)
	// Reopen reopens a container's log file, which the kubelet has just rotated.
	Reopen(id string) error
	// WaitCopied returns once all output of a stopped container is in its log file.
	WaitCopied(ctx context.Context, c crilog.Container) error
	// Stop ends the copying of a removed container.
	Stop(id string)
	Close()
}

// ReopenContainerLog reopens a running container's log file after the kubelet renamed
// it, so that its log rotation works. A container whose log path links to Docker's
// json-file (made by cri-dockerd or dockershim) is refused, as dockershim refused: the
// kubelet then renames the link back, and Docker rotates its file.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	if s.cfg.ContainerLogFormat != config.LogFormatCRI {
		return nil, status.Errorf(codes.FailedPrecondition, "container logs are Docker's json-file logs (--container-log-format=%s): Docker rotates them", s.cfg.ContainerLogFormat)
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectKind(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	}
	if insp.State == nil || !insp.State.Running {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", insp.ID)
	}
	if err := s.logs.Reopen(insp.ID); err != nil {
		// The kubelet renames the log back on an error: a log that is Docker's file (as
		// dockershim answered) or some other symlink stays where it was.
		if errors.Is(err, crilog.ErrNoCopier) || errors.Is(err, crilog.ErrDockerLog) || errors.Is(err, crilog.ErrSymlink) {
			return nil, status.Errorf(codes.FailedPrecondition, "reopen log of %s: %v", insp.ID, err)
		}
		return nil, grpcerr.Wrap(err, "reopen log of "+insp.ID)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
