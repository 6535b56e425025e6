package core

import (
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// mountFeatures are the kinds of mount this Docker Engine and kernel can make.
type mountFeatures struct {
	// recursiveReadOnly: Docker can ask for it from Engine API 1.44 (Docker 25), and the
	// kernel has mount_setattr.
	recursiveReadOnly bool
	// image mounts an image's content (Kubernetes' image volumes): Engine API 1.48
	// (Docker 28.0); a sub-path of it from API 1.51 (Docker 28.5, the oldest whose
	// source was checked to apply it; Docker 29 is tested with it).
	image, imageSubPath bool
}

func (s *Service) mountFeatures() mountFeatures {
	v := s.docker.ClientVersion()
	return mountFeatures{
		recursiveReadOnly: s.host.mountSetattr && versions.GreaterThanOrEqualTo(v, "1.44"),
		image:             versions.GreaterThanOrEqualTo(v, "1.48"),
		imageSubPath:      versions.GreaterThanOrEqualTo(v, "1.51"),
	}
}

// dockerMounts translates CRI mounts into Docker bind mounts, and image mounts. The
// host path must be absolute (a relative one is not resolved against dockercri's
// working directory) and exist (a bind of a missing path is an error, not a new empty
// directory); a symlink is followed, as the kubelet expects of every runtime.
// dockerRoot is Docker's root directory (see privateAboveRoot).
func dockerMounts(ms []*runtimeapi.Mount, can mountFeatures, dockerRoot string) ([]mount.Mount, error) {
	out := make([]mount.Mount, 0, len(ms))
	for _, m := range ms {
		if len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
			return nil, status.Errorf(codes.InvalidArgument, "mount %s: this Docker Engine cannot make an ID-mapped mount", m.GetContainerPath())
		}
		// Docker refuses a relative one too, but only after the log directory is made.
		if m.GetContainerPath() != "" && !filepath.IsAbs(m.GetContainerPath()) {
			return nil, status.Errorf(codes.InvalidArgument, "mount %q: the container path must be absolute", m.GetContainerPath())
		}
		if m.GetImage().GetImage() != "" {
			im, err := imageMount(m, can)
			if err != nil {
				return nil, err
			}
			out = append(out, im)
			continue
		}
		if m.GetContainerPath() == "" || m.GetHostPath() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "mount %v needs a host and a container path", m)
		}
		if !filepath.IsAbs(m.GetHostPath()) {
			return nil, status.Errorf(codes.InvalidArgument, "mount source %q is not an absolute path", m.GetHostPath())
		}
		if m.GetImageSubPath() != "" {
			return nil, status.Errorf(codes.InvalidArgument, "mount %s: image_sub_path %q, but no image to take it from", m.GetContainerPath(), m.GetImageSubPath())
		}
		src, err := filepath.EvalSymlinks(m.GetHostPath())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "mount source %s: %v", m.GetHostPath(), err)
		}
		bm := mount.Mount{Type: mount.TypeBind, Source: src, Target: m.GetContainerPath(), ReadOnly: m.GetReadonly(), BindOptions: &mount.BindOptions{}}
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			bm.BindOptions.Propagation = mount.PropagationRSlave
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			bm.BindOptions.Propagation = mount.PropagationRShared
		default:
			bm.BindOptions.Propagation = mount.PropagationRPrivate
		}
		if m.GetRecursiveReadOnly() {
			switch {
			case !m.GetReadonly():
				return nil, status.Errorf(codes.InvalidArgument, "mount %s: recursive read-only needs read-only", m.GetContainerPath())
			case bm.BindOptions.Propagation != mount.PropagationRPrivate:
				return nil, status.Errorf(codes.InvalidArgument, "mount %s: recursive read-only needs private propagation", m.GetContainerPath())
			case !can.recursiveReadOnly:
				return nil, status.Errorf(codes.InvalidArgument, "mount %s: this Docker Engine cannot make a mount recursively read-only (Engine API 1.44 and later can)", m.GetContainerPath())
			}
			bm.BindOptions.ReadOnlyForceRecursive = true
		} else if m.GetReadonly() && can.recursiveReadOnly {
			// From Engine API 1.44 a read-only bind is recursively read-only unless told
			// otherwise; the CRI's plain readonly leaves the mounts below writable.
			bm.BindOptions.ReadOnlyNonRecursive = true
		}
		if bm.BindOptions.Propagation == mount.PropagationRPrivate && !bm.BindOptions.ReadOnlyForceRecursive && containsPath(src, dockerRoot) {
			bm.BindOptions.Propagation = mount.PropagationRSlave
		}
		out = append(out, bm)
	}
	return out, nil
}

