package images

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/engine"
)

// errStalled is the cause of a pull cancelled for making no progress.
var errStalled = errors.New("no progress")

// PullImage pulls the image by tag or digest and returns its image ID, the identifier
// that ListImages, ImageStatus and ContainerStatus report for it too.
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref, err := pullRef(req.GetImage().GetImage())
	if err != nil {
		return nil, err
	}
	auth, err := encodeAuth(req.GetAuth())
	if err != nil {
		return nil, err
	}
	if err := s.pull(ctx, ref, auth); err != nil {
		klog.ErrorS(err, "Image pull failed", "image", ref)
		return nil, err
	}
	ictx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.docker.ImageInspect(ictx, ref)
	if err != nil {
		return nil, grpcerr.Wrap(err, "inspect pulled image "+ref)
	}
	s.remember(insp)
	return &runtimeapi.PullImageResponse{ImageRef: insp.ID}, nil
}

// pull runs Docker's pull and follows its progress messages to the end. Docker reports
// progress as long as bytes arrive; when none comes for pullDeadline the pull is
// cancelled (closing the request makes Docker abandon it) rather than left to hang.
func (s *Service) pull(ctx context.Context, ref, auth string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(s.pullDeadline, func() { cancel(errStalled) })
	defer watchdog.Stop()

	err := func() error {
		body, err := s.docker.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
		if err != nil {
			return err
		}
		defer body.Close()
		err = engine.ReadProgress(body, func() { watchdog.Reset(s.pullDeadline) })
		if je := (*jsonmessage.JSONError)(nil); errors.As(err, &je) {
			return pullError(je.Message)
		}
		return err
	}()
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errStalled) {
		return status.Errorf(codes.DeadlineExceeded, "pull %s cancelled: no progress for %s (--image-pull-progress-deadline)", ref, s.pullDeadline)
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	if code := grpcerr.Code(err); code == codes.Internal {
		err = status.Error(classifyText(err.Error(), code), err.Error())
	}
	return grpcerr.Wrap(err, "pull "+ref)
}

// pullError classifies an error Docker reports inside the pull's progress stream, where
// it comes as text only.
func pullError(msg string) error {
	return status.Error(classifyText(msg, codes.Unknown), msg)
}

// classifyText finds the code of a registry error from its text: Docker 20.10 answers
// a refused login or a missing manifest with a bare 500 or a stream message, and the
// kubelet tells these cases apart only by code. A registry that could not be reached
// (refused, timed out) gave no verdict: that is grpcerr's Unavailable.
func classifyText(msg string, otherwise codes.Code) codes.Code {
	if code, ok := grpcerr.TextCode(msg); ok {
		return code
	}
	lower := grpcerr.Unquoted(msg)
	switch {
	case strings.Contains(lower, "not found"), strings.Contains(lower, "manifest unknown"),
		strings.Contains(lower, "does not exist"), strings.Contains(lower, "name unknown"):
		return codes.NotFound
	case strings.Contains(lower, "unauthorized"), strings.Contains(lower, "authentication required"),
		strings.Contains(lower, "no basic auth credentials"), strings.Contains(lower, "invalid_grant"),
		strings.Contains(lower, "refresh token"):
		return codes.Unauthenticated
	case strings.Contains(lower, "denied"):
		return codes.PermissionDenied
	case strings.Contains(lower, "toomanyrequests"):
		return codes.ResourceExhausted
	}
	return otherwise
}

// encodeAuth turns the kubelet's credentials into Docker's X-Registry-Auth header.
// Docker does not read the "auth" field itself, so a user:password pair given that way
// is decoded into username and password here, as the docker CLI does with config.json.
func encodeAuth(a *runtimeapi.AuthConfig) (string, error) {
	if a == nil {
		return "", nil
	}
	cfg := registry.AuthConfig{
		Username:      a.GetUsername(),
		Password:      a.GetPassword(),
		ServerAddress: a.GetServerAddress(),
		IdentityToken: a.GetIdentityToken(),
		RegistryToken: a.GetRegistryToken(),
	}
	if a.GetAuth() != "" && cfg.Username == "" && cfg.Password == "" {
		user, pass, err := decodeAuth(a.GetAuth())
		if err != nil {
			return "", err
		}
		cfg.Username, cfg.Password = user, pass
	}
	return registry.EncodeAuthConfig(cfg)
}

// decodeAuth splits a base64 "user:password" auth string.
func decodeAuth(auth string) (string, string, error) {
	raw, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return "", "", status.Errorf(codes.InvalidArgument, "auth is not base64: %v", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", status.Error(codes.InvalidArgument, `auth does not decode to "user:password"`)
	}
	return user, pass, nil
}
