package images

import (
	"context"
	"encoding/json"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// ImageStatus returns the image the spec names; a missing image is a nil image, not an error.
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, found, err := s.inspectSpec(ctx, req.GetImage(), cerrdefs.IsNotFound)
	if err != nil {
		return nil, err
	} else if !found {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	s.remember(insp)
	resp := &runtimeapi.ImageStatusResponse{Image: toCRI(insp)}
	if req.GetVerbose() {
		info, err := json.Marshal(verboseInfo{ID: insp.ID, Created: insp.Created, Architecture: insp.Architecture, OS: insp.Os, Config: insp.Config})
		if err != nil {
			return nil, grpcerr.Wrap(err, "encode image info")
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// inspectSpec inspects the image spec names (ImageStatus, RemoveImage); found is false
// when Docker has no such image, which gone tells by the error.
func (s *Service) inspectSpec(ctx context.Context, spec *runtimeapi.ImageSpec, gone func(error) bool) (insp image.InspectResponse, found bool, err error) {
	ref, err := resolve(spec.GetImage())
	if err != nil {
		return insp, false, err
	}
	insp, err = s.docker.ImageInspect(ctx, ref)
	if gone(err) {
		return insp, false, nil
	} else if err != nil {
		return insp, false, grpcerr.Wrap(err, "inspect image "+ref)
	}
	return insp, true, nil
}

// verboseInfo is what ImageStatus tells in verbose mode: the image's config as Docker has it.
type verboseInfo struct {
	ID           string      `json:"id"`
	Created      string      `json:"created,omitempty"`
	Architecture string      `json:"architecture,omitempty"`
	OS           string      `json:"os,omitempty"`
	Config       interface{} `json:"config,omitempty"`
}

func toCRI(insp image.InspectResponse) *runtimeapi.Image {
	img := &runtimeapi.Image{
		Id:          insp.ID,
		RepoTags:    realNames(insp.RepoTags),
		RepoDigests: realNames(insp.RepoDigests),
		Size:        uint64(max(insp.Size, 0)),
		Spec:        &runtimeapi.ImageSpec{Image: insp.ID},
	}
	setUser(img, userOf(insp))
	return img
}
