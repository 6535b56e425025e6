package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

const (
	// kubeAPIVersion is the version of the kubelet-runtime API the Version RPC reports.
	kubeAPIVersion = "0.1.0"
	// runtimeName is the name a node reports for its runtime, as under dockershim.
	runtimeName = "docker"
	// CRIAPIVersion is the CRI version served.
	CRIAPIVersion = "v1"

	reasonDockerNotReady       = "DockerDaemonNotReady"
	reasonDockerAPIUnsupported = "DockerAPIVersionUnsupported"
	reasonNetworkNotReady      = "NetworkPluginNotReady"
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

// Status reports whether Docker answers and whether pods can get a network. It is the
// one call that succeeds while Docker is down: that is what it reports.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	runtimeCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	if ping, err := s.docker.Ping(ctx); err != nil {
		runtimeCond.Status = false
		runtimeCond.Reason = reasonDockerNotReady
		runtimeCond.Message = err.Error()
	} else if problem := s.engineAPIProblem(ctx, ping.APIVersion); problem != "" {
		runtimeCond.Status = false
		runtimeCond.Reason = reasonDockerAPIUnsupported
		runtimeCond.Message = problem
		s.apiProblemOnce.Do(func() { klog.ErrorS(nil, "Docker Engine not supported", "reason", problem) })
	}
	networkCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.network.Ready(); err != nil {
		networkCond.Status = false
		networkCond.Reason = reasonNetworkNotReady
		networkCond.Message = err.Error()
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeCond, networkCond}},
		// The default handler's features; the kubelet refuses recursive read-only mounts
		// to a handler that does not say it has them. User namespaces need per-pod ID
		// mappings, which Docker (userns-remap is daemon-wide) cannot give.
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{
			Features: &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: s.mountFeatures().recursiveReadOnly},
		}},
	}
	if req.GetVerbose() && runtimeCond.Status {
		info, err := s.verboseInfo(ctx)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": info}
	}
	return resp, nil
}

// verboseInfo is Status's verbose info: what Docker runs as, in JSON.
func (s *Service) verboseInfo(ctx context.Context) (string, error) {
	info, err := s.dockerInfo(ctx)
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]string{
		"dockerVersion": info.ServerVersion,
		"apiVersion":    s.docker.ClientVersion(),
		"storageDriver": info.Driver,
		"cgroupDriver":  info.CgroupDriver,
		"cgroupVersion": info.CgroupVersion,
		"dockerRootDir": info.DockerRootDir,
		"podCIDR":       s.network.PodCIDR(),
		"networkPlugin": s.cfg.NetworkPlugin,
		"podInfraImage": s.cfg.PodInfraImage,
	})
	return string(out), err
}

// RuntimeConfig tells the kubelet which cgroup driver Docker uses, so that the two agree.
func (s *Service) RuntimeConfig(ctx context.Context, _ *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	name, err := s.dockerCgroupDriver(ctx)
	if err != nil {
		return nil, err
	}
	driver, err := cgroupDriver(name)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// dockerCgroupDriver is Docker's cgroup driver, kept while dockerd runs (docker info
// costs dockerd milliseconds, and RunPodSandbox needs it for every pod).
func (s *Service) dockerCgroupDriver(ctx context.Context) (string, error) {
	d, err := s.daemonFacts(ctx)
	return d.cgroupDriver, err
}

// daemonFacts are Docker's cgroup driver and root directory.
type daemonFacts struct{ cgroupDriver, rootDir string }

func (s *Service) daemonFacts(ctx context.Context) (daemonFacts, error) {
	return s.daemon.Get(ctx, func(ctx context.Context) (daemonFacts, error) {
		info, err := s.dockerInfo(ctx)
		return daemonFacts{cgroupDriver: info.CgroupDriver, rootDir: info.DockerRootDir}, err
	})
}

// dockerInfo is Docker's system info, within the request timeout.
func (s *Service) dockerInfo(ctx context.Context) (system.Info, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	info, err := s.docker.Info(ctx)
	if err != nil {
		return info, grpcerr.Wrap(err, "docker info")
	}
	return info, nil
}

func cgroupDriver(name string) (runtimeapi.CgroupDriver, error) {
	switch name {
	case "systemd":
		return runtimeapi.CgroupDriver_SYSTEMD, nil
	case "cgroupfs":
		return runtimeapi.CgroupDriver_CGROUPFS, nil
	}
	return 0, status.Errorf(codes.FailedPrecondition, "docker reports cgroup driver %q, want systemd or cgroupfs", name)
}

// UpdateRuntimeConfig keeps the pod CIDR the kubelet sends for the network code.
func (s *Service) UpdateRuntimeConfig(_ context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	// The kubelet sends one CIDR, or an IPv4 and an IPv6 one comma-separated.
	for _, c := range strings.Split(cidr, ",") {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "pod CIDR %q: %v", cidr, err)
		}
	}
	s.network.SetPodCIDR(cidr)
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
