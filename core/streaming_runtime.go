package core

import (
	"context"
	"errors"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/streaming"
)

// streamRuntime does the streaming server's work on Docker: its Exec, Attach and
// PortForward are beside the RPCs that hand out their URLs (container_exec.go,
// container_attach.go, sandbox_portforward.go); what they share is here.
type streamRuntime struct{ s *Service }

var _ streaming.Runtime = streamRuntime{}

// StreamRuntime is what the streaming server runs exec, attach and port-forward with.
func (s *Service) StreamRuntime() streaming.Runtime { return streamRuntime{s} }

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

// SetStreamServer gives the service the streaming server its URLs point to.
func (s *Service) SetStreamServer(srv *streaming.Server) { s.streams = srv }

func (s *Service) streamServer() (*streaming.Server, error) {
	if s.streams == nil {
		return nil, status.Error(codes.Unavailable, "the streaming server is not running")
	}
	return s.streams, nil
}
