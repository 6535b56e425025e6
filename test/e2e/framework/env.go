package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/dockercri/dockercri/core/pause"
)

// Env is what the whole e2e suite shares: the Docker Engine, two registries on
// 127.0.0.1 (one open, one with htpasswd auth), the base test image and the binary.
type Env struct {
	Root   string
	Tmp    string
	Binary string
	Docker *Dockerd
	Open   *Registry
	Auth   *Registry
	// Prefix starts the name of every image this run makes, for its cleanup.
	Prefix string
	// Busybox is a busybox image in the open registry, for the tests' containers.
	Busybox string
	// PauseImage is dockercri's own pause image in the open registry, the pod infra
	// image the tests' dockercri use.
	PauseImage string
	rootfs     []byte
	// The test CNI plugin, built when a test first needs it.
	pluginOnce sync.Once
	pluginBin  string
	pluginErr  error
}

// Setup brings up everything the suite needs, installing Debian packages when missing.
func Setup() (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("bash", filepath.Join(root, "hack", "ensure-deps.sh")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hack/ensure-deps.sh: %v\n%s", err, out)
	}
	tmp, err := os.MkdirTemp("", "dcri-e2e-")
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root, Tmp: tmp, Prefix: "dcri-e2e-" + randomHex(4)}
	ok := false
	defer func() {
		if !ok {
			e.Teardown()
		}
	}()
	if e.Binary, err = BuildDockercri(root, tmp); err != nil {
		return nil, err
	}
	if e.Docker, err = SuiteDockerd(filepath.Join(tmp, "dockerd")); err != nil {
		return nil, err
	}
	if v, err := e.Docker.Client.ServerVersion(context.Background()); err == nil {
		fmt.Fprintf(os.Stderr, "e2e: Docker Engine %s (API %s) at %s, image store %s\n", v.Version, v.APIVersion, e.Docker.Endpoint, orDefault(imageStore, "default"))
	}
	if e.Open, err = StartRegistry(filepath.Join(tmp, "registry-open"), "", ""); err != nil {
		return nil, err
	}
	if e.Auth, err = StartRegistry(filepath.Join(tmp, "registry-auth"), "e2e-user", "e2e-"+randomHex(8)); err != nil {
		return nil, err
	}
	if e.rootfs, err = RootFS(nil); err != nil {
		return nil, err
	}
	if e.Busybox, err = e.push(e.rootfs, e.Open, e.Repo("busybox"), "1", `CMD ["/bin/sh"]`); err != nil {
		return nil, err
	}
	pauseFS, err := pause.RootFS(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	if e.PauseImage, err = e.push(pauseFS, e.Open, e.Repo("pause"), "3.10", `CMD ["/pause"]`); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// Teardown removes the images the run made and stops what Setup started.
func (e *Env) Teardown() {
	if e.Docker != nil {
		e.removeOwnImages()
		if e.Docker.Started() {
			if err := e.Docker.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e teardown:", err)
			}
		}
	}
	e.Open.Stop()
	e.Auth.Stop()
	// What a failed test's dockercri left mounted there (a pod's pinned network
	// namespace) would hold its namespace and keep the directory.
	if err := unmountUnder(e.Tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e teardown:", err)
	}
	_ = os.RemoveAll(e.Tmp)
}

func (e *Env) removeOwnImages() {
	ctx := context.Background()
	imgs, err := e.Docker.Client.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return
	}
	for _, img := range imgs {
		for _, tag := range append(img.RepoTags, img.RepoDigests...) {
			if strings.Contains(tag, e.Prefix) {
				_ = RemoveImageEverywhere(ctx, e.Docker.Client, img.ID)
				break
			}
		}
	}
}

// TempDir is a fresh directory under the run's, removed with the test. Its path is
// short, as unix socket paths must be.
func (e *Env) TempDir(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp(e.Tmp, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// PushedImage is a test image in a registry and not in Docker, so that a pull is real.
type PushedImage struct {
	// Ref is registry/repo:tag.
	Ref      string
	Registry *Registry
	Repo     string
	Tag      string
}

// Repo is name under the run's prefix, so that the run's cleanup finds it.
func (e *Env) Repo(name string) string { return e.Prefix + "/" + name }

// PushImage builds a busybox image with changes (CMD, USER, …), pushes it to reg as
// repo:tag, and removes it from Docker again. With unique set,
// the image gets a layer of its own, so that pulling it must download a layer.
func (e *Env) PushImage(t testing.TB, reg *Registry, repo, tag string, unique bool, changes ...string) PushedImage {
	t.Helper()
	var files map[string][]byte
	if unique {
		noise := make([]byte, 256<<10)
		_, _ = rand.Read(noise)
		files = map[string][]byte{"noise": noise}
	}
	return e.PushImageWith(t, reg, repo, tag, files, changes...)
}

// PushImageWith is PushImage of busybox with files added (a layer of its own).
func (e *Env) PushImageWith(t testing.TB, reg *Registry, repo, tag string, files map[string][]byte, changes ...string) PushedImage {
	t.Helper()
	rootfs := e.rootfs
	if files != nil {
		var err error
		if rootfs, err = RootFS(files); err != nil {
			t.Fatal(err)
		}
	}
	p := PushedImage{Registry: reg, Repo: repo, Tag: tag}
	p.Ref = reg.Host + "/" + p.Repo + ":" + tag
	if len(changes) == 0 {
		changes = []string{`CMD ["/bin/sh"]`}
	}
	if _, err := e.push(rootfs, reg, repo, tag, changes...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveImageEverywhere(context.Background(), e.Docker.Client, p.Ref) })
	return p
}

// push imports rootfs with changes as reg/repo:tag, pushes it and removes it from Docker.
func (e *Env) push(rootfs []byte, reg *Registry, repo, tag string, changes ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := reg.Host + "/" + repo + ":" + tag
	if _, err := ImportImage(ctx, e.Docker.Client, rootfs, ref, changes...); err != nil {
		return "", err
	}
	if err := PushImage(ctx, e.Docker.Client, ref, reg); err != nil {
		return "", err
	}
	return ref, RemoveImageEverywhere(ctx, e.Docker.Client, ref)
}

// Digest is the image's manifest digest in its registry.
func (p PushedImage) Digest(t testing.TB) string {
	t.Helper()
	d, err := p.Registry.ManifestDigest(p.Repo, p.Tag)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
