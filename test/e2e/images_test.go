//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/versions"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// A pull by tag returns the image ID, and ListImages, ImageStatus and a filtered
// ListImages all name the image by that same ID, with its tag, size and USER.
func TestPullByTagThenListStatusRemove(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("tagged"), "v1", false, `CMD ["/bin/sh"]`, "USER 1000")
	images := env.StartDockercri(t).Images(t)

	ref := pullChecked(t, images, img.Ref, nil)

	st, err := images.ImageStatus(ctx(t), spec(img.Ref), true)
	if err != nil {
		t.Fatal(err)
	}
	got := st.GetImage()
	if got.GetId() != ref || !containsName(got.GetRepoTags(), img.Ref) || got.GetSize() == 0 {
		t.Errorf("ImageStatus = id %q tags %v size %d; want id %q with tag %q and a size", got.GetId(), got.GetRepoTags(), got.GetSize(), ref, img.Ref)
	}
	if got.GetUid().GetValue() != 1000 || got.GetUsername() != "" {
		t.Errorf("ImageStatus user = uid %v username %q, want uid 1000 from USER 1000", got.GetUid(), got.GetUsername())
	}
	var info struct {
		ID     string `json:"id"`
		Config struct {
			User string
			Cmd  []string
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.ID != ref || info.Config.User != "1000" {
		t.Errorf("verbose info %q (%v): want the image's config with USER 1000", st.GetInfo()["info"], err)
	}

	all, err := images.ListImages(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, i := range all {
		if i.GetId() == ref {
			found = true
			if !containsName(i.GetRepoTags(), img.Ref) || i.GetUid().GetValue() != 1000 {
				t.Errorf("ListImages entry %v: want tag %s and uid 1000", i, img.Ref)
			}
		}
	}
	if !found {
		t.Errorf("ListImages has no image with id %s", ref)
	}
	filtered, err := images.ListImages(ctx(t), &runtimeapi.ImageFilter{Image: spec(img.Ref)})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered) != 1 || filtered[0].GetId() != ref {
		t.Errorf("ListImages filtered by %s = %v, want just %s", img.Ref, filtered, ref)
	}

	if err := images.RemoveImage(ctx(t), spec(img.Ref)); err != nil {
		t.Fatalf("remove by tag: %v", err)
	}
	if st, err := images.ImageStatus(ctx(t), spec(img.Ref), false); err != nil || st.GetImage() != nil {
		t.Errorf("after remove, ImageStatus = %v, %v; want no image and no error", st, err)
	}
	if _, err := env.Docker.Client.ImageInspect(ctx(t), ref); err == nil {
		t.Errorf("docker still has %s after RemoveImage", ref)
	}
}

// A pull by digest finds the image by that digest, and removing it by digest removes it.
func TestPullAndRemoveByDigest(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("digested"), "v1", false)
	byDigest := env.Open.Host + "/" + img.Repo + "@" + img.Digest(t)
	images := env.StartDockercri(t).Images(t)

	ref, err := images.PullImage(ctx(t), spec(byDigest), nil, nil)
	if err != nil {
		t.Fatalf("pull %s: %v", byDigest, err)
	}
	st, err := images.ImageStatus(ctx(t), spec(byDigest), false)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetImage().GetId() != ref || !containsName(st.GetImage().GetRepoDigests(), byDigest) {
		t.Errorf("ImageStatus(%s) = %v; want id %s with that repo digest", byDigest, st.GetImage(), ref)
	}
	filtered, err := images.ListImages(ctx(t), &runtimeapi.ImageFilter{Image: spec(byDigest)})
	if err != nil || len(filtered) != 1 || filtered[0].GetId() != ref {
		t.Errorf("ListImages filtered by digest = %v, %v; want just %s", filtered, err, ref)
	}
	if err := images.RemoveImage(ctx(t), spec(byDigest)); err != nil {
		t.Fatalf("remove by digest: %v", err)
	}
	if _, err := env.Docker.Client.ImageInspect(ctx(t), ref); err == nil {
		t.Errorf("docker still has %s after RemoveImage by digest", ref)
	}
}

