package images

import (
	"context"

	"github.com/docker/docker/api/types/image"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// ListImages lists the images Docker holds, or the one the filter names.
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	imgs, err := s.list(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	// The kubelet reads all of an image (names, size, pinned): nothing can be left out.
	if imgs, err = batch.Fit("ListImages", "StreamImages", imgs, batch.ProtoSizes(imgs), nil); err != nil {
		return nil, err
	}
	return &runtimeapi.ListImagesResponse{Images: imgs}, nil
}

// StreamImages sends what ListImages returns, in batches, for lists too large for one message.
func (s *Service) StreamImages(req *runtimeapi.StreamImagesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamImagesResponse]) error {
	imgs, err := s.list(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	return batch.Send(imgs, batch.ProtoSizes(imgs), func(b []*runtimeapi.Image) *runtimeapi.StreamImagesResponse {
		return &runtimeapi.StreamImagesResponse{Images: b}
	}, stream.Send)
}

func (s *Service) list(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	want := ""
	if spec := filter.GetImage().GetImage(); spec != "" {
		ref, err := resolve(spec)
		if err != nil {
			return nil, err
		}
		want = ref
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	summaries, err := s.docker.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, grpcerr.Wrap(err, "list images")
	}
	imgs := make([]*runtimeapi.Image, 0, len(summaries))
	present := make(map[string]bool, len(summaries))
	for _, sum := range summaries {
		present[sum.ID] = true
		tags, digests := realNames(sum.RepoTags), realNames(sum.RepoDigests)
		if want != "" && !matches(want, sum.ID, tags, digests) {
			continue
		}
		user, err := s.user(ctx, sum.ID)
		if grpcerr.Code(err) == codes.NotFound {
			continue // removed since the list was taken
		} else if err != nil {
			return nil, grpcerr.Wrap(err, "inspect image "+sum.ID)
		}
		img := &runtimeapi.Image{
			Id:          sum.ID,
			RepoTags:    tags,
			RepoDigests: digests,
			Size:        uint64(max(sum.Size, 0)),
			Spec:        &runtimeapi.ImageSpec{Image: sum.ID},
		}
		setUser(img, user)
		imgs = append(imgs, img)
	}
	if want == "" {
		s.forgetAbsent(present)
	}
	return imgs, nil
}

// user is the USER of image id, from the cache or one inspect.
func (s *Service) user(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	u, ok := s.users[id]
	s.mu.Unlock()
	if ok {
		return u, nil
	}
	insp, err := s.docker.ImageInspect(ctx, id)
	if err != nil {
		return "", err
	}
	s.remember(insp)
	return userOf(insp), nil
}

func (s *Service) remember(insp image.InspectResponse) {
	s.mu.Lock()
	s.users[insp.ID] = userOf(insp)
	s.mu.Unlock()
}

// forgetAbsent drops the cached users of images that are gone.
func (s *Service) forgetAbsent(present map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.users {
		if !present[id] {
			delete(s.users, id)
		}
	}
}

func userOf(insp image.InspectResponse) string {
	if insp.Config == nil {
		return ""
	}
	return insp.Config.User
}
