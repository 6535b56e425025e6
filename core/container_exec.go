package core

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/streaming"
)

// Exec, Attach and PortForward hand out a URL on the streaming server, after checking
// that there is something running to stream to: a bad request fails here, with its gRPC
// code, rather than later inside the stream.

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

func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	for _, p := range req.GetPort() {
		if p < 1 || p > 65535 {
			return nil, status.Errorf(codes.InvalidArgument, "port %d is not a TCP port (1-65535)", p)
		}
	}
	if _, err := s.runningKind(ctx, req.GetPodSandboxId(), typeSandbox); err != nil {
		return nil, err
	}
	srv, err := s.streamServer()
	if err != nil {
		return nil, err
	}
	return srv.GetPortForward(req)
}

// SetStreamServer gives the service the streaming server its URLs point to.
func (s *Service) SetStreamServer(srv *streaming.Server) { s.streams = srv }

func (s *Service) streamServer() (*streaming.Server, error) {
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the streaming server is not running")
	}
	return s.streams, nil
}
