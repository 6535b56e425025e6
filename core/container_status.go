package core

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/crilog"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// Reasons a container exited, as the kubelet reports them.
const (
	reasonCompleted = "Completed"
	reasonError     = "Error"
	reasonOOMKilled = "OOMKilled"
)

// ContainerStatus reports a container from Docker's inspect. A container reported
// exited has all its output in its CRI log already. The answer for a container that
// has not exited is kept while its view object stays (statusMemo).
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	obj, err := s.inspectKindObj(ctx, req.GetContainerId(), typeContainer)
	if err != nil {
		return nil, err
	}
	if !req.GetVerbose() {
		if resp := s.statuses.get(obj); resp != nil {
			return resp, nil
		}
	}
	insp := *obj
	st, err := containerStatus(insp)
	if err != nil {
		return nil, err
	}
	if st.State == runtimeapi.ContainerState_CONTAINER_EXITED && st.LogPath != "" && s.cfg.ContainerLogFormat == config.LogFormatCRI {
		// A symlink at the log path is logged once, by the copying.
		if err := s.logs.WaitCopied(ctx, logContainer(insp)); err != nil && !errors.Is(err, crilog.ErrSymlink) {
			klog.ErrorS(err, "Copy the output of an exited container to its log", "containerID", insp.ID)
		}
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		verbose := map[string]any{"config": insp.Config, "hostConfig": insp.HostConfig, "state": insp.State, "pid": pidOf(insp)}
		if fallback := insp.Config.Labels[labelPrivilegedFallback]; fallback != "" {
			verbose["privileged"] = "restricted host: " + fallback
		}
		info, err := json.Marshal(verbose)
		if err != nil {
			return nil, grpcerr.Wrap(err, "encode container info")
		}
		resp.Info = map[string]string{"info": string(info)}
	} else if st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		s.statuses.put(obj, resp)
	}
	return resp, nil
}

func containerStatus(insp container.InspectResponse) (*runtimeapi.ContainerStatus, error) {
	meta, err := parseContainerName(insp.Name)
	if err != nil {
		return nil, grpcerr.Wrap(err, "container "+insp.ID)
	}
	labels, annotations := criLabels(insp.Config.Labels)
	image, imageRef := containerImage(&insp)
	st := &runtimeapi.ContainerStatus{
		Id:          insp.ID,
		Metadata:    meta,
		Image:       image,
		ImageRef:    imageRef,
		ImageId:     insp.Image,
		CreatedAt:   createdAt(insp.Config.Labels, dockerTime(insp.Created)),
		Labels:      labels,
		Annotations: annotations,
		LogPath:     insp.Config.Labels[labelLogPath],
		Mounts:      criMounts(insp.HostConfig),
	}
	if insp.State != nil {
		st.State = containerState(insp.State.Status)
		st.StartedAt = dockerTime(insp.State.StartedAt)
		st.FinishedAt = dockerTime(insp.State.FinishedAt)
		st.ExitCode = int32(insp.State.ExitCode)
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			st.Reason, st.Message = exitReason(insp.ID, insp.State)
		}
	}
	if sig, ok := runtimeapi.Signal_value[insp.Config.StopSignal]; ok {
		st.StopSignal = runtimeapi.Signal(sig)
	}
	st.User = containerUser(insp)
	return st, nil
}

// containerState maps Docker's state names onto the CRI's four.
func containerState(s string) runtimeapi.ContainerState {
	switch s {
	case "created":
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case "running", "paused", "restarting":
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case "exited", "dead", "removing":
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// exitKilled is the exit code of a process ended by SIGKILL, as the OOM killer ends them.
const exitKilled = 128 + 9

func exitReason(id string, st *container.State) (string, string) {
	switch {
	case st.OOMKilled, st.ExitCode == exitKilled && oomKills.killed(id):
		return reasonOOMKilled, st.Error
	case st.ExitCode == 0:
		return reasonCompleted, st.Error
	}
	return reasonError, st.Error
}

func pidOf(insp container.InspectResponse) int {
	if insp.State == nil {
		return 0
	}
	return insp.State.Pid
}

// containerUser is the identity the container's process runs as: read from the process
// itself while it runs, else from the user it was configured with when that is numeric.
func containerUser(insp container.InspectResponse) *runtimeapi.ContainerUser {
	if pid := pidOf(insp); pid > 0 {
		if u, err := processUsers.get(insp.ID, pid); err == nil {
			return &runtimeapi.ContainerUser{Linux: u}
		}
	}
	user, group, _ := strings.Cut(insp.Config.User, ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if user != "" && err != nil {
		return nil // a user name: only the process could tell its uid
	}
	gid, _ := strconv.ParseInt(group, 10, 64)
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{Uid: uid, Gid: gid}}
}

// processUsers remembers the identities of container processes: they are what the
// process started with (the CRI field is the initial identity), and the kubelet asks
// for every container's status every few seconds.
var processUsers = pidUsers{users: map[containerPid]*runtimeapi.LinuxContainerUser{}}

// containerPid names a process for good: a pid alone may be reused by another
// container's process.
type containerPid struct {
	id  string
	pid int
}

type pidUsers struct {
	mu    sync.Mutex
	users map[containerPid]*runtimeapi.LinuxContainerUser
}

// maxPidUsers bounds the memory: past it, the map starts again (and re-reads).
const maxPidUsers = 4096

func (p *pidUsers) get(id string, pid int) (*runtimeapi.LinuxContainerUser, error) {
	key := containerPid{id, pid}
	p.mu.Lock()
	u, ok := p.users[key]
	p.mu.Unlock()
	if ok {
		return u, nil
	}
	u, err := processUser(pid)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.users) >= maxPidUsers {
		p.users = map[containerPid]*runtimeapi.LinuxContainerUser{}
	}
	p.users[key] = u
	p.mu.Unlock()
	return u, nil
}

// processUser reads the real uid, gid and supplementary groups of pid.
func processUser(pid int) (*runtimeapi.LinuxContainerUser, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := &runtimeapi.LinuxContainerUser{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(val)
		switch key {
		case "Uid":
			if len(fields) > 0 {
				u.Uid, _ = strconv.ParseInt(fields[0], 10, 64)
			}
		case "Gid":
			if len(fields) > 0 {
				u.Gid, _ = strconv.ParseInt(fields[0], 10, 64)
			}
		case "Groups":
			for _, g := range fields {
				if n, err := strconv.ParseInt(g, 10, 64); err == nil {
					u.SupplementalGroups = append(u.SupplementalGroups, n)
				}
			}
		}
	}
	return u, sc.Err()
}
