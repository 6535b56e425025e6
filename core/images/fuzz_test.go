package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

var quietOnce sync.Once

// quiet silences klog, which PullImage logs failed pulls to: a fuzz run fails thousands.
func quiet() {
	quietOnce.Do(func() {
		fs := flag.NewFlagSet("klog", flag.PanicOnError)
		klog.InitFlags(fs)
		fs.Set("logtostderr", "false")
		fs.Set("alsologtostderr", "false")
		fs.Set("stderrthreshold", "FATAL")
		klog.SetOutput(io.Discard)
	})
}

// checkStatus fails t unless err is nil or a gRPC status with a code a kubelet can act
// on: never OK (an error with no error code) and never Unknown, unless allowUnknown.
func checkStatus(t *testing.T, what string, err error, allowUnknown bool) codes.Code {
	t.Helper()
	if err == nil {
		return codes.OK
	}
	s, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s: error %q (%T) is not a gRPC status", what, err, err)
	}
	switch s.Code() {
	case codes.OK:
		t.Fatalf("%s: error %q has code OK", what, err)
	case codes.Unknown:
		if !allowUnknown {
			t.Fatalf("%s: error %q has code Unknown", what, err)
		}
	}
	return s.Code()
}

var specSeeds = []string{
	"",
	"busybox",
	"busybox:1.36",
	"busybox:latest",
	"library/busybox",
	"docker.io/library/busybox:latest",
	"index.docker.io/busybox",
	"registry.k8s.io/pause:3.10",
	"127.0.0.1:5000/bb:1",
	"localhost/bb",
	"[::1]:5000/bb:1",
	"nginx",
	"busybox@sha256:" + strings.Repeat("b", 64),
	"busybox:1.36@sha256:" + strings.Repeat("b", 64),
	"sha256:" + strings.Repeat("1", 64),
	strings.Repeat("1", 64),
	"sha256:" + strings.Repeat("A", 64),
	"sha384:" + strings.Repeat("a", 96),
	"sha512:" + strings.Repeat("a", 128),
	"sha256:abc",
	"sha256:",
	"abcdef012345",
	"UPPER/case",
	"Busybox",
	"a b",
	":",
	"@",
	"/",
	"busybox:",
	"busybox@",
	"busybox@sha256:abc",
	"http://docker.io/busybox",
	strings.Repeat("a/", 150) + "b",
	strings.Repeat("a", 300),
	"busybox:" + strings.Repeat("x", 129),
	"\x00",
	"\xff\xfe",
	"bü sybox",
	"<none>:<none>",
	"<none>@<none>",
}

