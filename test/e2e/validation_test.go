//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// The paths of a container that dockercri opens itself, and the host paths it hands
// Docker, are refused at create when they are not what they must be, and nothing is
// made: a seccomp profile that is no readable regular file holding a profile (it was
// read as it was: an empty /dev/null meant Docker's default profile, a FIFO hung the
// call, a non-profile failed the start with Internal), and host paths relative to
// dockercri's working directory (a mount's was resolved there, a device's would be
// Docker's).
func TestHostilePathsRefused(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	p := runPod(t, rt, env.SandboxConfig(t, "hostile-paths"))
	ref := pullBusybox(t, d.Images(t))

	dir := env.TempDir(t, "hostile")
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.json", `{"defaultAction":"SCMP_ACT_ALLOW"}`)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// dockercri runs in the test's working directory: a relative path from here
	// names a real file there.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel := func(path string) string {
		r, err := filepath.Rel(wd, path)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(env.TempDir(t, "linked"), link); err != nil {
		t.Fatal(err)
	}

	seccomp := func(path string) func(*runtimeapi.ContainerConfig) {
		return func(c *runtimeapi.ContainerConfig) {
			c.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: path}
		}
	}
	for _, tt := range []struct {
		what string
		set  func(*runtimeapi.ContainerConfig)
	}{
		{"seccomp profile relative to the working directory", seccomp(rel(good))},
		{"seccomp profile /dev/null", seccomp("/dev/null")},
		{"seccomp profile a FIFO", seccomp(fifo)},
		{"seccomp profile a directory", seccomp(dir)},
		{"seccomp profile not JSON", seccomp(write("text", "allow everything"))},
		{"seccomp profile JSON but no profile", seccomp(write("list.json", "[1, 2, 3]"))},
		{"mount source relative to the working directory", func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: rel(link), ContainerPath: "/data"}}
		}},
		{"device relative to the working directory", func(c *runtimeapi.ContainerConfig) {
			c.Devices = []*runtimeapi.Device{{HostPath: "dev/null", ContainerPath: "/dev/x", Permissions: "rwm"}}
		}},
	} {
		c := framework.ContainerConfig("c", ref, "true")
		tt.set(c)
		// A FIFO read without O_NONBLOCK waits for a writer for ever: the call's own
		// deadline is short.
		callCtx, cancel := context.WithTimeout(ctx(t), 30*time.Second)
		id, err := rt.CreateContainer(callCtx, p.id, c, p.cfg)
		cancel()
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: CreateContainer = %q, %v; want InvalidArgument", tt.what, id, err)
		}
	}
	if cs, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: p.id}); err != nil || len(cs) != 0 {
		t.Errorf("containers of the pod after refused creates: %d, %v; want none", len(cs), err)
	}

	// The good profile is taken, from its absolute path.
	c := framework.ContainerConfig("good", ref, "true")
	seccomp(good)(c)
	if _, err := rt.CreateContainer(ctx(t), p.id, c, p.cfg); err != nil {
		t.Errorf("CreateContainer with seccomp profile %s: %v", good, err)
	}
}

// A registry that refuses the connection is Unavailable (it was Internal): Docker
// answers with a 500 carrying the dial error's text.
func TestPullFromRegistryRefusingIsUnavailable(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	_, err := d.Images(t).PullImage(ctx(t), spec("127.0.0.1:1/nosuch:1"), nil, nil)
	wantCode(t, err, codes.Unavailable, "pull from 127.0.0.1:1, where nothing listens")
}
