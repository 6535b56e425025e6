package grpcerr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// classCodes is the table of Code, one row per class of error: each errdefs class
// (as errgrpc maps it, but Internal and Unknown), then dockercri's own classes.
var classCodes = []struct {
	class string
	err   error
	want  codes.Code
}{
	{"errdefs InvalidArgument", cerrdefs.ErrInvalidArgument, codes.InvalidArgument},
	{"errdefs NotFound", cerrdefs.ErrNotFound, codes.NotFound},
	{"errdefs AlreadyExists", cerrdefs.ErrAlreadyExists, codes.AlreadyExists},
	{"errdefs PermissionDenied", cerrdefs.ErrPermissionDenied, codes.PermissionDenied},
	{"errdefs ResourceExhausted", cerrdefs.ErrResourceExhausted, codes.ResourceExhausted},
	{"errdefs FailedPrecondition", cerrdefs.ErrFailedPrecondition, codes.FailedPrecondition},
	{"errdefs Conflict", cerrdefs.ErrConflict, codes.FailedPrecondition},
	{"errdefs NotModified", cerrdefs.ErrNotModified, codes.FailedPrecondition},
	{"errdefs Aborted", cerrdefs.ErrAborted, codes.Aborted},
	{"errdefs OutOfRange", cerrdefs.ErrOutOfRange, codes.OutOfRange},
	{"errdefs NotImplemented", cerrdefs.ErrNotImplemented, codes.Unimplemented},
	{"errdefs Unavailable", cerrdefs.ErrUnavailable, codes.Unavailable},
	{"errdefs DataLoss", cerrdefs.ErrDataLoss, codes.DataLoss},
	{"errdefs Unauthenticated", cerrdefs.ErrUnauthenticated, codes.Unauthenticated},
	{"context deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
	{"context canceled", context.Canceled, codes.Canceled},
	{"errdefs Internal", cerrdefs.ErrInternal, codes.Internal},
	{"errdefs Unknown", cerrdefs.ErrUnknown, codes.Internal},
	{"CNI: incompatible version", &cnitypes.Error{Code: cnitypes.ErrIncompatibleCNIVersion}, codes.FailedPrecondition},
	{"CNI: unsupported field", &cnitypes.Error{Code: cnitypes.ErrUnsupportedField}, codes.FailedPrecondition},
	{"CNI: decoding failure", &cnitypes.Error{Code: cnitypes.ErrDecodingFailure}, codes.FailedPrecondition},
	{"CNI: invalid network config", fmt.Errorf("CNI ADD on network n: %w", &cnitypes.Error{Code: cnitypes.ErrInvalidNetworkConfig, Msg: "bad"}), codes.FailedPrecondition},
	{"CNI: try again later", fmt.Errorf("CNI ADD on network n: %w", &cnitypes.Error{Code: cnitypes.ErrTryAgainLater, Msg: "busy"}), codes.Unavailable},
	{"CNI: plugin not available", &cnitypes.Error{Code: cnitypes.ErrPluginNotAvailable}, codes.Unavailable},
	{"CNI: a plugin's own failure", &cnitypes.Error{Code: 100, Msg: "failed to allocate"}, codes.Internal},
	{"CNI: internal", &cnitypes.Error{Code: cnitypes.ErrInternal}, codes.Internal},
	{"Docker unreachable", client.ErrorConnectionFailed("unix:///var/run/docker.sock"), codes.Unavailable}, //nolint:staticcheck // the only way to build the client's error
	{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, codes.Unavailable},
	{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), codes.Unavailable},
	{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), codes.Unavailable},
	{"no space left (dockercri's file)", &fs.PathError{Op: "write", Path: "/var/lib/dockercri/x", Err: syscall.ENOSPC}, codes.ResourceExhausted},
	{"quota exceeded", &fs.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, codes.ResourceExhausted},
	// A local file that is missing is dockercri's failure: NotFound would tell the
	// kubelet that the container it asked about is gone.
	{"a local file missing", &fs.PathError{Op: "open", Path: "/etc/resolv.conf", Err: syscall.ENOENT}, codes.Internal},
	{"a local file refused", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, codes.Internal},
	{"plain", errors.New("boom"), codes.Internal},
}

func TestCodeTable(t *testing.T) {
	for _, tt := range classCodes {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("%s: Code(%v) = %v, want %v", tt.class, tt.err, got, tt.want)
		}
	}
}

// Where errgrpc names a code for an errdefs class (but Internal and Unknown), Code
// gives the same.
func TestCodeAgreesWithErrgrpc(t *testing.T) {
	for _, tt := range classCodes {
		if cerrdefs.Resolve(tt.err) == cerrdefs.ErrUnknown {
			continue
		}
		want := status.Code(errgrpc.ToGRPC(cerrdefs.Resolve(tt.err)))
		if want == codes.Unknown || want == codes.Internal {
			continue
		}
		if got := Code(tt.err); got != want {
			t.Errorf("%s: Code = %v, errgrpc says %v", tt.class, got, want)
		}
	}
}

