package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/grpcerr"
)

// conflictRE finds the container holding a name in Docker's conflict error.
var conflictRE = regexp.MustCompile(`is already in use by container "?([0-9a-f]{64})"?`)

// createContainer creates a container under name. A container left over under that
// name (from a create that failed half-way, or a crash) is removed and the create tried
// once more, rather than failing this name forever.
func (s *Service) createContainer(ctx context.Context, config *container.Config, hc *container.HostConfig, name string) (string, error) {
	resp, err := s.docker.ContainerCreate(ctx, config, hc, nil, nil, name)
	if err != nil && cerrdefs.IsConflict(err) {
		if m := conflictRE.FindStringSubmatch(err.Error()); m != nil {
			klog.InfoS("Removing leftover container holding the name", "name", name, "containerID", m[1])
			if rmErr := s.removeFromDocker(ctx, m[1]); rmErr != nil {
				return "", grpcerr.Wrap(rmErr, "remove leftover container "+m[1])
			}
			resp, err = s.docker.ContainerCreate(ctx, config, hc, nil, nil, name)
		}
	}
	if err != nil {
		return "", grpcerr.Wrap(err, "create container "+name)
	}
	return resp.ID, nil
}

// inspectKind inspects the sandbox or container id (full or unique prefix) and checks
// that it is of the kind asked for; anything else is NotFound.
func (s *Service) inspectKind(ctx context.Context, id, kind string) (container.InspectResponse, error) {
	obj, err := s.inspectKindObj(ctx, id, kind)
	if obj == nil {
		return container.InspectResponse{}, err
	}
	return *obj, err
}

// inspectKindObj is inspectKind's object itself, shared (see lookup); on a
// NotFound of the wrong kind, the object too.
func (s *Service) inspectKindObj(ctx context.Context, id, kind string) (*container.InspectResponse, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "id must not be empty")
	}
	obj, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if obj.Config == nil || obj.Config.Labels[labelType] != kind {
		return obj, status.Errorf(codes.NotFound, "%s is not a %s", id, kindName(kind))
	}
	return obj, nil
}

// runningKind is inspectKind of a sandbox or container that must be running: one that
// is not is FailedPrecondition.
func (s *Service) runningKind(ctx context.Context, id, kind string) (container.InspectResponse, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	insp, err := s.inspectKind(ctx, id, kind)
	if err != nil {
		return insp, err
	}
	if insp.State == nil || !insp.State.Running {
		return insp, status.Errorf(codes.FailedPrecondition, "%s %s is not running", kindName(kind), insp.ID)
	}
	return insp, nil
}

// inspectUnlessGone is inspectKind for Stop and Remove, which succeed on what is gone:
// nil and no error when id is not there, nil and the error when the inspect failed.
func (s *Service) inspectUnlessGone(ctx context.Context, id, kind string) (*container.InspectResponse, error) {
	insp, err := s.inspectKind(ctx, id, kind)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &insp, nil
}

// unlessGone is the step Stop and Remove share: within timeout, it inspects id and runs
// do on it, unless it is gone, which is stopped and removed already. Either way the
// answer is the empty response R.
func unlessGone[R any](ctx context.Context, s *Service, id, kind string, timeout time.Duration, do func(context.Context, *container.InspectResponse) error) (*R, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	insp, err := s.inspectUnlessGone(ctx, id, kind)
	if err != nil {
		return nil, err
	}
	if insp != nil {
		if err := do(ctx, insp); err != nil {
			return nil, err
		}
	}
	return new(R), nil
}

func kindName(kind string) string {
	if kind == typeSandbox {
		return "pod sandbox"
	}
	return "container"
}

// dockerRuntime maps a CRI runtime handler (a RuntimeClass) to the Docker runtime of
// that name; the empty handler is Docker's default runtime.
func dockerRuntime(info system.Info, handler string) (string, error) {
	if handler == "" {
		return "", nil
	}
	if _, ok := info.Runtimes[handler]; !ok {
		known := make([]string, 0, len(info.Runtimes))
		for name := range info.Runtimes {
			known = append(known, name)
		}
		sort.Strings(known)
		return "", status.Errorf(codes.InvalidArgument, "runtime handler %q: Docker has no such runtime (it has %s)", handler, strings.Join(known, ", "))
	}
	return handler, nil
}

