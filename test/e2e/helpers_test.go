//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ctx is a context that bounds one test's call so that a hang fails instead of blocking.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func spec(image string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: image} }

// wantCode fails the test unless err is a gRPC status with code want.
func wantCode(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s", what, want)
	}
	if got := status.Code(err); got != want {
		t.Fatalf("%s: code %s (%v), want %s", what, got, err, want)
	}
}

// condition returns the named condition of a Status response.
func condition(t *testing.T, st *runtimeapi.RuntimeStatus, typ string) *runtimeapi.RuntimeCondition {
	t.Helper()
	for _, c := range st.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	t.Fatalf("status has no %s condition: %v", typ, st)
	return nil
}

func containsName(names []string, want string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return n == want })
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// statusCode is err's gRPC code.
func statusCode(err error) codes.Code { return status.Code(err) }

// execCommand runs a host command and returns its combined output.
func execCommand(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// pullChecked pulls image through dockercri with auth and checks that the answer is the
// image ID Docker now has under that name; it returns it.
func pullChecked(t *testing.T, images internalapi.ImageManagerService, image string, auth *runtimeapi.AuthConfig) string {
	t.Helper()
	ref, err := images.PullImage(ctx(t), spec(image), auth, nil)
	if err != nil {
		t.Fatalf("pull %s: %v", image, err)
	}
	insp, err := env.Docker.Client.ImageInspect(ctx(t), image)
	if err != nil {
		t.Fatalf("docker does not have %s after the pull: %v", image, err)
	}
	if ref != insp.ID {
		t.Errorf("pull returned %q, docker's image ID is %q", ref, insp.ID)
	}
	return ref
}
