package images

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	hexA   = strings.Repeat("a", 64)
	hexB   = strings.Repeat("b", 64)
	digA   = "sha256:" + hexA
	digB   = "sha256:" + hexB
	hexTop = strings.Repeat("A", 64)
)

// wantCode fails t unless err is a gRPC status with code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	s, ok := status.FromError(err)
	if !ok {
		t.Errorf("%s: error %v is not a gRPC status", what, err)
		return
	}
	if s.Code() != want {
		t.Errorf("%s: code %v (%v), want %v", what, s.Code(), err, want)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest"},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"127.0.0.1:5000/bb:1", "127.0.0.1:5000/bb:1"},
		{"localhost:5000/bb", "localhost:5000/bb:latest"},
		{"localhost/bb", "localhost/bb:latest"},
		{"[::1]:5000/bb:1", "[::1]:5000/bb:1"},
		// A digest pins the image; no tag is added.
		{"busybox@" + digA, "docker.io/library/busybox@" + digA},
		{"127.0.0.1:5000/bb@" + digA, "127.0.0.1:5000/bb@" + digA},
		// A tag beside a digest is kept (Docker looks such a reference up by digest).
		{"busybox:1.36@" + digA, "docker.io/library/busybox@" + digA}, // Docker finds it by digest
		// Image IDs pass through; 64 bare hex digits are an ID too.
		{digA, digA},
		{hexA, digA},
		// A host part may be upper case: this is registry UPPER's repository "case".
		{"UPPER/case", "UPPER/case:latest"},
		// Not an ID: an upper-case "digest" reads as repository sha256 with a tag,
		// and so does a short one.
		{"sha256:" + hexTop, "docker.io/library/sha256:" + hexTop},
		{"sha256:abc", "docker.io/library/sha256:abc"},
		// A short ID is a name: only full IDs are recognised.
		{"abcdef012345", "abcdef012345"}, // a short image ID, looked up as a prefix
	}
	for _, tt := range tests {
		got, err := resolve(tt.spec)
		if err != nil {
			t.Errorf("resolve(%q) = %v", tt.spec, err)
			continue
		}
		if got != tt.want {
			t.Errorf("resolve(%q) = %q, want %q", tt.spec, got, tt.want)
		}
		// What resolve returns resolves to itself, so a resolved name can be passed on.
		if again, err := resolve(got); err != nil || again != got {
			t.Errorf("resolve(resolve(%q)) = %q, %v, want %q", tt.spec, again, err, got)
		}
	}
}

func TestResolveInvalid(t *testing.T) {
	for _, spec := range []string{
		"",
		"a b",
		"Busybox",
		"upper/Case",
		"busybox:",
		"busybox@",
		"busybox@sha256:abc",
		"busybox@sha256:" + hexTop,
		":latest",
		"@" + digA,
		"busybox:" + strings.Repeat("x", 129),
		"//busybox",
		"busybox/",
		"busy box:1",
		"busybox:tag with space",
		"http://docker.io/busybox",
		"sha256:",
		"\x00",
	} {
		_, err := resolve(spec)
		if err == nil {
			t.Errorf("resolve(%q) = nil error, want InvalidArgument", spec)
			continue
		}
		wantCode(t, "resolve("+spec+")", err, codes.InvalidArgument)
	}
}

func TestPullRef(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"busybox", "docker.io/library/busybox:latest"},
		{"127.0.0.1:5000/bb:1", "127.0.0.1:5000/bb:1"},
		{"busybox@" + digA, "docker.io/library/busybox@" + digA},
		{"busybox:1.36@" + digA, "docker.io/library/busybox@" + digA}, // Docker finds it by digest
	}
	for _, tt := range tests {
		got, err := pullRef(tt.spec)
		if err != nil || got != tt.want {
			t.Errorf("pullRef(%q) = %q, %v, want %q", tt.spec, got, err, tt.want)
		}
	}
	for _, spec := range []string{"", "a b", "Busybox", digA, hexA} {
		got, err := pullRef(spec)
		if err == nil {
			t.Errorf("pullRef(%q) = %q, want InvalidArgument", spec, got)
			continue
		}
		wantCode(t, "pullRef("+spec+")", err, codes.InvalidArgument)
	}
}

