package core

import (
	"context"
	"io"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/streaming"
)

// Attach hands out the URL of an attach to a running container (see Exec).
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if _, err := s.runningKind(ctx, req.GetContainerId(), typeContainer); err != nil {
		return nil, err
	}
	srv, err := s.streamServer()
	if err != nil {
		return nil, err
	}
	return srv.GetAttach(req)
}

// Attach joins the client's streams to a running container's stdio until its output
// ends (it exits) or the client leaves.
func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	s := r.s
	insp, err := s.runningKind(ctx, id, typeContainer)
	if err != nil {
		return err
	}
	// The container's own TTY setting decides how Docker frames the output.
	tty := insp.Config.Tty
	if asked, ok := streaming.StdinRequested(ctx); !insp.Config.OpenStdin || ok && !asked {
		in = nil
	}
	hj, err := s.docker.ContainerAttach(ctx, insp.ID, container.AttachOptions{
		Stream: true, Stdin: in != nil, Stdout: out != nil, Stderr: errw != nil,
	})
	if err != nil {
		return grpcerr.Wrap(err, "attach to "+id)
	}
	defer hj.Close()
	stopResize := forwardResize(ctx, resize, func(ctx context.Context, o container.ResizeOptions) error {
		return s.docker.ContainerResize(ctx, insp.ID, o)
	})
	defer stopResize()
	return pipeStreams(ctx, hj, in, out, errw, tty)
}