// containsPath reports whether dir is path or one of its parents. Docker refuses a
// private bind of a directory that holds its root ("must use either propagation mode
// rslave or rshared when mount source is within the daemon root"), so a pod's hostPath
// of /, /var or /var/lib, which containerd mounts privately, would never start; such a
// bind is made rslave, which differs from private only in that mounts made later on the
// host appear in the container (the kubelet's HostToContainer).
func containsPath(dir, path string) bool {
	if path == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// imageMount is an image volume: the image's content (the image the kubelet pulled,
// by its ID), read-only, or the directory image_sub_path names in it.
func imageMount(m *runtimeapi.Mount, can mountFeatures) (mount.Mount, error) {
	switch {
	case m.GetContainerPath() == "" || m.GetHostPath() != "":
		return mount.Mount{}, status.Errorf(codes.InvalidArgument, "image mount %v needs a container path and no host path", m)
	case !can.image:
		return mount.Mount{}, status.Errorf(codes.InvalidArgument, "image mount %s: this Docker Engine cannot mount an image (Engine API 1.48, Docker 28, and later can)", m.GetContainerPath())
	case m.GetImageSubPath() != "" && !can.imageSubPath:
		return mount.Mount{}, status.Errorf(codes.InvalidArgument, "image mount %s: this Docker Engine cannot mount a sub-path of an image (Engine API 1.51, Docker 28.5, and later can)", m.GetContainerPath())
	case m.GetImageSubPath() != "" && !filepath.IsLocal(m.GetImageSubPath()):
		return mount.Mount{}, status.Errorf(codes.InvalidArgument, "image mount %s: sub-path %q is not a path inside the image", m.GetContainerPath(), m.GetImageSubPath())
	}
	im := mount.Mount{Type: mount.TypeImage, Source: m.GetImage().GetImage(), Target: m.GetContainerPath(), ReadOnly: true}
	if m.GetImageSubPath() != "" {
		im.ImageOptions = &mount.ImageOptions{Subpath: m.GetImageSubPath()}
	}
	return im, nil
}

// criMounts are the container's mounts as the CRI gave them: Docker keeps them as
// they were asked for.
func criMounts(hc *container.HostConfig) []*runtimeapi.Mount {
	if hc == nil {
		return nil
	}
	out := make([]*runtimeapi.Mount, 0, len(hc.Mounts))
	for _, m := range hc.Mounts {
		if m.Type == mount.TypeImage {
			cm := &runtimeapi.Mount{ContainerPath: m.Target, Readonly: true, Image: &runtimeapi.ImageSpec{Image: m.Source}}
			if m.ImageOptions != nil {
				cm.ImageSubPath = m.ImageOptions.Subpath
			}
			out = append(out, cm)
			continue
		}
		cm := &runtimeapi.Mount{ContainerPath: m.Target, HostPath: m.Source, Readonly: m.ReadOnly}
		if m.BindOptions != nil {
			switch m.BindOptions.Propagation {
			case "rslave", "slave":
				cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case "rshared", "shared":
				cm.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
			cm.RecursiveReadOnly = m.BindOptions.ReadOnlyForceRecursive
		}
		out = append(out, cm)
	}
	return out
}
