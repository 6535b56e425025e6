package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"

	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/streaming"
)

// streamRuntime does the streaming server's work on Docker.
type streamRuntime struct{ s *Service }

var _ streaming.Runtime = streamRuntime{}

// StreamRuntime is what the streaming server runs exec, attach and port-forward with.
func (s *Service) StreamRuntime() streaming.Runtime { return streamRuntime{s} }

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

// pipeStreams copies the client's stdin into a hijacked Docker connection and its
// output back, until the output ends or ctx does. The client closing its stdin closes
// the process's.
func pipeStreams(ctx context.Context, hj types.HijackedResponse, in io.Reader, out, errw io.Writer, tty bool) error {
	out, errw = orDiscard(out), orDiscard(errw)
	outDone := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(out, hj.Reader)
		} else {
			_, err = stdcopy.StdCopy(out, errw, hj.Reader)
		}
		outDone <- err
	}()
	if in != nil {
		// Ends when the client's stdin does: the library closes it with the stream.
		go func() {
			if _, err := io.Copy(hj.Conn, in); err != nil {
				klog.V(4).InfoS("Copy stdin to the container", "err", err)
			}
			_ = hj.CloseWrite()
		}()
	}
	select {
	case err := <-outDone:
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	case <-ctx.Done():
		hj.Close()
		<-outDone
		return ctx.Err()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// forwardResize passes the client's terminal sizes to Docker until stopped.
func forwardResize(ctx context.Context, sizes <-chan remotecommand.TerminalSize, resize func(context.Context, container.ResizeOptions) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case size, ok := <-sizes:
				if !ok {
					return
				}
				if size.Height == 0 && size.Width == 0 {
					continue
				}
				if err := resize(ctx, container.ResizeOptions{Height: uint(size.Height), Width: uint(size.Width)}); err != nil {
					klog.V(4).InfoS("Resize a terminal", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
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
	if cp, err := s.checkpoints.Load(insp.ID); err == nil && cp != nil {
		addrs = append(addrs, cp.IPs...)
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
