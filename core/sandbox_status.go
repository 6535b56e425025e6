package core

import (
	"context"
	"encoding/json"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// PodSandboxStatus reports a sandbox from Docker's view of its pause container and the
// sandbox's checkpoint (for a pod of the old server, its IPs from the CNI cache).
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectKind(ctx, req.GetPodSandboxId(), typeSandbox)
	if err != nil {
		return nil, err
	}
	cp, err := s.checkpoints.Load(insp.ID)
	if err != nil {
		// A damaged checkpoint costs the status what only it holds, not the whole answer.
		klog.ErrorS(err, "Read sandbox checkpoint", "podSandboxID", insp.ID)
	}
	st, err := sandboxStatus(insp, s.sandboxIPs(insp, cp))
	if err != nil {
		return nil, err
	}
	if s.starting.has(insp.ID) {
		st.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: st}
	if req.GetVerbose() {
		info, err := json.Marshal(map[string]any{"config": insp.Config, "hostConfig": insp.HostConfig, "state": insp.State, "checkpoint": cp})
		if err != nil {
			return nil, grpcerr.Wrap(err, "encode sandbox info")
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// sandboxStatus is the status of the sandbox whose pause container is insp and whose
// IPs are ips (primary first).
func sandboxStatus(insp container.InspectResponse, ips []string) (*runtimeapi.PodSandboxStatus, error) {
	meta, err := parseSandboxName(insp.Name)
	if err != nil {
		return nil, grpcerr.Wrap(err, "sandbox "+insp.ID)
	}
	labels, annotations := criLabels(insp.Config.Labels)
	st := &runtimeapi.PodSandboxStatus{
		Id:             insp.ID,
		Metadata:       meta,
		State:          sandboxState(insp.State != nil && insp.State.Running),
		CreatedAt:      createdAt(insp.Config.Labels, dockerTime(insp.Created)),
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Labels:         labels,
		Annotations:    annotations,
		RuntimeHandler: insp.Config.Labels[labelRuntimeHandler],
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
			Network: namespaceMode(string(insp.HostConfig.NetworkMode), runtimeapi.NamespaceMode_POD),
			Pid:     namespaceMode(string(insp.HostConfig.PidMode), sandboxPIDMode(insp.Config.Labels)),
			Ipc:     namespaceMode(string(insp.HostConfig.IpcMode), runtimeapi.NamespaceMode_POD),
		}}},
	}
	if len(ips) > 0 {
		st.Network.Ip = ips[0]
		for _, ip := range ips[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st, nil
}

func sandboxState(running bool) runtimeapi.PodSandboxState {
	if running {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// sandboxPIDMode is POD when the pod's containers share a PID namespace.
func sandboxPIDMode(labels map[string]string) runtimeapi.NamespaceMode {
	if labels[labelSharedPID] == "true" {
		return runtimeapi.NamespaceMode_POD
	}
	return runtimeapi.NamespaceMode_CONTAINER
}

// namespaceMode reads a Docker namespace mode: "host" is the node's.
func namespaceMode(mode string, otherwise runtimeapi.NamespaceMode) runtimeapi.NamespaceMode {
	if mode == "host" {
		return runtimeapi.NamespaceMode_NODE
	}
	return otherwise
}
