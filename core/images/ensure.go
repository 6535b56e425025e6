package images

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// Ensure returns the ID of the image spec names, pulling it (without credentials) when
// Docker does not have it: how dockercri gets the pause image.
func (s *Service) Ensure(ctx context.Context, spec string) (string, error) {
	ref, err := pullRef(spec)
	if err != nil {
		return "", err
	}
	ictx, cancel := s.withTimeout(ctx)
	insp, err := s.docker.ImageInspect(ictx, ref)
	cancel()
	if err == nil {
		return insp.ID, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return "", grpcerr.Wrap(err, "inspect image "+ref)
	}
	if err := s.pull(ctx, ref, ""); err != nil {
		return "", err
	}
	ictx, cancel = s.withTimeout(ctx)
	defer cancel()
	insp, err = s.docker.ImageInspect(ictx, ref)
	if err != nil {
		return "", grpcerr.Wrap(err, "inspect pulled image "+ref)
	}
	return insp.ID, nil
}
