package core

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Deprecated seccomp_profile_path / apparmor_profile values, as the kubelet sent them
// before SecurityProfile.
const (
	profileRuntimeDefault = "runtime/default"
	profileDockerDefault  = "docker/default"
	profileUnconfined     = "unconfined"
	profileLocalhost      = "localhost/"
)

// labelPrivilegedFallback marks a container that asked for privileged mode on a host
// whose capability bounding set cannot give it: it got the closest the host permits.
const labelPrivilegedFallback = "io.dockercri.privileged-fallback"

// applySecurityContext translates a container's security context into Docker's config.
func (s *Service) applySecurityContext(sc *runtimeapi.LinuxContainerSecurityContext, c *container.Config, hc *container.HostConfig) error {
	user, err := dockerUser(sc)
	if err != nil {
		return err
	}
	c.User = user
	for _, g := range sc.GetSupplementalGroups() {
		if err := checkID("supplemental group", g); err != nil {
			return err
		}
		hc.GroupAdd = append(hc.GroupAdd, strconv.FormatInt(g, 10))
	}
	hc.ReadonlyRootfs = sc.GetReadonlyRootfs()
	if sc.GetNoNewPrivs() {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
	}
	if sc.GetPrivileged() {
		return s.applyPrivileged(c, hc)
	}
	// CRI order: an added ALL means every capability but those dropped; a dropped ALL
	// means only those added. Docker's own merge follows the same rules.
	hc.CapAdd = capNames(sc.GetCapabilities().GetAddCapabilities())
	hc.CapDrop = capNames(sc.GetCapabilities().GetDropCapabilities())
	if slices.Contains(hc.CapAdd, "ALL") && s.host.privilegedRestricted() {
		// Docker's ALL is every capability it knows, and a restricted host has fewer;
		// Docker 25 and later refuse to drop one the host lacks. So the host's are named,
		// and Docker's defaults dropped.
		drop := hc.CapDrop
		hc.CapAdd = slices.DeleteFunc(s.host.grantableCaps(s.docker.ClientVersion()), func(c string) bool { return slices.Contains(drop, c) })
		hc.CapDrop = []string{"ALL"}
	}
	// The kubelet's lists replace Docker's defaults; an empty list means none (it sends
	// that for privileged containers and procMount Unmasked).
	hc.MaskedPaths = nonNil(sc.GetMaskedPaths())
	hc.ReadonlyPaths = nonNil(sc.GetReadonlyPaths())

	seccomp, err := seccompOpt(sc.GetSeccomp(), sc.GetSeccompProfilePath())
	if err != nil {
		return err
	}
	apparmor, err := apparmorOpt(sc.GetApparmor(), sc.GetApparmorProfile())
	if err != nil {
		return err
	}
	for _, opt := range []string{seccomp, apparmor} {
		if opt != "" {
			hc.SecurityOpt = append(hc.SecurityOpt, opt)
		}
	}
	hc.SecurityOpt = append(hc.SecurityOpt, selinuxOpts(sc.GetSelinuxOptions())...)
	return nil
}

// dockerUser is Docker's "user[:group]" for the security context.
func dockerUser(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	var user string
	switch {
	case sc.GetRunAsUser() != nil:
		if err := checkID("run_as_user", sc.GetRunAsUser().GetValue()); err != nil {
			return "", err
		}
		user = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		// Docker reads "name:group": a ":" would make the rest a group.
		if strings.Contains(sc.GetRunAsUsername(), ":") {
			return "", status.Errorf(codes.InvalidArgument, "run_as_username %q contains \":\"", sc.GetRunAsUsername())
		}
		user = sc.GetRunAsUsername()
	}
	if g := sc.GetRunAsGroup(); g != nil {
		if user == "" {
			return "", status.Error(codes.InvalidArgument, "run_as_group needs run_as_user or run_as_username")
		}
		if err := checkID("run_as_group", g.GetValue()); err != nil {
			return "", err
		}
		user += ":" + strconv.FormatInt(g.GetValue(), 10)
	}
	return user, nil // "": the image's USER
}

// maxID is the largest user or group ID runc takes; Docker passes any on, and runc
// fails the start.
const maxID = 1<<31 - 1

func checkID(what string, id int64) error {
	if id < 0 || id > maxID {
		return status.Errorf(codes.InvalidArgument, "%s %d is not a user or group ID (0 to %d)", what, id, maxID)
	}
	return nil
}

// capNames are CRI capability names as Docker takes them ("CAP_NET_ADMIN", "ALL").
func capNames(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// seccompOpt is Docker's security option for a seccomp profile: "" for Docker's default
// profile. No profile at all is unconfined, as the CRI and dockershim define it.
func seccompOpt(p *runtimeapi.SecurityProfile, path string) (string, error) {
	if p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return "", nil
		case runtimeapi.SecurityProfile_Unconfined:
			return "seccomp=unconfined", nil
		case runtimeapi.SecurityProfile_Localhost:
			return localSeccomp(p.GetLocalhostRef())
		}
	}
	switch {
	case path == "" || path == profileUnconfined:
		return "seccomp=unconfined", nil
	case path == profileRuntimeDefault || path == profileDockerDefault:
		return "", nil
	case strings.HasPrefix(path, profileLocalhost):
		return localSeccomp(strings.TrimPrefix(path, profileLocalhost))
	}
	return "", status.Errorf(codes.InvalidArgument, "seccomp profile %q: unknown form", path)
}