// dockerErrors are errors as the Docker client returns them, for answers of a daemon
// with this HTTP status and message.
var dockerErrors = []struct {
	class  string
	status int
	msg    string
	want   codes.Code
}{
	{"404", http.StatusNotFound, "No such container: abc", codes.NotFound},
	{"400", http.StatusBadRequest, "invalid mount config", codes.InvalidArgument},
	{"409", http.StatusConflict, "container is in use", codes.FailedPrecondition},
	{"401", http.StatusUnauthorized, "unauthorized", codes.Unauthenticated},
	{"403", http.StatusForbidden, "forbidden", codes.PermissionDenied},
	{"501", http.StatusNotImplemented, "not implemented", codes.Unimplemented},
	{"503", http.StatusServiceUnavailable, "daemon is shutting down", codes.Unavailable},
	{"500", http.StatusInternalServerError, "something broke", codes.Internal},
	// Docker passes containerd's and registries' errors on as the text of a 500.
	{"500: containerd's connection closing", http.StatusInternalServerError,
		"failed to create task for container: rpc error: code = Unavailable desc = transport is closing", codes.Unavailable},
	{"500: containerd unreachable", http.StatusInternalServerError,
		`failed to create shim task: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"`, codes.Unavailable},
	{"500: a registry refusing the connection", http.StatusInternalServerError,
		`Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`, codes.Unavailable},
	{"500: a registry timing out", http.StatusInternalServerError,
		`Get "https://r.example/v2/": net/http: TLS handshake timeout`, codes.Unavailable},
	{"500: a registry's name unknown to DNS", http.StatusInternalServerError,
		`Get "https://nosuch.example/v2/": dial tcp: lookup nosuch.example on 127.0.0.53:53: no such host`, codes.Unavailable},
	{"500: the disk full", http.StatusInternalServerError,
		"failed to register layer: write /var/lib/docker/overlay2/x/diff/f: no space left on device", codes.ResourceExhausted},
	// A name or URL in quotes says nothing of what happened.
	{"500: the words in a quoted name", http.StatusInternalServerError,
		`pull "127.0.0.1:5000/connection refused": something broke`, codes.Internal},
	// A class Docker gives wins over words in its text.
	{"404 whose text has words of a class", http.StatusNotFound, "No such image: connection refused", codes.NotFound},
}

func dockerClient(t *testing.T, host string) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCodeOfDockerErrors(t *testing.T) {
	for _, tt := range dockerErrors {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tt.status)
			fmt.Fprintf(w, `{"message":%q}`, tt.msg)
		}))
		_, err := dockerClient(t, "tcp://"+srv.Listener.Addr().String()).ContainerInspect(context.Background(), "abc")
		srv.Close()
		if err == nil {
			t.Fatalf("%s: no error", tt.class)
		}
		if got := Code(err); got != tt.want {
			t.Errorf("%s: Code(%q) = %v, want %v", tt.class, err, got, tt.want)
		}
	}
}

// Docker unreachable, or gone in the middle of an answer, is Unavailable.
func TestCodeOfDockerGone(t *testing.T) {
	_, err := dockerClient(t, "unix://"+filepath.Join(t.TempDir(), "docker.sock")).ContainerInspect(context.Background(), "abc")
	if got := Code(err); got != codes.Unavailable {
		t.Errorf("no daemon at the socket: Code(%q) = %v, want Unavailable", err, got)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"Id":"abc","Name":"/k8s_`)
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	_, err = dockerClient(t, "tcp://"+srv.Listener.Addr().String()).ContainerInspect(context.Background(), "abc")
	if got := Code(err); got != codes.Unavailable {
		t.Errorf("daemon gone mid-answer: Code(%q) = %v, want Unavailable", err, got)
	}
}

func TestTextCode(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		want codes.Code
		ok   bool
	}{
		{"failed to do request: Head \"https://r/v2/x/manifests/1\": dial tcp 10.0.0.1:443: connect: connection refused", codes.Unavailable, true},
		{"read tcp 10.0.0.2:5000: read: connection reset by peer", codes.Unavailable, true},
		{"write /var/lib/docker/tmp/x: no space left on device", codes.ResourceExhausted, true},
		{"manifest unknown", codes.Unknown, false},
		{`"connection refused"`, codes.Unknown, false},
	} {
		if got, ok := TextCode(tt.msg); got != tt.want || ok != tt.ok {
			t.Errorf("TextCode(%q) = %v, %v; want %v, %v", tt.msg, got, ok, tt.want, tt.ok)
		}
	}
}

// Each class of the table has its example above: the first class it belongs to.
func TestEveryClassHasAnExample(t *testing.T) {
	for _, c := range classes {
		found := false
		for _, tt := range classCodes {
			if first(tt.err) == c.name {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("class %q has no example in classCodes", c.name)
		}
	}
}

func first(err error) string {
	for _, c := range classes {
		if c.is(err) {
			return c.name
		}
	}
	return ""
}
