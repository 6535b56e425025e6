package images

import (
	"regexp"
	"strings"

	"github.com/distribution/reference"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// resolve turns a CRI image spec into the string Docker looks the image up by.
//
// Names are normalised as the kubelet does (busybox is docker.io/library/busybox:latest),
// so that a short name and its long form are one image; an image ID (sha256:… or its
// 64 hex digits) is passed through. A malformed spec is InvalidArgument.
func resolve(spec string) (string, error) {
	if spec == "" {
		return "", status.Error(codes.InvalidArgument, "image name must not be empty")
	}
	// A short image ID (as crictl shows them) is looked up as the prefix it is, the
	// way Docker does, rather than read as an image name.
	if shortIDRE.MatchString(spec) {
		return spec, nil
	}
	ref, err := reference.ParseAnyReference(spec)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "invalid image reference %q: %v", spec, err)
	}
	if named, ok := ref.(reference.Named); ok {
		// Docker finds name:tag@digest by the digest alone, and lists it so.
		if canonical, ok := named.(reference.Canonical); ok {
			if byDigest, err := reference.WithDigest(reference.TrimNamed(named), canonical.Digest()); err == nil {
				return byDigest.String(), nil
			}
		}
		return reference.TagNameOnly(named).String(), nil
	}
	// A bare digest is an image ID: Docker names images by their config digest.
	return ref.String(), nil
}

// shortIDRE matches an image ID prefix: hex only, at least as long as crictl shows it.
var shortIDRE = regexp.MustCompile(`^[0-9a-f]{12,63}$`)

// pullRef is the reference a pull asks the registry for: a name with a tag or a digest.
// An ID cannot be pulled, so it is InvalidArgument here.
func pullRef(spec string) (string, error) {
	ref, err := resolve(spec)
	if err != nil {
		return "", err
	}
	if parsed, _ := reference.ParseAnyReference(spec); !isNamed(parsed) || shortIDRE.MatchString(spec) {
		return "", status.Errorf(codes.InvalidArgument, "cannot pull %q: an image ID names no registry", spec)
	}
	return ref, nil
}

// matches reports whether the image with this id, tags and digests is the one spec
// names (resolved with resolve). Docker reports tags and digests in their short form
// (busybox:latest), so both sides are compared normalised; and as Docker shortens
// ref, which is not always undone by normalising again: docker.io/0.0/b is reported as
// 0.0/b, which names image b of a registry 0.0.
func matches(ref, id string, tags, digests []string) bool {
	if ref == id || strings.TrimPrefix(id, "sha256:") == ref {
		return true
	}
	short := ""
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		short = reference.FamiliarString(named)
	}
	for _, names := range [][]string{tags, digests} {
		for _, name := range names {
			if name == short {
				return true
			}
			if n, err := resolve(name); err == nil && n == ref {
				return true
			}
		}
	}
	return false
}

// realNames drops the placeholders Docker reports for untagged images.
func realNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "<none>:<none>" && n != "<none>@<none>" {
			out = append(out, n)
		}
	}
	return out
}

func isNamed(r reference.Reference) bool {
	_, ok := r.(reference.Named)
	return ok
}
