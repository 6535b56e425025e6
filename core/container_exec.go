package core

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/streaming"
)

// Exec, Attach (container_attach.go) and PortForward (sandbox_portforward.go) hand out
// a URL on the streaming server, after checking that there is something running to
// stream to: a bad request fails here, with its gRPC code, rather than later inside the
// stream. The streaming server then runs the stream with streamRuntime's method of the
// same name, in the same file (streaming_runtime.go has what they share).

func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if len(req.GetCmd()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "exec needs a command")
	}
	if _, err := s.runningKind(ctx, req.GetContainerId(), typeContainer); err != nil {
		return nil, err
	}
	srv, err := s.streamServer()
	if err != nil {
		return nil, err
	}
	return srv.GetExec(req)
}

// Exec runs cmd in the container with the client's streams. A non-zero exit reaches
// the client as its code; a client gone before the end kills the process, which would
// otherwise be left running with nobody to read it.
func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	s := r.s
	if asked, ok := streaming.StdinRequested(ctx); ok && !asked {
		in = nil
	}
	exec, err := s.docker.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: cmd, Tty: tty, AttachStdin: in != nil, AttachStdout: out != nil, AttachStderr: errw != nil,
	})
	if err != nil {
		return grpcerr.Wrap(err, "exec in "+id)
	}
	hj, err := s.docker.ContainerExecAttach(ctx, exec.ID, container.ExecAttachOptions{Tty: tty})
	if err != nil {
		// The start may have reached Docker all the same.
		go s.reapExec(exec.ID, id)
		return grpcerr.Wrap(err, "attach to exec in "+id)
	}
	defer hj.Close()
	stopResize := forwardResize(ctx, resize, func(ctx context.Context, o container.ResizeOptions) error {
		return s.docker.ContainerExecResize(ctx, exec.ID, o)
	})
	defer stopResize()
	if err := pipeStreams(ctx, hj, in, out, errw, tty); err != nil {
		go s.reapExec(exec.ID, id)
		return err
	}
	code, err := s.execExitCode(ctx, exec.ID)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with %d", cmd, code), Code: int(code)}
	}
	return nil
}
