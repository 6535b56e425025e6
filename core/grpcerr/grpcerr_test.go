package grpcerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// mobyNotFound is an error of Docker's own kind, as the client's errdefs classify it:
// by a marker method rather than by identity.
type mobyNotFound struct{}

func (mobyNotFound) Error() string { return "No such image: busybox:latest" }
func (mobyNotFound) NotFound()     {}

type mobyConflict struct{}

func (mobyConflict) Error() string { return "conflict: unable to remove repository reference" }
func (mobyConflict) Conflict()     {}

var codeTests = []struct {
	name string
	err  error
	want codes.Code
}{
	{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
	{"wrapped deadline", fmt.Errorf("Get \"http://docker/v1.47/info\": %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	{"canceled", context.Canceled, codes.Canceled},
	{"wrapped canceled", fmt.Errorf("pull: %w", context.Canceled), codes.Canceled},
	{"connection failed", client.ErrorConnectionFailed("unix:///var/run/docker.sock"), codes.Unavailable}, //nolint:staticcheck // the only way to build the client's error
	{"unavailable", cerrdefs.ErrUnavailable, codes.Unavailable},
	{"not found", cerrdefs.ErrNotFound, codes.NotFound},
	{"not found with message", cerrdefs.ErrNotFound.WithMessage("No such image: x"), codes.NotFound},
	{"wrapped not found", fmt.Errorf("inspect: %w", cerrdefs.ErrNotFound), codes.NotFound},
	{"doubly wrapped not found", fmt.Errorf("a: %w", fmt.Errorf("b: %w", cerrdefs.ErrNotFound)), codes.NotFound},
	{"joined not found", errors.Join(errors.New("first"), cerrdefs.ErrNotFound), codes.NotFound},
	{"moby not found", mobyNotFound{}, codes.NotFound},
	{"wrapped moby not found", fmt.Errorf("x: %w", mobyNotFound{}), codes.NotFound},
	{"invalid argument", cerrdefs.ErrInvalidArgument, codes.InvalidArgument},
	{"conflict", cerrdefs.ErrConflict, codes.FailedPrecondition},
	{"moby conflict", mobyConflict{}, codes.FailedPrecondition},
	{"failed precondition", cerrdefs.ErrFailedPrecondition, codes.FailedPrecondition},
	{"already exists", cerrdefs.ErrAlreadyExists, codes.AlreadyExists},
	{"unauthenticated", cerrdefs.ErrUnauthenticated, codes.Unauthenticated},
	{"permission denied", cerrdefs.ErrPermissionDenied, codes.PermissionDenied},
	{"not implemented", cerrdefs.ErrNotImplemented, codes.Unimplemented},
	{"resource exhausted", cerrdefs.ErrResourceExhausted, codes.ResourceExhausted},
	{"errdefs unknown", cerrdefs.ErrUnknown, codes.Internal},
	{"errdefs internal", cerrdefs.ErrInternal, codes.Internal},
	{"errdefs data loss", cerrdefs.ErrDataLoss, codes.DataLoss},
	{"plain", errors.New("boom"), codes.Internal},
	{"status not found", status.Error(codes.NotFound, "gone"), codes.NotFound},
	{"status unknown", status.Error(codes.Unknown, "what"), codes.Unknown},
	{"status resource exhausted", status.Error(codes.ResourceExhausted, "full"), codes.ResourceExhausted},
	{"wrapped status", fmt.Errorf("ctx: %w", status.Error(codes.PermissionDenied, "no")), codes.PermissionDenied},
	// A status takes precedence over what it wraps or sits beside.
	{"status beats context", errors.Join(status.Error(codes.Aborted, "x"), context.Canceled), codes.Aborted},
}

func TestCode(t *testing.T) {
	for _, tt := range codeTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFromDocker(t *testing.T) {
	if err := FromDocker(nil); err != nil {
		t.Fatalf("FromDocker(nil) = %v, want nil", err)
	}
	for _, tt := range codeTests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromDocker(tt.err)
			s, ok := status.FromError(got)
			if !ok {
				t.Fatalf("FromDocker(%v) = %v, not a gRPC status", tt.err, got)
			}
			if s.Code() != tt.want {
				t.Errorf("FromDocker(%v) code = %v, want %v", tt.err, s.Code(), tt.want)
			}
			// A status keeps its own message; anything else becomes the message whole.
			want := tt.err.Error()
			if orig, ok := status.FromError(tt.err); ok {
				want = orig.Message()
			}
			if s.Message() != want {
				t.Errorf("FromDocker(%v) message = %q, want %q", tt.err, s.Message(), want)
			}
		})
	}
}

func TestFromDockerKeepsStatus(t *testing.T) {
	orig := status.Error(codes.NotFound, "image gone")
	if got := FromDocker(orig); got != orig {
		t.Errorf("FromDocker(status) = %v, want the same error back", got)
	}
	wrapped := fmt.Errorf("ctx: %w", orig)
	if got := FromDocker(wrapped); got != wrapped {
		t.Errorf("FromDocker(wrapped status) = %v, want the same error back", got)
	}
}

func TestWrap(t *testing.T) {
	if err := Wrap(nil, "anything"); err != nil {
		t.Fatalf("Wrap(nil) = %v, want nil", err)
	}
	for _, tt := range codeTests {
		t.Run(tt.name, func(t *testing.T) {
			got := Wrap(tt.err, "inspect image busybox")
			s, ok := status.FromError(got)
			if !ok {
				t.Fatalf("Wrap(%v) = %v, not a gRPC status", tt.err, got)
			}
			if s.Code() != tt.want {
				t.Errorf("Wrap(%v) code = %v, want %v", tt.err, s.Code(), tt.want)
			}
			if !strings.HasPrefix(s.Message(), "inspect image busybox: ") {
				t.Errorf("Wrap(%v) message = %q, want it prefixed with what", tt.err, s.Message())
			}
		})
	}
}

func TestWrapMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("boom"), "pull x: boom"},
		{cerrdefs.ErrNotFound.WithMessage("No such image: x"), "pull x: No such image: x"},
		// A status contributes its message, not "rpc error: code = ... desc = ...".
		{status.Error(codes.NotFound, "manifest unknown"), "pull x: manifest unknown"},
		// Wrapping twice nests the prefixes and keeps the code.
		{Wrap(status.Error(codes.Unauthenticated, "denied"), "inner"), "pull x: inner: denied"},
	}
	for _, tt := range tests {
		got := Wrap(tt.err, "pull x")
		if s := status.Convert(got); s.Message() != tt.want {
			t.Errorf("Wrap(%v) message = %q, want %q", tt.err, s.Message(), tt.want)
		}
		if Code(got) != Code(tt.err) {
			t.Errorf("Wrap(%v) code = %v, want %v", tt.err, Code(got), Code(tt.err))
		}
	}
}