// writeResolvConf writes the sandbox's resolv.conf, which the pod's containers share:
// the DNS config the kubelet gave, or the host's own when it gave none.
func writeResolvConf(insp *container.InspectResponse, dns *runtimeapi.DNSConfig) error {
	id := insp.ID
	if insp.ResolvConfPath == "" {
		return status.Errorf(codes.Internal, "docker gave sandbox %s no resolv.conf", id)
	}
	content, err := resolvConf(dns)
	if err != nil {
		return err
	}
	if err := os.WriteFile(insp.ResolvConfPath, content, 0o644); err != nil {
		return grpcerr.Wrap(err, "write resolv.conf of sandbox "+id)
	}
	return nil
}

// checkDNSConfig refuses a DNS config resolv.conf cannot carry: each search domain and
// option is one word (a space would split it, a newline start a line of its own, and an
// empty one vanish), and each nameserver an IP address, as Kubernetes has them.
func checkDNSConfig(dns *runtimeapi.DNSConfig) error {
	for _, srv := range dns.GetServers() {
		if _, err := netip.ParseAddr(srv); err != nil || !oneWord(srv) {
			return status.Errorf(codes.InvalidArgument, "DNS server %q is not an IP address", srv)
		}
	}
	for _, word := range slices.Concat(dns.GetSearches(), dns.GetOptions()) {
		if !oneWord(word) {
			return status.Errorf(codes.InvalidArgument, "DNS search domain or option %q is not one word", word)
		}
	}
	return nil
}

func oneWord(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == 0 })
}

// hostResolvConf is read when the kubelet gives no DNS config.
var hostResolvConf = "/etc/resolv.conf"

func resolvConf(dns *runtimeapi.DNSConfig) ([]byte, error) {
	if len(dns.GetServers()) == 0 && len(dns.GetSearches()) == 0 && len(dns.GetOptions()) == 0 {
		b, err := os.ReadFile(hostResolvConf)
		if err != nil {
			return nil, grpcerr.Wrap(err, "read the host's resolv.conf")
		}
		return b, nil
	}
	var b strings.Builder
	for _, srv := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", srv)
	}
	if len(dns.GetSearches()) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
	}
	if len(dns.GetOptions()) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
	}
	return []byte(b.String()), nil
}

// dockerTime parses one of Docker's RFC 3339 times into nanoseconds; Docker's zero time
// ("0001-01-01T00:00:00Z", never happened) is 0.
func dockerTime(t string) int64 {
	ts, err := time.Parse(time.RFC3339Nano, t)
	if err != nil || ts.Year() <= 1 {
		return 0
	}
	return ts.UnixNano()
}

// removeIfExists removes path; a missing one is no error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// removeFromDocker removes a container (and its anonymous volumes) from Docker, by force;
// one already gone counts as removed.
//
// Docker 20.10 sometimes fails to unmount a dying container's root filesystem and then
// fails every removal with "failed to remove root filesystem … device or resource busy",
// leaving a Dead container behind for good. The container is being removed, so nothing
// needs that mount any more: dockercri detaches it and asks once more.
func (s *Service) removeFromDocker(ctx context.Context, id string) error {
	err := s.forceRemove(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "failed to remove root filesystem") {
		return err
	}
	insp, inspErr := s.docker.ContainerInspect(ctx, id)
	merged := insp.GraphDriver.Data["MergedDir"]
	if inspErr != nil || merged == "" {
		return err
	}
	if umErr := unix.Unmount(merged, unix.MNT_DETACH); umErr != nil && !errors.Is(umErr, unix.EINVAL) {
		return err
	}
	klog.InfoS("Detached the root filesystem Docker could not unmount; removing again", "containerID", id, "path", merged)
	return s.forceRemove(ctx, id)
}

func (s *Service) forceRemove(ctx context.Context, id string) error {
	err := s.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}
