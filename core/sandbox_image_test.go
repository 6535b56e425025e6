package core

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"

	"github.com/dockercri/dockercri/core/dockerview"
	"github.com/dockercri/dockercri/core/images"
	"github.com/dockercri/dockercri/core/pause"
	"github.com/dockercri/dockercri/engine/enginetest"
)

// offline is a dockerd on arch that cannot pull: it has the images it imported.
func offline(arch string) *enginetest.Engine {
	e := enginetest.New()
	e.Arch = arch
	e.Fail = func(method, _ string) error {
		if method == "ImagePull" {
			return cerrdefs.ErrUnavailable.WithMessage("dial tcp: lookup registry.k8s.io: no such host")
		}
		return nil
	}
	return e
}

// imported is what e imported, by name, and the platforms it was asked to import for.
func imported(e *enginetest.Engine) (map[string][]byte, []string) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	byName := map[string][]byte{}
	var platforms []string
	for _, imp := range e.Imports {
		byName[imp.Ref] = imp.Data
		platforms = append(platforms, imp.Opts.Platform)
	}
	return byName, platforms
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
			images, platforms := imported(docker)
			if !bytes.Equal(images[want], rootfs) {
				t.Errorf("imported %v, not the root filesystem of the %s program", slices.Collect(maps.Keys(images)), arch)
			}
			if len(platforms) != 1 || platforms[0] != "linux/"+arch {
				t.Errorf("imported for platforms %q, want [linux/%s]", platforms, arch)
			}
		})
	}
	t.Run("no program", func(t *testing.T) {
		s, docker := offlineService("riscv64")
		_, err := s.sandboxImage(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no such host") {
			t.Errorf("sandboxImage on riscv64 offline: %v, want the pull's error", err)
		}
		if images, _ := imported(docker); len(images) != 0 {
			t.Errorf("imported %v on an architecture without a program", slices.Collect(maps.Keys(images)))
		}
	})
}

// offlineService is a Service on an offline dockerd on arch.
func offlineService(arch string) (*Service, *enginetest.Engine) {
	docker := offline(arch)
	never := func() (uint64, bool) { return 0, false }
	s := testService()
	s.docker = docker
	s.images = images.New(docker, time.Minute, time.Minute, never)
	s.dockerVersion = dockerview.NewFact[types.Version](never)
	return s, docker
}
