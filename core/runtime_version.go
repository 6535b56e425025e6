package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// Version reports Docker's version as the runtime's, as the kubelet shows it for the node.
func (s *Service) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	v, err := s.engineVersion(ctx)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       runtimeName,
		RuntimeVersion:    v,
		RuntimeApiVersion: CRIAPIVersion,
	}, nil
}

// engineVersion is Docker's version.
func (s *Service) engineVersion(ctx context.Context) (string, error) {
	v, err := s.serverVersion(ctx)
	return v.Version, err
}

// engineArch is the architecture dockerd runs on, by Go's name (its GOARCH): the one of
// the containers it runs, whatever dockercri's own.
func (s *Service) engineArch(ctx context.Context) (string, error) {
	v, err := s.serverVersion(ctx)
	return v.Arch, err
}

// serverVersion is Docker's /version, asked once while dockerd runs: it runs runc and
// docker-init, and the kubelet asks every second.
func (s *Service) serverVersion(ctx context.Context) (types.Version, error) {
	return s.dockerVersion.Get(ctx, func(ctx context.Context) (types.Version, error) {
		ctx, cancel := s.withTimeout(ctx)
		defer cancel()
		v, err := s.docker.ServerVersion(ctx)
		if err != nil {
			return types.Version{}, grpcerr.Wrap(err, "docker version")
		}
		return v, nil
	})
}

// minEngineAPI is the oldest Engine API dockercri runs on: Docker 20.10's, the oldest
// engine it is tested with.
const minEngineAPI = "1.41"

// engineAPIProblem says why dockercri cannot use the Docker Engine that answered a ping
// with its API version serverAPI, "" when it can: an engine older than minEngineAPI, or
// one so new that it refuses every version dockercri's client speaks (Docker says so to
// a versioned request, such as /version's).
func (s *Service) engineAPIProblem(ctx context.Context, serverAPI string) string {
	if serverAPI != "" && versions.LessThan(serverAPI, minEngineAPI) {
		return fmt.Sprintf("Docker Engine API %s is older than %s (Docker 20.10), the oldest dockercri supports", serverAPI, minEngineAPI)
	}
	if _, err := s.engineVersion(ctx); err != nil && strings.Contains(err.Error(), "Minimum supported API version") {
		return fmt.Sprintf("this Docker Engine does not speak Engine API %s, the newest dockercri speaks: %v", s.docker.ClientVersion(), status.Convert(err).Message())
	}
	return ""
}