// Removing by ID removes the image under every name it has.
func TestRemoveByIDRemovesEveryTag(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("multitag"), "v1", false)
	images := env.StartDockercri(t).Images(t)
	ref, err := images.PullImage(ctx(t), spec(img.Ref), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := env.Open.Host + "/" + img.Repo + ":second"
	if err := env.Docker.Client.ImageTag(ctx(t), img.Ref, second); err != nil {
		t.Fatal(err)
	}
	if err := images.RemoveImage(ctx(t), spec(ref)); err != nil {
		t.Fatalf("remove by ID: %v", err)
	}
	for _, name := range []string{img.Ref, second, ref} {
		if _, err := env.Docker.Client.ImageInspect(ctx(t), name); err == nil {
			t.Errorf("docker still has %s after RemoveImage(%s)", name, ref)
		}
	}
}

// Simultaneous removals of one image, by ID and by tag, all succeed; so does removing
// an image that is not there.
func TestConcurrentAndMissingRemoves(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("concurrent"), "v1", false)
	images := env.StartDockercri(t).Images(t)
	for round := 0; round < 3; round++ {
		ref, err := images.PullImage(ctx(t), spec(img.Ref), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{ref, ref, img.Ref, img.Ref}
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = images.RemoveImage(ctx(t), spec(name))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: concurrent RemoveImage(%s): %v", round, names[i], err)
			}
		}
		if _, err := env.Docker.Client.ImageInspect(ctx(t), ref); err == nil {
			t.Fatalf("round %d: image survived the removals", round)
		}
	}
	if err := images.RemoveImage(ctx(t), spec(env.Open.Host+"/"+env.Repo("never-pulled")+":v1")); err != nil {
		t.Errorf("removing a missing image: %v, want success", err)
	}
	st, err := images.ImageStatus(ctx(t), spec(env.Open.Host+"/"+env.Repo("never-pulled")+":v1"), false)
	if err != nil || st.GetImage() != nil {
		t.Errorf("ImageStatus of a missing image = %v, %v; want nil image, no error", st, err)
	}
}

// The auth registry takes the right password, given as username/password or as an auth
// string, and refuses a wrong one or none with an authentication error.
func TestAuthPull(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Auth, env.Repo("private"), "v1", false)
	images := env.StartDockercri(t).Images(t)
	reg := env.Auth

	_, err := images.PullImage(ctx(t), spec(img.Ref), &runtimeapi.AuthConfig{Username: reg.User, Password: "wrong", ServerAddress: reg.Host}, nil)
	wantCode(t, err, codes.Unauthenticated, "pull with a wrong password")
	_, err = images.PullImage(ctx(t), spec(img.Ref), nil, nil)
	if err == nil {
		t.Fatal("pull without credentials succeeded")
	}
	if code := statusCode(err); code != codes.Unauthenticated && code != codes.PermissionDenied && code != codes.NotFound {
		t.Errorf("pull without credentials: %v, want an authentication error", err)
	}

	ref, err := images.PullImage(ctx(t), spec(img.Ref), &runtimeapi.AuthConfig{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host}, nil)
	if err != nil {
		t.Fatalf("pull with the right password: %v", err)
	}
	if err := images.RemoveImage(ctx(t), spec(ref)); err != nil {
		t.Fatal(err)
	}
	authString := base64.StdEncoding.EncodeToString([]byte(reg.User + ":" + reg.Password))
	ref2, err := images.PullImage(ctx(t), spec(img.Ref), &runtimeapi.AuthConfig{Auth: authString, ServerAddress: reg.Host}, nil)
	if err != nil {
		t.Fatalf("pull with an auth string: %v", err)
	}
	if ref2 != ref {
		t.Errorf("the two pulls returned %s and %s for one image", ref, ref2)
	}
}

