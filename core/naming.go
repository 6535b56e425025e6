package core

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/daemon/names"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Docker names follow dockershim, so that `docker ps` reads as it always did and a node
// moved from cri-dockerd keeps its pods:
//
//	k8s_POD_<pod>_<namespace>_<uid>_<attempt>             the sandbox (pause container)
//	k8s_<container>_<pod>_<namespace>_<uid>_<attempt>     a container
//
// The name also makes creation idempotent: Docker refuses a second container of a name.
const (
	kubePrefix           = "k8s"
	sandboxContainerName = "POD"
	nameDelimiter        = "_"
)

func sandboxName(m *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{kubePrefix, sandboxContainerName, m.GetName(), m.GetNamespace(), m.GetUid(), strconv.FormatUint(uint64(m.GetAttempt()), 10)}, nameDelimiter)
}

func containerName(sandbox *runtimeapi.PodSandboxMetadata, c *runtimeapi.ContainerMetadata) string {
	return strings.Join([]string{kubePrefix, c.GetName(), sandbox.GetName(), sandbox.GetNamespace(), sandbox.GetUid(), strconv.FormatUint(uint64(c.GetAttempt()), 10)}, nameDelimiter)
}

// checkNamePart refuses a metadata field the Docker name cannot carry: "_" separates
// the name's parts (Kubernetes names never contain it), and Docker takes only letters,
// digits, "_", "." and "-" (which it would refuse only once the log directory and the
// image are made).
func checkNamePart(what, part string) error {
	if strings.Contains(part, nameDelimiter) {
		return status.Errorf(codes.InvalidArgument, "%s %q contains %q", what, part, nameDelimiter)
	}
	if !names.RestrictedNamePattern.MatchString(kubePrefix + nameDelimiter + part) {
		return status.Errorf(codes.InvalidArgument, "%s %q: a Docker name takes only letters, digits, \".\" and \"-\"", what, part)
	}
	return nil
}

// nameParts splits a Docker name made by sandboxName or containerName. Docker reports
// names with a leading "/"; dockershim's random suffix (a seventh part) is tolerated.
func nameParts(name string) ([]string, uint32, error) {
	parts := strings.Split(strings.TrimPrefix(name, "/"), nameDelimiter)
	if (len(parts) != 6 && len(parts) != 7) || parts[0] != kubePrefix {
		return nil, 0, fmt.Errorf("%q is not a name of a Kubernetes container", name)
	}
	attempt, err := strconv.ParseUint(parts[5], 10, 32)
	if err != nil {
		return nil, 0, fmt.Errorf("attempt in name %q: %v", name, err)
	}
	return parts, uint32(attempt), nil
}

func parseSandboxName(name string) (*runtimeapi.PodSandboxMetadata, error) {
	parts, attempt, err := nameParts(name)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxMetadata{Name: parts[2], Namespace: parts[3], Uid: parts[4], Attempt: attempt}, nil
}

func parseContainerName(name string) (*runtimeapi.ContainerMetadata, error) {
	parts, attempt, err := nameParts(name)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerMetadata{Name: parts[1], Attempt: attempt}, nil
}
