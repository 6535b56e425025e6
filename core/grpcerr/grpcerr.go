// Package grpcerr turns the errors dockercri meets into gRPC statuses with the code a
// kubelet acts on, so that no CRI call answers with a bare Unknown.
package grpcerr

import (
	"context"
	"errors"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FromDocker returns err as a gRPC status. An error that already is one is kept;
// Docker's error classes and context errors map to their codes; the rest is Internal.
func FromDocker(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
}

// Code is the gRPC code for a Docker or context error.
func Code(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), cerrdefs.IsDeadlineExceeded(err):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled), cerrdefs.IsCanceled(err):
		return codes.Canceled
	case client.IsErrConnectionFailed(err), cerrdefs.IsUnavailable(err):
		return codes.Unavailable
	case cerrdefs.IsNotFound(err):
		return codes.NotFound
	case cerrdefs.IsInvalidArgument(err):
		return codes.InvalidArgument
	case cerrdefs.IsConflict(err), cerrdefs.IsFailedPrecondition(err):
		return codes.FailedPrecondition
	case cerrdefs.IsAlreadyExists(err):
		return codes.AlreadyExists
	case cerrdefs.IsUnauthorized(err):
		return codes.Unauthenticated
	case cerrdefs.IsPermissionDenied(err):
		return codes.PermissionDenied
	case cerrdefs.IsNotImplemented(err):
		return codes.Unimplemented
	case cerrdefs.IsResourceExhausted(err):
		return codes.ResourceExhausted
	}
	return codes.Internal
}

// Wrap returns err as a gRPC status whose message starts with what, keeping err's code.
func Wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	return status.Error(Code(err), what+": "+msg)
}
