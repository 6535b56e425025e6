package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// maxExecSyncOutput bounds what ExecSync keeps of each stream, as the kubelet's probes
// read only so much.
const maxExecSyncOutput = 16 << 20

// ExecSync runs a command in a running container and returns its output and exit code.
// When the timeout passes, the command's process is killed and DeadlineExceeded returned:
// a hung probe must not leave a process behind.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "exec needs a command")
	}
	ictx, cancel := s.withTimeout(ctx)
	insp, err := s.inspectKind(ictx, req.GetContainerId(), typeContainer)
	cancel()
	if err != nil {
		return nil, err
	}
	if insp.State == nil || !insp.State.Running {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", insp.ID)
	}
	execCtx := ctx
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		execCtx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	exec, err := s.docker.ContainerExecCreate(execCtx, insp.ID, container.ExecOptions{Cmd: req.GetCmd(), AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, grpcerr.Wrap(err, "exec in "+insp.ID)
	}
	hijack, err := s.docker.ContainerExecAttach(execCtx, exec.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, grpcerr.Wrap(err, "attach to exec in "+insp.ID)
	}
	defer hijack.Close()

	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&limitedWriter{w: &stdout, n: maxExecSyncOutput}, &limitedWriter{w: &stderr, n: maxExecSyncOutput}, hijack.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-execCtx.Done():
		hijack.Close()
		s.killExec(exec.ID, insp.ID)
		if errors.Is(execCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, status.Errorf(codes.DeadlineExceeded, "command %q timed out after %ds", req.GetCmd(), req.GetTimeout())
		}
		return nil, grpcerr.FromDocker(ctx.Err())
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, grpcerr.Wrap(err, "read exec output")
	}
	code, err := s.execExitCode(ctx, exec.ID)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// execExitCode waits for Docker to record the exec's end: its output can close a moment
// before Docker notes the exit code.
func (s *Service) execExitCode(ctx context.Context, execID string) (int32, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		ei, err := s.docker.ContainerExecInspect(ctx, execID)
		if err != nil {
			return 0, grpcerr.Wrap(err, "inspect exec")
		}
		if !ei.Running {
			return int32(ei.ExitCode), nil
		}
		select {
		case <-ctx.Done():
			return 0, grpcerr.FromDocker(ctx.Err())
		case <-time.After(delay):
		}
	}
}

// killExec kills an exec'd process from the host: Docker has no call to end an exec, and
// its process is a host process like any other (dockercri runs in the host's PID
// namespace).
func (s *Service) killExec(execID, containerID string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RuntimeRequestTimeout)
	defer cancel()
	ei, err := s.docker.ContainerExecInspect(ctx, execID)
	if err != nil {
		klog.ErrorS(err, "Inspect timed-out exec to kill it", "containerID", containerID)
		return
	}
	if !ei.Running || ei.Pid <= 0 {
		return
	}
	if err := syscall.Kill(ei.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		klog.ErrorS(err, "Kill timed-out exec", "containerID", containerID, "pid", ei.Pid)
	}
}

// limitedWriter keeps the first n bytes written and drops the rest without error, so
// that a chatty command cannot make dockercri hold unbounded output.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	keep := min(len(p), l.n)
	if keep > 0 {
		if _, err := l.w.Write(p[:keep]); err != nil {
			return 0, err
		}
		l.n -= keep
	}
	return len(p), nil
}
