package images

import (
	"context"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// RemoveImage removes the image the spec names, under every tag and digest it has,
// as the kubelet's image garbage collector expects. Removing a missing image succeeds,
// so two removals of one image at once both succeed.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, found, err := s.inspectSpec(ctx, req.GetImage(), isGone)
	if err != nil {
		return nil, err
	} else if !found {
		return &runtimeapi.RemoveImageResponse{}, nil
	}
	// Docker refuses to remove by ID an image that has several names unless forced, and
	// forcing would also untag images that stopped containers use. Removing each name,
	// then the ID, removes exactly this image and fails where Docker says it is in use.
	names := append(realNames(insp.RepoTags), realNames(insp.RepoDigests)...)
	for _, name := range append(names, insp.ID) {
		if _, err := s.docker.ImageRemove(ctx, name, image.RemoveOptions{PruneChildren: true}); err != nil && !isGone(err) {
			return nil, grpcerr.Wrap(err, "remove image "+name)
		}
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// isGone reports whether err says the image is not there (any more). Docker 20.10 tells
// a removal that lost the race to another one with a 500 "unrecognized image ID".
func isGone(err error) bool {
	return cerrdefs.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "unrecognized image ID"))
}
