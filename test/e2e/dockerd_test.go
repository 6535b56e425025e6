//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// With Docker down, dockercri starts and serves anyway: Status says why the runtime is
// not ready and every other call is Unavailable. It recovers by itself when dockerd
// comes up, and again across a stop and start of dockerd.
//
// This runs on a dockerd of the test's own (the node's is never stopped), which also
// mirrors docker.io from the local registry, so that short names can be pulled offline.
func TestDockerDownAndBackAndShortNames(t *testing.T) {
	t.Parallel()
	// Short names mean docker.io/library/…: the mirror serves that repository.
	env.PushImage(t, env.Open, "library/"+env.Prefix+"-busybox", "latest", false)
	shortName := env.Prefix + "-busybox"

	dir, err := os.MkdirTemp("", "dcri-d-") // short: dockerd's sockets live below it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := "unix://" + dir + "/docker.sock"
	d := env.StartDockercri(t, "--docker-endpoint", sock)
	rt, img := d.Raw(t)

	runtimeReady := func() *runtimeapi.RuntimeCondition {
		st, err := rt.Status(ctx(t), &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatalf("Status must answer whether or not Docker does: %v", err)
		}
		return condition(t, st.GetStatus(), runtimeapi.RuntimeReady)
	}
	expectDown := func(when string) {
		t.Helper()
		if c := runtimeReady(); c.GetStatus() || c.GetReason() != "DockerDaemonNotReady" || c.GetMessage() == "" {
			t.Errorf("%s: RuntimeReady = %v; want false, DockerDaemonNotReady, the error", when, c)
		}
		_, err := img.ListImages(ctx(t), &runtimeapi.ListImagesRequest{})
		wantCode(t, err, codes.Unavailable, when+": ListImages")
		_, err = rt.Version(ctx(t), &runtimeapi.VersionRequest{})
		wantCode(t, err, codes.Unavailable, when+": Version")
		_, err = img.ImageFsInfo(ctx(t), &runtimeapi.ImageFsInfoRequest{})
		wantCode(t, err, codes.Unavailable, when+": ImageFsInfo")
	}
	expectUp := func(when string) {
		t.Helper()
		if err := framework.WaitFor(30*time.Second, func() error {
			if c := runtimeReady(); !c.GetStatus() {
				return fmt.Errorf("RuntimeReady = %v", c)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if _, err := rt.Version(ctx(t), &runtimeapi.VersionRequest{}); err != nil {
			t.Errorf("%s: Version: %v", when, err)
		}
	}

	expectDown("before dockerd started")

	dockerd, err := framework.StartPrivateDockerd(dir, "--registry-mirror", "http://"+env.Open.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dockerd.Stop() })
	expectUp("after dockerd started")

	// busybox-like short names are normalised as the kubelet does: the pull, the status
	// under the short and the long name, and the filtered list all agree on the image.
	pulled, err := img.PullImage(ctx(t), &runtimeapi.PullImageRequest{Image: spec(shortName)})
	if err != nil {
		t.Fatalf("pull of short name %s: %v", shortName, err)
	}
	for _, name := range []string{shortName, shortName + ":latest", "docker.io/library/" + shortName + ":latest"} {
		st, err := img.ImageStatus(ctx(t), &runtimeapi.ImageStatusRequest{Image: spec(name)})
		if err != nil || st.GetImage().GetId() != pulled.GetImageRef() {
			t.Errorf("ImageStatus(%s) = %v, %v; want %s", name, st.GetImage(), err, pulled.GetImageRef())
		}
	}
	list, err := img.ListImages(ctx(t), &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(shortName)}})
	if err != nil || len(list.GetImages()) != 1 || list.GetImages()[0].GetId() != pulled.GetImageRef() {
		t.Errorf("ListImages filtered by %s = %v, %v; want just %s", shortName, list, err, pulled.GetImageRef())
	}

	if err := dockerd.Stop(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("dockerd stop: %v", err)
	}
	expectDown("after dockerd stopped")

	if err := dockerd.Start(); err != nil {
		t.Fatal(err)
	}
	expectUp("after dockerd started again")
	st, err := img.ImageStatus(ctx(t), &runtimeapi.ImageStatusRequest{Image: spec(shortName)})
	if err != nil || st.GetImage().GetId() != pulled.GetImageRef() {
		t.Errorf("after dockerd restart, ImageStatus(%s) = %v, %v; want %s", shortName, st.GetImage(), err, pulled.GetImageRef())
	}
}
