package core

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
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