// FuzzImageSpec feeds arbitrary image specs through the reference helpers and every
// image RPC that takes a spec, on the fake Docker.
func FuzzImageSpec(f *testing.F) {
	quiet()
	for _, s := range specSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ref, rerr := resolve(spec)
		if rerr != nil {
			if c := checkStatus(t, "resolve", rerr, false); c != codes.InvalidArgument {
				t.Fatalf("resolve(%q) = %v, want InvalidArgument", spec, rerr)
			}
		} else {
			if ref == "" {
				t.Fatalf("resolve(%q) = \"\" and no error", spec)
			}
			// Resolving is idempotent: a resolved name resolves to itself.
			if again, err := resolve(ref); err != nil || again != ref {
				t.Fatalf("resolve(resolve(%q) = %q) = %q, %v", spec, ref, again, err)
			}
			// An image Docker reports under the spec's name (in Docker's short form)
			// is the one the spec names.
			if named, err := reference.ParseNormalizedNamed(ref); err == nil {
				short := reference.FamiliarString(named)
				if !matches(ref, hexID('9'), []string{short}, nil) || !matches(ref, hexID('9'), nil, []string{short}) {
					t.Fatalf("matches(%q) misses an image named %q", ref, short)
				}
			} else if !strings.HasPrefix(ref, "sha") || !matches(ref, ref, nil, nil) {
				t.Fatalf("resolve(%q) = %q: neither a name nor an ID matching itself", spec, ref)
			}
		}

		pref, perr := pullRef(spec)
		switch {
		case perr != nil:
			if c := checkStatus(t, "pullRef", perr, false); c != codes.InvalidArgument {
				t.Fatalf("pullRef(%q) = %v, want InvalidArgument", spec, perr)
			}
			if rerr == nil && !strings.HasPrefix(ref, "sha") && !shortIDRE.MatchString(spec) {
				t.Fatalf("pullRef(%q) = %v, but resolve gives the name %q", spec, perr, ref)
			}
		case rerr != nil:
			t.Fatalf("pullRef(%q) = %q, but resolve fails: %v", spec, pref, rerr)
		case pref != ref:
			t.Fatalf("pullRef(%q) = %q, resolve = %q", spec, pref, ref)
		}

		ctx := context.Background()
		fake := newFake(testImages()...)
		fake.Registry["docker.io/library/nginx:latest"] = fakeImage(hexID('5'), "101", 1, []string{"nginx:latest"}, nil)
		s := newTestService(fake)
		known := map[string]bool{busyboxID: true, alpineID: true, danglyID: true, pauseID: true, hexID('5'): true}

		st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: spec}, Verbose: true})
		checkStatus(t, "ImageStatus", err, false)
		if (err != nil) != (rerr != nil) {
			t.Fatalf("ImageStatus(%q) = %v, resolve = %v", spec, err, rerr)
		}
		if img := st.GetImage(); img != nil && !known[img.Id] {
			t.Fatalf("ImageStatus(%q) = image %q the fake does not hold", spec, img.Id)
		}

		list, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: spec}}})
		checkStatus(t, "ListImages", err, false)
		if spec != "" && (err != nil) != (rerr != nil) {
			t.Fatalf("ListImages(%q) = %v, resolve = %v", spec, err, rerr)
		}
		// ImageStatus and a filtered list agree whether the image is there; except, as a
		// known bug (see TestListImagesFilterTagAndDigest), for a name with both a tag
		// and a digest, which Docker finds by its digest and the list filter does not.
		if err == nil && spec != "" && !tagAndDigest(ref) && (len(list.GetImages()) > 0) != (st.GetImage() != nil) {
			t.Fatalf("spec %q: ListImages finds %d images, ImageStatus %v", spec, len(list.GetImages()), st.GetImage())
		}

		pull, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: spec}})
		checkStatus(t, "PullImage", err, false)
		if err == nil && !known[pull.ImageRef] {
			t.Fatalf("PullImage(%q) = %q, an ID the fake never had", spec, pull.ImageRef)
		}
		if perr != nil && len(fake.Pulls) != 0 {
			t.Fatalf("PullImage(%q) reached Docker though pullRef refuses it: %v", spec, perr)
		}

		_, err = s.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: spec}})
		checkStatus(t, "RemoveImage", err, false)
		if (err != nil) != (rerr != nil) {
			t.Fatalf("RemoveImage(%q) = %v, resolve = %v", spec, err, rerr)
		}
		if err == nil && st.GetImage() != nil && fake.HasImage(st.GetImage().Id) {
			t.Fatalf("RemoveImage(%q) left image %s in place", spec, st.GetImage().Id)
		}
	})
}

// tagAndDigest reports whether ref is a name with both a tag and a digest.
func tagAndDigest(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	_, tagged := named.(reference.Tagged)
	_, digested := named.(reference.Digested)
	return tagged && digested
}

