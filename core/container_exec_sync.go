package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// maxExecSyncOutput bounds what ExecSync keeps of stdout and stderr together, so that
// its answer fits the kubelet's 16 MiB message limit with room for the rest of it.
const maxExecSyncOutput = 16<<20 - 64<<10

// execTruncated ends stderr when the output was cut, as containerd says it.
const execTruncated = "\n[dockercri: output truncated: stdout and stderr together exceeded 16 MiB]\n"

// ExecSync runs a command in a running container and returns its output and exit code.
// When the timeout passes, the command's process is killed and DeadlineExceeded returned:
// a hung probe must not leave a process behind.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "exec needs a command")
	}
	insp, err := s.runningKind(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
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
	budget := &outputBudget{left: maxExecSyncOutput - len(execTruncated)}
	err = pipeStreams(execCtx, hijack, nil, budget.writer(&stdout), budget.writer(&stderr), false)
	switch {
	case err == nil:
	case execCtx.Err() == nil:
		return nil, grpcerr.Wrap(err, "read exec output")
	default:
		s.reapExec(exec.ID, insp.ID)
		if errors.Is(execCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, status.Errorf(codes.DeadlineExceeded, "command %q timed out after %ds", req.GetCmd(), req.GetTimeout())
		}
		return nil, grpcerr.FromDocker(ctx.Err())
	}
	code, err := s.execExitCode(ctx, exec.ID)
	if err != nil {
		return nil, err
	}
	if budget.cut {
		stderr.WriteString(execTruncated)
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

// reapExecFor bounds how long reapExec waits for an exec to start, to kill it: Docker
// may start one after the request that started it was cancelled, and reports it
// running a moment before it knows its pid.
const reapExecFor = 5 * time.Second

// reapExec kills an exec'd process nobody waits for any more (a timed-out ExecSync, a
// stream whose client left), from the host: Docker has no call to end an exec, and its
// process is a host process like any other (dockercri runs in the host's PID
// namespace). One that has exited, or never starts within reapExecFor, is left alone.
func (s *Service) reapExec(execID, containerID string) {
	deadline := time.Now().Add(reapExecFor)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RuntimeRequestTimeout)
		ei, err := s.docker.ContainerExecInspect(ctx, execID)
		cancel()
		switch {
		case err != nil:
			klog.ErrorS(err, "Inspect an abandoned exec to kill it", "containerID", containerID)
			return
		case ei.Running && ei.Pid > 0:
			if err := syscall.Kill(ei.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				klog.ErrorS(err, "Kill an abandoned exec", "containerID", containerID, "pid", ei.Pid)
			}
			return
		case !ei.Running && ei.Pid != 0, time.Now().After(deadline):
			return // exited, or never started
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outputBudget is what ExecSync may still keep of a command's output, shared by its
// streams; what is over it is read and dropped, so the command never blocks on it.
type outputBudget struct {
	mu   sync.Mutex
	left int
	cut  bool
}

func (b *outputBudget) writer(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		keep := min(len(p), b.left)
		if keep < len(p) {
			b.cut = true
		}
		if keep > 0 {
			if _, err := w.Write(p[:keep]); err != nil {
				return 0, err
			}
			b.left -= keep
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
