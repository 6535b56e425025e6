package images

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// ImageFsInfo reports the filesystem that holds the images: Docker's root directory,
// where the classic image store keeps image layers and containers' writable layers
// alike, or, with the containerd image store, containerd's snapshot directory.
func (s *Service) ImageFsInfo(ctx context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	dir, err := s.imageDir(ctx)
	if err != nil {
		return nil, err
	}
	usage, err := fsUsage(dir)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{usage}}, nil
}

// imageDir is where Docker keeps images, from docker info, which costs dockerd
// milliseconds of CPU, once while dockerd runs: the kubelet asks every few seconds.
func (s *Service) imageDir(ctx context.Context) (string, error) {
	return s.imageRoot.Get(ctx, func(ctx context.Context) (string, error) {
		ctx, cancel := s.withTimeout(ctx)
		defer cancel()
		info, err := s.docker.Info(ctx)
		if err != nil {
			return "", grpcerr.Wrap(err, "docker info")
		}
		return imageDirOf(info.DockerRootDir, info.Driver, info.DriverStatus), nil
	})
}

// imageDirOf is Docker's root directory, or with the containerd image store (driver
// type io.containerd.snapshotter.v1) the directory of containerd's snapshotter: the
// containerd dockerd runs itself keeps it under Docker's root, a system containerd
// under /var/lib/containerd.
func imageDirOf(root, driver string, driverStatus [][2]string) string {
	if !slices.Contains(driverStatus, [2]string{"driver-type", "io.containerd.snapshotter.v1"}) {
		return root
	}
	for _, dir := range []string{filepath.Join(root, "containerd", "daemon"), "/var/lib/containerd"} {
		dir = filepath.Join(dir, "io.containerd.snapshotter.v1."+driver)
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return root
}

// fsUsage is what statfs says of the filesystem holding dir.
func fsUsage(dir string) (*runtimeapi.FilesystemUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, grpcerr.Wrap(err, "statfs "+dir)
	}
	return &runtimeapi.FilesystemUsage{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: dir},
		UsedBytes:  &runtimeapi.UInt64Value{Value: (st.Blocks - st.Bfree) * uint64(st.Bsize)},
		InodesUsed: &runtimeapi.UInt64Value{Value: st.Files - st.Ffree},
	}, nil
}