// FuzzPullStream feeds arbitrary bytes as the body of Docker's pull response.
func FuzzPullStream(f *testing.F) {
	quiet()
	for _, s := range []string{
		"",
		`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}` + "\r\n" + `{"status":"Done"}`,
		`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`,
		`{"errorDetail":{"message":"toomanyrequests: rate limit"},"error":"toomanyrequests"}`,
		`{"errorDetail":{},"error":"x"}`,
		`{"errorDetail":null}`,
		`{"error":"only the old field"}`,
		`{"status":`,
		`[1,2,3]`,
		`"a string"`,
		`null`,
		"{}{}{}",
		"{not json",
		"\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fake := newFake(testImages()...)
		fake.PullFn = func(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		}
		resp, err := newTestService(fake).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox"}})
		// Unknown is what a registry message no rule classifies gets: it only comes
		// from an error message inside the stream (JSON keys match case-insensitively).
		if checkStatus(t, "PullImage", err, true) == codes.Unknown && !bytes.Contains(bytes.ToLower(body), []byte("errordetail")) {
			t.Fatalf("PullImage with body %q = %v: Unknown without an error message in the stream", body, err)
		}
		if err == nil && resp.ImageRef != busyboxID {
			t.Fatalf("PullImage with body %q = %q, want %q", body, resp.ImageRef, busyboxID)
		}
	})
}

// FuzzAuth checks that any credentials the kubelet sends become a header Docker can
// read back to the same credentials, or InvalidArgument.
func FuzzAuth(f *testing.F) {
	f.Add("", "", "", "", "", "")
	f.Add("user", "pass", "", "registry.example.com", "", "")
	f.Add("", "", "dXNlcjpwYXNz", "", "", "")
	f.Add("", "", "dXNlcl9wYXNz", "", "", "")
	f.Add("", "", "!!", "", "", "")
	f.Add("", "", base64.StdEncoding.EncodeToString([]byte("u:p:q")), "", "", "")
	f.Add("u", "", "dXNlcjpwYXNz", "", "", "")
	f.Add("<token>", "", "", "myregistry.azurecr.io", "refresh", "")
	f.Add("", "", "", "", "", "bearer")
	f.Add("\xff", "\"}", "", "\\", "\x00", "\u2028")
	f.Fuzz(func(t *testing.T, user, pass, auth, server, identity, token string) {
		in := &runtimeapi.AuthConfig{Username: user, Password: pass, Auth: auth, ServerAddress: server, IdentityToken: identity, RegistryToken: token}
		header, err := encodeAuth(in)

		// What Docker should read: the auth string stands in for an absent user and password.
		want := registry.AuthConfig{Username: user, Password: pass, ServerAddress: server, IdentityToken: identity, RegistryToken: token}
		if auth != "" && user == "" && pass == "" {
			raw, derr := base64.StdEncoding.DecodeString(auth)
			u, p, ok := strings.Cut(string(raw), ":")
			if derr != nil || !ok {
				if checkStatus(t, "encodeAuth", err, false) != codes.InvalidArgument {
					t.Fatalf("encodeAuth(auth %q) = %q, %v, want InvalidArgument", auth, header, err)
				}
				return
			}
			want.Username, want.Password = u, p
		}
		if err != nil {
			t.Fatalf("encodeAuth(%+v) = %v", in, err)
		}
		if header == "" {
			t.Fatalf("encodeAuth(%+v) = \"\", want a header", in)
		}
		if strings.ContainsAny(header, "+/\r\n") {
			t.Fatalf("header %q is not URL-safe base64", header)
		}
		got, err := registry.DecodeAuthConfig(header)
		if err != nil {
			t.Fatalf("Docker cannot read header %q: %v", header, err)
		}
		raw, _ := base64.URLEncoding.DecodeString(header)
		if !json.Valid(raw) {
			t.Fatalf("header %q is not JSON: %q", header, raw)
		}
		if got.Auth != "" || got.Email != "" {
			t.Fatalf("header carries auth %q / email %q, want neither", got.Auth, got.Email)
		}
		// JSON turns invalid UTF-8 into U+FFFD: compare only what survives the trip.
		for _, s := range []string{want.Username, want.Password, want.ServerAddress, want.IdentityToken, want.RegistryToken} {
			if !utf8.ValidString(s) {
				return
			}
		}
		if *got != want {
			t.Fatalf("header carries %+v, want %+v", *got, want)
		}
	})
}
