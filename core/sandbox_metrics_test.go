package core

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/stats"
)

// The pod cgroup's series carry its path as cAdvisor's id, whatever the cgroup driver.
func TestMetricsPodCgroupID(t *testing.T) {
	for parent, want := range map[string]string{
		"kubepods-burstable-pod1.slice": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
		"/kubepods/burstable/pod1":      "/kubepods/burstable/pod1",
		"":                              "sb1",
	} {
		sb := &container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: "sb1", Name: "/k8s_POD_p_ns_uid_0", HostConfig: &container.HostConfig{Resources: container.Resources{CgroupParent: parent}}}, Config: &container.Config{}}
		st := &runtimeapi.PodSandboxStats{Attributes: &runtimeapi.PodSandboxAttributes{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns"}}}
		if got := (&Service{stats: stats.NewCollector()}).metricsPod(sb, st, nil).Cgroup.ID; got != want {
			t.Errorf("cgroup parent %q: id %q, want %q", parent, got, want)
		}
	}
}