// TestPullRefRejectsEveryID documents that a digest of another algorithm than sha256
// is an ID as much as a sha256 one, and names no registry either.
func TestPullRefRejectsEveryID(t *testing.T) {
	for _, spec := range []string{"sha256:" + strings.Repeat("a", 64), strings.Repeat("a", 64), "abcdef012345", "sha384:" + strings.Repeat("a", 96), "sha512:" + strings.Repeat("a", 128)} {
		_, err := pullRef(spec)
		wantCode(t, "pullRef("+spec+")", err, codes.InvalidArgument)
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		id      string
		tags    []string
		digests []string
		want    bool
	}{
		{"short name vs short tag", "busybox", digA, []string{"busybox:latest"}, nil, true},
		{"long name vs short tag", "docker.io/library/busybox:latest", digA, []string{"busybox:latest"}, nil, true},
		{"short name vs long tag", "busybox", digA, []string{"docker.io/library/busybox:latest"}, nil, true},
		{"name vs library tag", "busybox:1.36", digA, []string{"library/busybox:1.36"}, nil, true},
		{"second tag", "busybox:1.36", digA, []string{"busybox:latest", "busybox:1.36"}, nil, true},
		{"other tag", "busybox:1.36", digA, []string{"busybox:latest"}, nil, false},
		{"other repo", "alpine", digA, []string{"busybox:latest"}, nil, false},
		{"other registry", "quay.io/busybox", digA, []string{"busybox:latest"}, nil, false},
		{"private registry", "127.0.0.1:5000/bb:1", digA, []string{"127.0.0.1:5000/bb:1"}, nil, true},
		{"digest", "busybox@" + digB, digA, []string{"busybox:latest"}, []string{"busybox@" + digB}, true},
		{"long digest", "docker.io/library/busybox@" + digB, digA, nil, []string{"busybox@" + digB}, true},
		{"digest of another repo", "alpine@" + digB, digA, nil, []string{"busybox@" + digB}, false},
		{"digest vs tag only", "busybox@" + digB, digA, []string{"busybox:latest"}, nil, false},
		{"other digest", "busybox@" + digA, digA, nil, []string{"busybox@" + digB}, false},
		{"id", digA, digA, nil, nil, true},
		{"bare hex id", hexA, digA, nil, nil, true},
		{"other id", digB, digA, []string{"busybox:latest"}, nil, false},
		{"image digest is not its id", digB, digA, nil, []string{"busybox@" + digB}, false},
		{"untagged", "busybox", digA, []string{"<none>:<none>"}, []string{"<none>@<none>"}, false},
		{"no names", "busybox", digA, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := resolve(tt.spec)
			if err != nil {
				t.Fatalf("resolve(%q) = %v", tt.spec, err)
			}
			if got := matches(ref, tt.id, tt.tags, tt.digests); got != tt.want {
				t.Errorf("matches(%q, %q, %q, %q) = %v, want %v", ref, tt.id, tt.tags, tt.digests, got, tt.want)
			}
		})
	}
}

func TestRealNames(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{"<none>:<none>"}, []string{}},
		{[]string{"<none>@<none>"}, []string{}},
		{[]string{"busybox:latest", "<none>:<none>", "busybox:1.36"}, []string{"busybox:latest", "busybox:1.36"}},
		{[]string{"busybox@" + digA}, []string{"busybox@" + digA}},
	}
	for _, tt := range tests {
		got := realNames(tt.in)
		if got == nil {
			t.Errorf("realNames(%q) = nil, want a non-nil slice", tt.in)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("realNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
