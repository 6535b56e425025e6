package core

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PortForward hands out the URL of a port-forward to a running sandbox (see Exec).
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

// portForwardDialTimeout bounds the connection to the pod's port.
const portForwardDialTimeout = 10 * time.Second

// PortForward connects the client's stream to port in the pod's network namespace,
// from dockercri itself (nothing needed on the host): on the pod's loopback, else on
// the pod's IPs, for a server bound only to those.
func (r streamRuntime) PortForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error {
	s := r.s
	insp, err := s.runningKind(ctx, sandboxID, typeSandbox)
	if err != nil {
		return err
	}
	if port <= 0 || port > 65535 {
		return status.Errorf(codes.InvalidArgument, "port %d out of range", port)
	}
	addrs := []string{"127.0.0.1", "::1"}
	if cp, err := s.checkpoints.Load(insp.ID); err == nil {
		addrs = append(addrs, s.sandboxIPs(insp, cp)...)
	}
	conn, err := dialInNetNS(netnsPath(insp), addrs, port)
	if err != nil {
		return status.Errorf(codes.Unavailable, "port-forward to port %d of sandbox %s: %v", port, insp.ID, err)
	}
	defer conn.Close()

	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	go func() {
		// The client done sending: the pod's side reads EOF and may still answer.
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	select {
	case err := <-fromPod:
		return err
	case <-ctx.Done():
		conn.Close()
		<-fromPod
		return nil
	}
}

// dialInNetNS connects to the first of addrs that accepts on port, from inside the
// network namespace at path (the socket stays in it once made).
func dialInNetNS(path string, addrs []string, port int32) (net.Conn, error) {
	if path == "" {
		return nil, errors.New("the sandbox has no network namespace")
	}
	var conn net.Conn
	var errs []error
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		for _, a := range addrs {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(a, strconv.Itoa(int(port))), portForwardDialTimeout)
			if err == nil {
				conn = c
				return nil
			}
			errs = append(errs, err)
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENETUNREACH) {
				break
			}
		}
		return errors.Join(errs...)
	})
	return conn, err
}
