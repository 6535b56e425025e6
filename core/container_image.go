package core

import (
	"context"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// labelImage records how a container names its image in ContainerStatus and
// ListContainers. The kubelet creates containers by image ID, shows the status's image
// to users (a pod's status.containerStatuses[].image) and compares it with the pod's to
// see that a container runs an updated image; so, as containerd does, the status names
// the image the user asked for (user_specified_image, else the image's first tag when
// the kubelet gave an ID), and its image_ref is a repo digest of that name's repository
// where the image has one: a reference to its content. Both are kept in labels at
// create, so that the status costs Docker nothing.
func (s *Service) labelImage(ctx context.Context, spec *runtimeapi.ImageSpec, labels map[string]string) error {
	insp, err := s.docker.ImageInspect(ctx, spec.GetImage())
	if err != nil {
		return grpcerr.Wrap(err, "image "+spec.GetImage())
	}
	name := spec.GetUserSpecifiedImage()
	if name == "" && len(insp.RepoTags) > 0 && (insp.ID == spec.GetImage() || strings.HasPrefix(insp.ID, "sha256:"+spec.GetImage())) {
		name = insp.RepoTags[0]
	}
	if name != "" {
		labels[labelImageName] = name
	} else {
		name = spec.GetImage()
	}
	if ref := repoDigestOf(name, insp.RepoDigests); ref != "" {
		labels[labelImageRef] = ref
	}
	return nil
}

// repoDigestOf is the repo digest of name's repository among digests, else the first
// of them ("" if none).
func repoDigestOf(name string, digests []string) string {
	if want, err := reference.ParseNormalizedNamed(name); err == nil {
		for _, d := range digests {
			if got, err := reference.ParseNormalizedNamed(d); err == nil && got.Name() == want.Name() {
				return d
			}
		}
	}
	if len(digests) > 0 {
		return digests[0]
	}
	return ""
}

// containerImage is the image of a container as its status and list entry name it:
// what labelImage recorded, else (a container from before it, or cri-dockerd's) the
// image it was created with and its ID.
func containerImage(insp *container.InspectResponse) (*runtimeapi.ImageSpec, string) {
	spec := &runtimeapi.ImageSpec{Image: insp.Config.Image}
	if name := insp.Config.Labels[labelImageName]; name != "" {
		spec = &runtimeapi.ImageSpec{Image: name, UserSpecifiedImage: name}
	}
	ref := insp.Config.Labels[labelImageRef]
	if ref == "" {
		ref = insp.Image
	}
	return spec, ref
}
