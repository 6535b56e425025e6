package framework

import (
	"fmt"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SandboxConfig is a pod config as the kubelet would send it, with its log directory
// in a fresh temporary directory and a namespace unique to the run.
func (e *Env) SandboxConfig(t testing.TB, name string) *runtimeapi.PodSandboxConfig {
	t.Helper()
	uid := "uid-" + randomHex(6)
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: e.Namespace(), Uid: uid},
		Hostname:     name,
		LogDirectory: filepath.Join(e.TempDir(t, "pod"), fmt.Sprintf("%s_%s_%s", e.Namespace(), name, uid)),
		Labels: map[string]string{
			"io.kubernetes.pod.name":      name,
			"io.kubernetes.pod.namespace": e.Namespace(),
			"io.kubernetes.pod.uid":       uid,
		},
		// The kubelet's options for a pod without shareProcessNamespace or host namespaces.
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD},
		}},
	}
}

// Namespace is the Kubernetes namespace of the run's pods: the run's prefix.
func (e *Env) Namespace() string { return e.Prefix }

// ContainerConfig is a container config running image with command (a shell script
// when given as one string), logging to <name>/0.log as the kubelet names logs.
func ContainerConfig(name, image string, script string) *runtimeapi.ContainerConfig {
	c := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		LogPath:  name + "/0.log",
		Labels:   map[string]string{"io.kubernetes.container.name": name},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD},
		}},
	}
	if script != "" {
		c.Command = []string{"sh", "-c", script}
	}
	return c
}
