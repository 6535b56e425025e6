package core

import (
	"bytes"
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/core/cache"
	"github.com/dockercri/dockercri/core/images"
	"github.com/dockercri/dockercri/core/pause"
	"github.com/dockercri/dockercri/engine"
)

// offlineEngine is a dockerd on arch that cannot pull: it has the images it imported.
type offlineEngine struct {
	engine.Engine
	arch string

	mu        sync.Mutex
	imported  map[string][]byte
	platforms []string
}

func (e *offlineEngine) ServerVersion(context.Context) (types.Version, error) {
	return types.Version{Version: "20.10.24", Os: "linux", Arch: e.arch}, nil
}

func (e *offlineEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.imported[ref]; ok {
		return image.InspectResponse{ID: "sha256:0123", RepoTags: []string{ref}}, nil
	}
	return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (e *offlineEngine) ImagePull(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
	return nil, cerrdefs.ErrUnavailable.WithMessage("dial tcp: lookup registry.k8s.io: no such host")
}

func (e *offlineEngine) ImageImport(_ context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error) {
	rootfs, err := io.ReadAll(src.Source)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.imported == nil {
		e.imported = map[string][]byte{}
	}
	e.imported[ref] = rootfs
	e.platforms = append(e.platforms, opts.Platform)
	return io.NopCloser(strings.NewReader(`{"status":"sha256:0123"}` + "\r\n")), nil
}

// Offline, a pod's pause image is dockercri's own for dockerd's architecture, whatever
// dockercri's own: the program of that architecture, imported for its platform.
func TestSandboxImageIsForDockersArchitecture(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			s, docker := offlineService(arch)

			got, err := s.sandboxImage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want, _ := pause.ImageName(arch)
			if got != want {
				t.Errorf("sandbox image %q, want %q (the built-in one for %s)", got, want, arch)
			}
			rootfs, _ := pause.RootFS(arch)
			if !bytes.Equal(docker.imported[want], rootfs) {
				t.Errorf("imported %v, not the root filesystem of the %s program", slices.Collect(maps.Keys(docker.imported)), arch)
			}
			if len(docker.platforms) != 1 || docker.platforms[0] != "linux/"+arch {
				t.Errorf("imported for platforms %q, want [linux/%s]", docker.platforms, arch)
			}
		})
	}
	t.Run("no program", func(t *testing.T) {
		s, docker := offlineService("riscv64")
		_, err := s.sandboxImage(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no such host") {
			t.Errorf("sandboxImage on riscv64 offline: %v, want the pull's error", err)
		}
		if len(docker.imported) != 0 {
			t.Errorf("imported %v on an architecture without a program", slices.Collect(maps.Keys(docker.imported)))
		}
	})
}

// offlineService is a Service on an offline dockerd on arch.
func offlineService(arch string) (*Service, *offlineEngine) {
	docker := &offlineEngine{arch: arch}
	never := func() (uint64, bool) { return 0, false }
	s := testService()
	s.docker = docker
	s.images = images.New(docker, time.Minute, time.Minute, never)
	s.dockerVersion = cache.NewFact[types.Version](never)
	return s, docker
}