// A pull of an image the registry does not have fails at once with NotFound.
func TestPullMissingImage(t *testing.T) {
	t.Parallel()
	images := env.StartDockercri(t).Images(t)
	missing := env.Open.Host + "/" + env.Repo("does-not-exist") + ":v1"
	_, err := images.PullImage(ctx(t), spec(missing), nil, nil)
	wantCode(t, err, codes.NotFound, "pull of a missing image")

	_, err = images.PullImage(ctx(t), spec(""), nil, nil)
	wantCode(t, err, codes.InvalidArgument, "pull of an empty name")
	_, err = images.PullImage(ctx(t), spec("UPPER/Case:tag"), nil, nil)
	wantCode(t, err, codes.InvalidArgument, "pull of a malformed reference")
	_, err = images.ImageStatus(ctx(t), spec("a b"), false)
	wantCode(t, err, codes.InvalidArgument, "status of a malformed reference")
}

// A pull that stops making progress is cancelled after --image-pull-progress-deadline
// with DeadlineExceeded, and leaves no image behind.
func TestStalledPullIsCancelled(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("stalled"), "v1", true)
	proxy, err := framework.StartStallProxy(env.Open.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	images := env.StartDockercri(t, "--image-pull-progress-deadline=3s").Images(t)
	viaProxy := proxy.Host + "/" + img.Repo + ":" + img.Tag

	_, err = images.PullImage(ctx(t), spec(viaProxy), nil, nil)
	wantCode(t, err, codes.DeadlineExceeded, "stalled pull")
	if !strings.Contains(err.Error(), "no progress") {
		t.Errorf("stalled pull error %q does not say why", err)
	}
	if proxy.Stalls() == 0 {
		t.Error("the pull never reached a blob download: the test did not stall it")
	}
	if _, err := env.Docker.Client.ImageInspect(ctx(t), viaProxy); err == nil {
		t.Error("docker has the image although its pull was cancelled")
	}
	// The same image pulls fine from the registry itself afterwards.
	if _, err := images.PullImage(ctx(t), spec(img.Ref), nil, nil); err != nil {
		t.Errorf("pull after a cancelled one: %v", err)
	}
}

// StreamImages, for the kubelet's streaming list mode, returns what ListImages returns.
func TestStreamImagesMatchesList(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("streamed"), "v1", false)
	d := env.StartDockercri(t)
	images := d.Images(t)
	ref, err := images.PullImage(ctx(t), spec(img.Ref), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, raw := d.Raw(t)
	stream, err := raw.StreamImages(ctx(t), &runtimeapi.StreamImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(img.Ref)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []*runtimeapi.Image
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		got = append(got, resp.GetImages()...)
	}
	if len(got) != 1 || got[0].GetId() != ref {
		t.Errorf("StreamImages filtered by %s = %v, want just %s", img.Ref, got, ref)
	}
}

// ImageFsInfo reports the filesystem where the images are: Docker's root directory, or
// with the containerd image store the snapshot directory of the containerd dockerd runs.
func TestImageFsInfo(t *testing.T) {
	t.Parallel()
	images := env.StartDockercri(t).Images(t)
	fs, err := images.ImageFsInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	info, err := env.Docker.Client.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.GetImageFilesystems()) != 1 {
		t.Fatalf("ImageFsInfo = %v, want one image filesystem", fs)
	}
	want := info.DockerRootDir
	if slices.Contains(info.DriverStatus, [2]string{"driver-type", "io.containerd.snapshotter.v1"}) {
		want = filepath.Join(info.DockerRootDir, "containerd", "daemon", "io.containerd.snapshotter.v1."+info.Driver)
		if _, err := os.Stat(want); err != nil {
			t.Fatalf("the containerd image store's snapshots: %v", err)
		}
	}
	u := fs.GetImageFilesystems()[0]
	if u.GetFsId().GetMountpoint() != want || u.GetUsedBytes().GetValue() == 0 || u.GetInodesUsed().GetValue() == 0 || u.GetTimestamp() == 0 {
		t.Errorf("ImageFsInfo = %v, want %s with used bytes, inodes and a timestamp", u, want)
	}
}

