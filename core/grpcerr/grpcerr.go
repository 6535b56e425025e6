// Package grpcerr turns the errors dockercri meets into gRPC statuses with the code a
// kubelet acts on, so that no CRI call answers with a bare Unknown.
package grpcerr

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FromDocker returns err as a gRPC status. An error that already is one is kept; the
// rest gets the code of its class (Code) and its text as the message.
func FromDocker(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
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

// Code is the gRPC code of err: a gRPC status keeps its own (dockercri's, or one passed
// on); anything else gets the code of the first class of the table it belongs to, and
// Internal when none: not Unknown, which is what the gRPC server would say of a bare
// error, and which says nothing of who failed.
func Code(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	for _, c := range classes {
		if c.is(err) {
			return c.code
		}
	}
	return codes.Internal
}

// A class is a kind of error, and its code.
type class struct {
	name string
	// is tells whether an error belongs to the class.
	is   func(error) bool
	code codes.Code
}

// classes is the table, in the order it is read. First the classes of containerd's
// errdefs, which Docker's API errors carry (from their HTTP status or a marker
// method), each with the code errgrpc gives it. errgrpc cannot be asked of the error
// itself: it finds the class with errdefs.Resolve, which does not see past the Docker
// client's error (whose Is method it never calls), so the class is found here, with
// errdefs' own Is functions, and errgrpc gives its code. errdefs' Internal and Unknown
// are not there: a Docker 500 is only its text, which the classes after them read.
var classes = []class{
	{"context deadline", func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || cerrdefs.IsDeadlineExceeded(err)
	}, errgrpcCode(context.DeadlineExceeded)},
	{"context canceled", func(err error) bool { return errors.Is(err, context.Canceled) || cerrdefs.IsCanceled(err) }, errgrpcCode(context.Canceled)},
	{"errdefs NotFound", cerrdefs.IsNotFound, errgrpcCode(cerrdefs.ErrNotFound)},
	{"errdefs InvalidArgument", cerrdefs.IsInvalidArgument, errgrpcCode(cerrdefs.ErrInvalidArgument)},
	{"errdefs AlreadyExists", cerrdefs.IsAlreadyExists, errgrpcCode(cerrdefs.ErrAlreadyExists)},
	{"errdefs PermissionDenied", cerrdefs.IsPermissionDenied, errgrpcCode(cerrdefs.ErrPermissionDenied)},
	{"errdefs ResourceExhausted", cerrdefs.IsResourceExhausted, errgrpcCode(cerrdefs.ErrResourceExhausted)},
	{"errdefs FailedPrecondition, Conflict, NotModified", func(err error) bool {
		return cerrdefs.IsFailedPrecondition(err) || cerrdefs.IsConflict(err) || cerrdefs.IsNotModified(err)
	}, errgrpcCode(cerrdefs.ErrFailedPrecondition)},
	{"errdefs Aborted", cerrdefs.IsAborted, errgrpcCode(cerrdefs.ErrAborted)},
	{"errdefs OutOfRange", cerrdefs.IsOutOfRange, errgrpcCode(cerrdefs.ErrOutOfRange)},
	{"errdefs NotImplemented", cerrdefs.IsNotImplemented, errgrpcCode(cerrdefs.ErrNotImplemented)},
	{"errdefs Unavailable", cerrdefs.IsUnavailable, errgrpcCode(cerrdefs.ErrUnavailable)},
	{"errdefs DataLoss", cerrdefs.IsDataLoss, errgrpcCode(cerrdefs.ErrDataLoss)},
	{"errdefs Unauthenticated", cerrdefs.IsUnauthorized, errgrpcCode(cerrdefs.ErrUnauthenticated)},

	{"a CNI plugin says the node's CNI configuration or plugins are wrong",
		cniError(cnitypes.ErrIncompatibleCNIVersion, cnitypes.ErrUnsupportedField, cnitypes.ErrDecodingFailure, cnitypes.ErrInvalidNetworkConfig), codes.FailedPrecondition},
	{"a CNI plugin says try again later, or that it is not available",
		cniError(cnitypes.ErrTryAgainLater, cnitypes.ErrPluginNotAvailable), codes.Unavailable},
	{"Docker unreachable: the client could not connect", client.IsErrConnectionFailed, codes.Unavailable},
	// dockercri reads streams only from Docker (and registries through it), so an
	// answer cut short is a connection lost.
	{"a connection refused, reset, cut or timed out: Docker's, or one Docker passes on (containerd's, a registry's)",
		either(
			[]error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, io.ErrUnexpectedEOF},
			unavailableWords), codes.Unavailable},
	{"no space left on a filesystem: dockercri's files, Docker's",
		either([]error{syscall.ENOSPC, syscall.EDQUOT}, noSpaceWords), codes.ResourceExhausted},
}

// errgrpcCode is the code errgrpc gives an errdefs class.
func errgrpcCode(class error) codes.Code { return status.Code(errgrpc.ToGRPC(class)) }

// The words of errors that come as text only: Docker answers with a 500 and the text
// of containerd's or a registry's error. They are matched outside the text's quoted
// parts (names and URLs).
var (
	unavailableWords = []string{"connection refused", "connection reset by peer", "broken pipe", "no route to host", "network is unreachable",
		"i/o timeout", "tls handshake timeout", "no such host", "transport is closing", "code = unavailable"}
	noSpaceWords = []string{"no space left on device", "disk quota exceeded"}
)

// textClasses are the classes known by their words, for TextCode.
var textClasses = []struct {
	words []string
	code  codes.Code
}{{unavailableWords, codes.Unavailable}, {noSpaceWords, codes.ResourceExhausted}}

func cniError(cniCodes ...uint) func(error) bool {
	return func(err error) bool {
		var ce *cnitypes.Error
		return errors.As(err, &ce) && slices.Contains(cniCodes, ce.Code)
	}
}

// either is a class of the errors that are one of errs, or whose text says one of words.
func either(errs []error, words []string) func(error) bool {
	return func(err error) bool {
		for _, target := range errs {
			if errors.Is(err, target) {
				return true
			}
		}
		return said(Unquoted(err.Error()), words)
	}
}

func said(text string, words []string) bool {
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// TextCode is the code of an error that comes as text only (a message in a pull's
// progress stream), by the words of the classes; ok is false when none matches.
func TextCode(msg string) (code codes.Code, ok bool) {
	text := Unquoted(msg)
	for _, c := range textClasses {
		if said(text, c.words) {
			return c.code, true
		}
	}
	return codes.Unknown, false
}

// quotedRE matches a double-quoted part of an error message.
var quotedRE = regexp.MustCompile(`"[^"]*"`)

// Unquoted is msg in lower case without its double-quoted parts: names and URLs
// ("https://r.io/v2/denied-app/…"), whose words are not the error's verdict.
func Unquoted(msg string) string {
	return strings.ToLower(quotedRE.ReplaceAllString(msg, `""`))
}
