package images

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// ImageFsInfo reports the filesystem that holds Docker's root directory, where Docker
// keeps image layers and containers' writable layers alike.
func (s *Service) ImageFsInfo(ctx context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	dir, err := s.dockerRootDir(ctx)
	if err != nil {
		return nil, err
	}
	usage, err := fsUsage(dir)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{usage}}, nil
}

// dockerRootDir is Docker's root directory (docker info, which costs dockerd
// milliseconds of CPU; the kubelet asks for ImageFsInfo every few seconds).
func (s *Service) dockerRootDir(ctx context.Context) (string, error) {
	return s.rootDir.Get(ctx, func(ctx context.Context) (string, error) {
		ctx, cancel := s.withTimeout(ctx)
		defer cancel()
		info, err := s.docker.Info(ctx)
		if err != nil {
			return "", grpcerr.Wrap(err, "docker info")
		}
		return info.DockerRootDir, nil
	})
}

// fsUsage is what statfs says of the filesystem holding dir.
func fsUsage(dir string) (*runtimeapi.FilesystemUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", dir, err)
	}
	return &runtimeapi.FilesystemUsage{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: dir},
		UsedBytes:  &runtimeapi.UInt64Value{Value: (st.Blocks - st.Bfree) * uint64(st.Bsize)},
		InodesUsed: &runtimeapi.UInt64Value{Value: st.Files - st.Ffree},
	}, nil
}