// The kubelet creates a container by image ID, naming what the user asked for in
// user_specified_image: the status and the list name the image as the user did, with a
// repo digest of it as image_ref and the ID as image_id (a pod's image, and what the
// kubelet compares to see an updated image). Without user_specified_image, an ID is
// shown as the image's tag.
func TestContainerImageAsTheUserNamedIt(t *testing.T) {
	t.Parallel()
	img := env.PushImage(t, env.Open, env.Repo("named"), "v2", true)
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	id := pullChecked(t, d.Images(t), img.Ref, nil)
	digest := img.Registry.Host + "/" + img.Repo + "@" + img.Digest(t)
	p := runPod(t, rt, env.SandboxConfig(t, "imgname"))
	for _, tc := range []struct {
		name, user, wantImage string
	}{
		{"by-user-name", img.Ref, img.Ref},
		{"by-id-only", "", img.Ref},
	} {
		c := framework.ContainerConfig(tc.name, id, "exec sleep 3600")
		c.Image.UserSpecifiedImage = tc.user
		cid := p.create(t, c)
		st, err := rt.ContainerStatus(ctx(t), cid, false)
		if err != nil {
			t.Fatal(err)
		}
		s := st.GetStatus()
		if s.GetImage().GetImage() != tc.wantImage || s.GetImageRef() != digest || s.GetImageId() != id {
			t.Errorf("%s: ContainerStatus image %q ref %q id %q; want %q, %q, %q", tc.name, s.GetImage().GetImage(), s.GetImageRef(), s.GetImageId(), tc.wantImage, digest, id)
		}
		list, err := rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{Id: cid})
		if err != nil || len(list) != 1 {
			t.Fatalf("ListContainers %s: %v, %v", cid, list, err)
		}
		if l := list[0]; l.GetImage().GetImage() != tc.wantImage || l.GetImageRef() != digest || l.GetImageId() != id {
			t.Errorf("%s: ListContainers image %q ref %q id %q; want %q, %q, %q", tc.name, l.GetImage().GetImage(), l.GetImageRef(), l.GetImageId(), tc.wantImage, digest, id)
		}
	}
}

// Image volumes (Kubernetes' ImageVolume): a pulled image's content mounted read-only
// into a container, whole or a sub-path of it, where the engine can (Engine API 1.48 for
// the image, 1.51 for a sub-path), reported so in the status; InvalidArgument
// where it cannot, never a mount silently left out.
func TestImageVolumes(t *testing.T) {
	t.Parallel()
	vol := env.PushImageWith(t, env.Open, env.Repo("volume"), "v1", map[string][]byte{"data/hello.txt": []byte("hello from the image volume\n")})
	p := newSecPod(t, "imgvol")
	id := pullChecked(t, p.d.Images(t), vol.Ref, nil)
	v, err := env.Docker.Client.ServerVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	c := framework.ContainerConfig("reader", p.ref, "exec sleep 3600")
	c.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/vol", Image: &runtimeapi.ImageSpec{Image: id}},
		{ContainerPath: "/sub", Image: &runtimeapi.ImageSpec{Image: id}, ImageSubPath: "data"},
	}
	if versions.LessThan(v.APIVersion, "1.51") {
		_, err := p.rt.CreateContainer(ctx(t), p.id, c, p.cfg)
		wantCode(t, err, codes.InvalidArgument, "image volume on Engine API "+v.APIVersion)
		return
	}
	cid := p.start(t, c)
	if out := p.sh(t, cid, "cat /vol/data/hello.txt /sub/hello.txt; touch /vol/x 2>/dev/null && echo writable; echo done"); out != "hello from the image volume\nhello from the image volume\ndone\n" {
		t.Errorf("image volume: %q", out)
	}
	st, err := p.rt.ContainerStatus(ctx(t), cid, false)
	if err != nil {
		t.Fatal(err)
	}
	if ms := st.GetStatus().GetMounts(); len(ms) != 2 || ms[0].GetImage().GetImage() != id || ms[1].GetImageSubPath() != "data" || !ms[0].GetReadonly() {
		t.Errorf("status mounts: %v", ms)
	}
}