// fileKind names a file's kind, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// maxSeccompProfile bounds a Localhost seccomp profile: Docker's own default profile is
// about 20 KiB, and the profile goes whole into the container's Docker config, which
// dockercri's view keeps in memory.
const maxSeccompProfile = 1 << 20

// localSeccomp reads a seccomp profile file: Docker's API takes the profile itself. It
// must be a readable regular file at an absolute path (not one resolved against
// dockercri's working directory) that parses as a Docker seccomp profile: else Docker
// would fail the container's start instead (a 500, Internal), or, for an empty file
// such as /dev/null, silently apply its default profile; a FIFO would hang the call
// and a device such as /dev/zero would be read without end.
func localSeccomp(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %q is not an absolute path", path)
	}
	// O_NONBLOCK: opening a FIFO does not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile: %v", err)
	case !st.Mode().IsRegular():
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %s is a %s, not a regular file", path, fileKind(st.Mode()))
	case st.Size() > maxSeccompProfile:
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %s has %d bytes, more than the %d a profile may have", path, st.Size(), maxSeccompProfile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSeccompProfile+1))
	switch {
	case err != nil:
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %s: %v", path, err)
	case len(b) > maxSeccompProfile:
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %s has more than the %d bytes a profile may have", path, maxSeccompProfile)
	}
	// Docker's own parser and checks (moby's profiles/seccomp), as its daemon applies
	// them at start; the capabilities only select conditional rules.
	if _, err := seccomp.LoadProfile(string(b), &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "seccomp profile %s: %v", path, err)
	}
	return "seccomp=" + string(b), nil
}

// apparmorOpt is Docker's security option for an AppArmor profile: "" for Docker's
// default profile (on a host without AppArmor, Docker applies none).
func apparmorOpt(p *runtimeapi.SecurityProfile, name string) (string, error) {
	if p != nil {
		switch p.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			return "", nil
		case runtimeapi.SecurityProfile_Unconfined:
			return "apparmor=unconfined", nil
		case runtimeapi.SecurityProfile_Localhost:
			if p.GetLocalhostRef() == "" {
				return "", status.Error(codes.InvalidArgument, "AppArmor profile Localhost needs a profile name")
			}
			return "apparmor=" + p.GetLocalhostRef(), nil
		}
	}
	switch {
	case name == "" || name == profileRuntimeDefault:
		return "", nil
	case name == profileUnconfined:
		return "apparmor=unconfined", nil
	case strings.HasPrefix(name, profileLocalhost):
		return "apparmor=" + strings.TrimPrefix(name, profileLocalhost), nil
	}
	return "", status.Errorf(codes.InvalidArgument, "AppArmor profile %q: unknown form", name)
}

func selinuxOpts(o *runtimeapi.SELinuxOption) []string {
	var out []string
	for _, kv := range [][2]string{{"user", o.GetUser()}, {"role", o.GetRole()}, {"type", o.GetType()}, {"level", o.GetLevel()}} {
		if kv[1] != "" {
			out = append(out, fmt.Sprintf("label=%s:%s", kv[0], kv[1]))
		}
	}
	return out
}

// applyPrivileged makes the container privileged. Docker's privileged mode asks runc
// for every capability; on a host whose bounding set lacks some (nested and CI hosts)
// that fails, so there the container gets the closest the host permits: every
// capability it has, no seccomp or AppArmor confinement, nothing masked or read-only,
// every device and a writable /sys. A label says so, for the status.
func (s *Service) applyPrivileged(c *container.Config, hc *container.HostConfig) error {
	if !s.host.privilegedRestricted() {
		hc.Privileged = true
		return nil
	}
	hc.CapAdd, hc.CapDrop = s.host.grantableCaps(s.docker.ClientVersion()), []string{"ALL"}
	hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined", "apparmor=unconfined", "label=disable")
	hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
	// Every device: allowed in the device cgroup, and each node of the host's /dev made.
	hc.DeviceCgroupRules = append(hc.DeviceCgroupRules, "a *:* rwm")
	hc.Devices = append(hc.Devices, hostDevices()...)
	// A bind, not one of hc.Mounts: those are exactly the CRI's mounts, which
	// ContainerStatus reports back.
	hc.Binds = append(hc.Binds, "/sys:/sys:rw,rprivate")
	c.Labels[labelPrivilegedFallback] = "every capability but " + strings.Join(s.host.missing, ",") + ", which the host's bounding set lacks"
	return nil
}
