package images

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/engine"
)

const testTimeout = 10 * time.Second

var (
	busyboxID = hexID('1')
	alpineID  = hexID('2')
	danglyID  = hexID('3')
	pauseID   = hexID('4')

	busyboxDigest = "busybox@" + hexID('b')
)

// testImages is a small image store: a multi-tagged image with a digest, a
// single-tagged one, an untagged (dangling) one and one with a numeric USER.
func testImages() []image.InspectResponse {
	return []image.InspectResponse{
		fakeImage(busyboxID, "", 4_000_000, []string{"busybox:latest", "busybox:1.36"}, []string{busyboxDigest}),
		fakeImage(alpineID, "nobody", 7_000_000, []string{"alpine:3.20"}, []string{"<none>@<none>"}),
		fakeImage(danglyID, "", 100, []string{"<none>:<none>"}, []string{"<none>@<none>"}),
		fakeImage(pauseID, "65535:65535", 700_000, []string{"registry.k8s.io/pause:3.10"}, []string{"registry.k8s.io/pause@" + hexID('c')}),
	}
}

func newTestService(f engine.Engine) *Service {
	return New(f, testTimeout, time.Minute, alwaysLive)
}

// alwaysLive is the epoch of a Docker whose event stream never breaks.
func alwaysLive() (uint64, bool) { return 1, true }

func spec(s string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: s} }

func ids(imgs []*runtimeapi.Image) []string {
	out := make([]string, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, img.Id)
	}
	sort.Strings(out)
	return out
}

func byID(imgs []*runtimeapi.Image, id string) *runtimeapi.Image {
	for _, img := range imgs {
		if img.Id == id {
			return img
		}
	}
	return nil
}

func TestImageStatusMissing(t *testing.T) {
	f := newFake(testImages()...)
	s := newTestService(f)
	for _, name := range []string{"nosuch", "busybox:nope", hexID('9'), strings.Repeat("9", 64), "quay.io/busybox"} {
		resp, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec(name)})
		if err != nil {
			t.Errorf("ImageStatus(%q) = %v, want no error", name, err)
			continue
		}
		if resp.GetImage() != nil {
			t.Errorf("ImageStatus(%q).Image = %v, want nil", name, resp.GetImage())
		}
	}
}

func TestImageStatus(t *testing.T) {
	f := newFake(testImages()...)
	s := newTestService(f)
	for _, name := range []string{"busybox", "busybox:1.36", "docker.io/library/busybox:latest", busyboxDigest, busyboxID, strings.TrimPrefix(busyboxID, "sha256:")} {
		resp, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec(name)})
		if err != nil {
			t.Fatalf("ImageStatus(%q) = %v", name, err)
		}
		img := resp.GetImage()
		if img.GetId() != busyboxID {
			t.Fatalf("ImageStatus(%q).Image.Id = %q, want %q", name, img.GetId(), busyboxID)
		}
		if !reflect.DeepEqual(img.RepoTags, []string{"busybox:latest", "busybox:1.36"}) || !reflect.DeepEqual(img.RepoDigests, []string{busyboxDigest}) {
			t.Errorf("ImageStatus(%q) names = %q %q", name, img.RepoTags, img.RepoDigests)
		}
		if img.Size != 4_000_000 || img.GetSpec().GetImage() != busyboxID || img.Uid != nil || img.Username != "" {
			t.Errorf("ImageStatus(%q).Image = %v", name, img)
		}
		if resp.Info != nil {
			t.Errorf("ImageStatus(%q) not verbose has info %v", name, resp.Info)
		}
	}
	// Docker was asked by the resolved name, not the spec as given.
	if got := f.ImageInspects[0]; got != "docker.io/library/busybox:latest" {
		t.Errorf("first inspect by %q, want the normalised name", got)
	}
}

func TestImageStatusUserAndPlaceholders(t *testing.T) {
	s := newTestService(newFake(testImages()...))
	resp, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec("alpine:3.20")})
	if err != nil {
		t.Fatal(err)
	}
	if img := resp.GetImage(); img.Username != "nobody" || img.Uid != nil || len(img.RepoDigests) != 0 {
		t.Errorf("alpine = %v, want username nobody and no <none> digest", img)
	}
	resp, err = s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec("registry.k8s.io/pause:3.10")})
	if err != nil {
		t.Fatal(err)
	}
	if img := resp.GetImage(); img.GetUid().GetValue() != 65535 || img.Username != "" {
		t.Errorf("pause = %v, want uid 65535", img)
	}
	resp, err = s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec(danglyID)})
	if err != nil {
		t.Fatal(err)
	}
	if img := resp.GetImage(); len(img.RepoTags) != 0 || len(img.RepoDigests) != 0 {
		t.Errorf("dangling image = %v, want no names", img)
	}
}

func TestImageStatusVerbose(t *testing.T) {
	s := newTestService(newFake(testImages()...))
	resp, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec("registry.k8s.io/pause:3.10"), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ID           string `json:"id"`
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User string
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil {
		t.Fatalf("info %q: %v", resp.Info["info"], err)
	}
	if info.ID != pauseID || info.Architecture != "amd64" || info.OS != "linux" || info.Config.User != "65535:65535" {
		t.Errorf("verbose info = %+v", info)
	}
}

func TestImageStatusErrors(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		inspectErr error
		want       codes.Code
	}{
		{"empty", "", nil, codes.InvalidArgument},
		{"malformed", "a b", nil, codes.InvalidArgument},
		{"docker down", "busybox", client.ErrorConnectionFailed("unix:///var/run/docker.sock"), codes.Unavailable}, //nolint:staticcheck // the client's own error
		{"docker fails", "busybox", errFake, codes.Internal},
		{"timeout", "busybox", context.DeadlineExceeded, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(testImages()...)
			f.InspectImageErr = func(string) error { return tt.inspectErr }
			_, err := newTestService(f).ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec(tt.spec)})
			wantCode(t, "ImageStatus", err, tt.want)
			if tt.want == codes.InvalidArgument && inspectCount(f) != 0 {
				t.Errorf("an invalid spec reached Docker: %q", f.ImageInspects)
			}
		})
	}
}

func TestListImages(t *testing.T) {
	f := newFake(testImages()...)
	s := newTestService(f)
	resp, err := s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	imgs := resp.GetImages()
	if got, want := ids(imgs), []string{busyboxID, alpineID, danglyID, pauseID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListImages ids = %q, want %q", got, want)
	}
	for _, img := range imgs {
		for _, n := range append(slices.Clone(img.RepoTags), img.RepoDigests...) {
			if strings.Contains(n, "<none>") {
				t.Errorf("image %s lists placeholder name %q", img.Id, n)
			}
		}
		if img.GetSpec().GetImage() != img.Id {
			t.Errorf("image %s has spec %v, want its ID", img.Id, img.Spec)
		}
	}
	if img := byID(imgs, danglyID); img.RepoTags == nil || len(img.RepoTags) != 0 || len(img.RepoDigests) != 0 {
		t.Errorf("dangling image = %v, want empty (non-nil) names", img)
	}
	if img := byID(imgs, alpineID); img.Username != "nobody" || img.Size != 7_000_000 {
		t.Errorf("alpine = %v", img)
	}
	if img := byID(imgs, pauseID); img.GetUid().GetValue() != 65535 {
		t.Errorf("pause = %v", img)
	}
}

func TestListImagesFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   []string
	}{
		{"busybox", []string{busyboxID}},
		{"busybox:1.36", []string{busyboxID}},
		{"docker.io/library/busybox:latest", []string{busyboxID}},
		{busyboxDigest, []string{busyboxID}},
		{alpineID, []string{alpineID}},
		{strings.TrimPrefix(danglyID, "sha256:"), []string{danglyID}},
		{"registry.k8s.io/pause:3.10", []string{pauseID}},
		{"alpine", []string{}},     // alpine:latest is not there
		{"pause:3.10", []string{}}, // docker.io/library/pause is another image
		{"nosuch", []string{}},
	}
	for _, tt := range tests {
		s := newTestService(newFake(testImages()...))
		resp, err := s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(tt.filter)}})
		if err != nil {
			t.Errorf("ListImages(%q) = %v", tt.filter, err)
			continue
		}
		if got := ids(resp.GetImages()); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ListImages(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
}

// TestListImagesFilterTagAndDigest documents that a filter naming both a tag and a
// digest finds nothing, though ImageStatus (through Docker, which looks such a name up
// by its digest) finds the image.
func TestListImagesFilterTagAndDigest(t *testing.T) {
	s := newTestService(newFake(testImages()...))
	name := "busybox:1.36@" + strings.TrimPrefix(busyboxDigest, "busybox@")
	st, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec(name)})
	if err != nil || st.GetImage().GetId() != busyboxID {
		t.Fatalf("ImageStatus(%q) = %v, %v", name, st, err)
	}
	resp, err := s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(name)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(resp.GetImages()); !reflect.DeepEqual(got, []string{busyboxID}) {
		t.Errorf("ListImages(%q) = %q, want busybox as ImageStatus finds it", name, got)
	}
}

func TestListImagesErrors(t *testing.T) {
	f := newFake(testImages()...)
	s := newTestService(f)
	_, err := s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec("Not Valid")}})
	wantCode(t, "ListImages(invalid filter)", err, codes.InvalidArgument)

	failImageList(f, cerrdefs.ErrUnavailable)
	_, err = s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	wantCode(t, "ListImages(docker unavailable)", err, codes.Unavailable)

	failImageList(f, nil)
	f.InspectImageErr = func(string) error { return errFake }
	_, err = s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	wantCode(t, "ListImages(inspect fails)", err, codes.Internal)
}

func TestListImagesSkipsVanished(t *testing.T) {
	f := newFake(testImages()...)
	// Listed, then removed before its inspect.
	f.ExtraImages = []image.Summary{{ID: hexID('7'), RepoTags: []string{"gone:1"}}}
	resp, err := newTestService(f).ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if byID(resp.GetImages(), hexID('7')) != nil || len(resp.GetImages()) != 4 {
		t.Errorf("ListImages = %q, want the vanished image left out", ids(resp.GetImages()))
	}
}

func TestListImagesUserCache(t *testing.T) {
	f := newFake(testImages()...)
	s := newTestService(f)
	list := func() []*runtimeapi.Image {
		t.Helper()
		resp, err := s.ListImages(context.Background(), &runtimeapi.ListImagesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetImages()
	}
	first := list()
	if n := inspectCount(f); n != 4 {
		t.Fatalf("first ListImages made %d inspects, want 4", n)
	}
	second := list()
	if n := inspectCount(f); n != 4 {
		t.Errorf("second ListImages made %d more inspects, want none", n-4)
	}
	sortByID := func(imgs []*runtimeapi.Image) {
		sort.Slice(imgs, func(i, j int) bool { return imgs[i].Id < imgs[j].Id })
	}
	sortByID(first)
	sortByID(second)
	if len(first) != len(second) {
		t.Fatalf("lists differ: %q vs %q", ids(first), ids(second))
	}
	for i := range first {
		if first[i].String() != second[i].String() {
			t.Errorf("cached list differs:\n%v\n%v", first[i], second[i])
		}
	}

	// An image that goes is forgotten by the next full list.
	f.Mu.Lock()
	delete(f.Images, alpineID)
	f.Mu.Unlock()
	list()
	s.mu.Lock()
	_, cached := s.users[alpineID]
	n := len(s.users)
	s.mu.Unlock()
	if cached || n != 3 {
		t.Errorf("after alpine went the cache holds %d users (alpine: %v), want 3 without alpine", n, cached)
	}
}

func TestUserCacheFilledByStatusAndPull(t *testing.T) {
	f := newFake(testImages()...)
	f.Registry["docker.io/library/nginx:latest"] = fakeImage(hexID('5'), "101", 1, []string{"nginx:latest"}, nil)
	s := newTestService(f)
	ctx := context.Background()
	for _, name := range []string{"busybox", "alpine:3.20", "registry.k8s.io/pause:3.10", danglyID} {
		if _, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("nginx")}); err != nil {
		t.Fatal(err)
	}
	before := inspectCount(f)
	resp, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := inspectCount(f) - before; n != 0 {
		t.Errorf("ListImages after ImageStatus and PullImage of every image made %d inspects, want 0", n)
	}
	if img := byID(resp.GetImages(), hexID('5')); img.GetUid().GetValue() != 101 {
		t.Errorf("pulled image listed as %v, want uid 101", img)
	}
}

// fakeStream is the server side of a StreamImages call.
type fakeStream struct {
	grpc.ServerStream
	ctx     context.Context
	batches [][]*runtimeapi.Image
	sendErr error
}

func (s *fakeStream) Context() context.Context { return s.ctx }
func (s *fakeStream) Send(r *runtimeapi.StreamImagesResponse) error {
	if s.sendErr != nil {
		return s.sendErr
	}
	s.batches = append(s.batches, r.Images)
	return nil
}

func TestStreamImages(t *testing.T) {
	for _, n := range []int{0, 1, 100, 101, 250} {
		var imgs []image.InspectResponse
		for i := range n {
			id := "sha256:" + strings.Repeat("0", 60) + strings.Repeat("f", 4-len(itoa(i))) + itoa(i)
			imgs = append(imgs, fakeImage(id, "", 1, []string{"img" + itoa(i) + ":1"}, nil))
		}
		stream := &fakeStream{ctx: context.Background()}
		if err := newTestService(newFake(imgs...)).StreamImages(&runtimeapi.StreamImagesRequest{}, stream); err != nil {
			t.Fatalf("%d images: StreamImages = %v", n, err)
		}
		total := 0
		for i, b := range stream.batches {
			if len(b) == 0 || len(b) > batch.Size {
				t.Errorf("%d images: batch %d has %d images", n, i, len(b))
			}
			total += len(b)
		}
		if want := (n + batch.Size - 1) / batch.Size; len(stream.batches) != want {
			t.Errorf("%d images: %d batches, want %d", n, len(stream.batches), want)
		}
		if total != n {
			t.Errorf("%d images: streamed %d", n, total)
		}
	}

	stream := &fakeStream{ctx: context.Background(), sendErr: status.Error(codes.Canceled, "gone")}
	err := newTestService(newFake(testImages()...)).StreamImages(&runtimeapi.StreamImagesRequest{}, stream)
	wantCode(t, "StreamImages(send fails)", err, codes.Canceled)

	stream = &fakeStream{ctx: context.Background()}
	err = newTestService(newFake(testImages()...)).StreamImages(&runtimeapi.StreamImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec("busybox")}}, stream)
	if err != nil || len(stream.batches) != 1 || len(stream.batches[0]) != 1 || stream.batches[0][0].Id != busyboxID {
		t.Errorf("StreamImages(busybox) = %v, %v", err, stream.batches)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestRemoveImage(t *testing.T) {
	for _, name := range []string{"busybox", "busybox:1.36", busyboxDigest, busyboxID} {
		t.Run(name, func(t *testing.T) {
			f := newFake(testImages()...)
			_, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec(name)})
			if err != nil {
				t.Fatalf("RemoveImage = %v", err)
			}
			want := []string{"busybox:latest", "busybox:1.36", busyboxDigest, busyboxID}
			if got := f.RemovedImages(); !reflect.DeepEqual(got, want) {
				t.Errorf("removed %q, want every tag, then every digest, then the ID: %q", got, want)
			}
			for _, r := range f.ImageRemoves {
				if !r.Opts.PruneChildren || r.Opts.Force {
					t.Errorf("remove %q with %+v, want PruneChildren and no Force", r.Ref, r.Opts)
				}
			}
			if f.HasImage(busyboxID) {
				t.Error("busybox is still there")
			}
			if !f.HasImage(alpineID) || !f.HasImage(danglyID) || !f.HasImage(pauseID) {
				t.Error("another image went too")
			}
		})
	}
}

func TestRemoveImageUntagged(t *testing.T) {
	f := newFake(testImages()...)
	if _, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec(danglyID)}); err != nil {
		t.Fatal(err)
	}
	if got := f.RemovedImages(); !reflect.DeepEqual(got, []string{danglyID}) {
		t.Errorf("removed %q, want only the ID (no <none> names)", got)
	}
}

func TestRemoveImageMissing(t *testing.T) {
	f := newFake(testImages()...)
	for _, name := range []string{"nosuch", hexID('9'), "busybox:nope"} {
		if _, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec(name)}); err != nil {
			t.Errorf("RemoveImage(%q) = %v, want success", name, err)
		}
	}
	if got := f.RemovedImages(); len(got) != 0 {
		t.Errorf("removed %q, want nothing", got)
	}
}

func TestRemoveImageNotFoundMidway(t *testing.T) {
	f := newFake(testImages()...)
	// Another removal got there first: every name and the ID are already gone.
	f.RemoveImageFn = func(ref string) error { return notFound(ref) }
	if _, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec("busybox")}); err != nil {
		t.Fatalf("RemoveImage = %v, want NotFound taken as success", err)
	}
	if got := len(f.RemovedImages()); got != 4 {
		t.Errorf("%d removals, want all 4 tried", got)
	}
}

// TestRemoveImageUnrecognizedID covers Docker 20.10, which tells a removal that lost the
// race to another one with a 500 "unrecognized image ID" instead of a 404.
func TestRemoveImageUnrecognizedID(t *testing.T) {
	gone := errors.New("Error response from daemon: unrecognized image ID " + busyboxID)
	f := newFake(testImages()...)
	f.RemoveImageFn = func(string) error { return gone }
	if _, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec("busybox")}); err != nil {
		t.Errorf("RemoveImage with every removal unrecognized = %v, want success", err)
	}
	f = newFake(testImages()...)
	f.InspectImageErr = func(string) error { return gone }
	if _, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec("busybox")}); err != nil {
		t.Errorf("RemoveImage with inspect unrecognized = %v, want success", err)
	}
	if len(f.ImageRemoves) != 0 {
		t.Errorf("removed %q of an image Docker does not know", f.RemovedImages())
	}
}

func TestRemoveImageErrors(t *testing.T) {
	tests := []struct {
		name       string
		spec       string
		inspectErr error
		removeErr  error
		want       codes.Code
	}{
		{"invalid", "a b", nil, nil, codes.InvalidArgument},
		{"empty", "", nil, nil, codes.InvalidArgument},
		{"inspect fails", "busybox", errFake, nil, codes.Internal},
		{"docker down", "busybox", cerrdefs.ErrUnavailable, nil, codes.Unavailable},
		{"in use", "busybox", nil, cerrdefs.ErrConflict.WithMessage("image is being used by stopped container"), codes.FailedPrecondition},
		{"remove fails", "busybox", nil, errFake, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(testImages()...)
			f.InspectImageErr = func(string) error { return tt.inspectErr }
			f.RemoveImageFn = func(string) error { return tt.removeErr }
			_, err := newTestService(f).RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: spec(tt.spec)})
			wantCode(t, "RemoveImage", err, tt.want)
			if tt.removeErr != nil && len(f.ImageRemoves) != 1 {
				t.Errorf("removals went on after a failure: %q", f.RemovedImages())
			}
		})
	}
}

func TestPullImage(t *testing.T) {
	f := newFake()
	nginx := fakeImage(hexID('5'), "", 1, []string{"nginx:latest"}, []string{"nginx@" + hexID('e')})
	f.Registry["docker.io/library/nginx:latest"] = nginx
	s := newTestService(f)
	resp, err := s.PullImage(context.Background(), &runtimeapi.PullImageRequest{
		Image: spec("nginx"),
		Auth:  &runtimeapi.AuthConfig{Auth: "dXNlcjpwYXNz"},
	})
	if err != nil {
		t.Fatalf("PullImage = %v", err)
	}
	if resp.ImageRef != nginx.ID {
		t.Errorf("PullImage ref = %q, want the image ID %q", resp.ImageRef, nginx.ID)
	}
	if len(f.Pulls) != 1 || f.Pulls[0].Ref != "docker.io/library/nginx:latest" {
		t.Fatalf("pulls = %+v, want one of the normalised name", f.Pulls)
	}
	if got := decodeHeader(t, f.Pulls[0].Opts.RegistryAuth); got.Username != "user" || got.Password != "pass" {
		t.Errorf("pull sent credentials %+v", got)
	}
	if last := f.ImageInspects[len(f.ImageInspects)-1]; last != "docker.io/library/nginx:latest" {
		t.Errorf("inspected %q after the pull, want the pulled name", last)
	}

	// The ID is what ImageStatus reports for the image too.
	st, err := s.ImageStatus(context.Background(), &runtimeapi.ImageStatusRequest{Image: spec("nginx:latest")})
	if err != nil || st.GetImage().GetId() != resp.ImageRef {
		t.Errorf("ImageStatus after pull = %v, %v, want ID %q", st, err, resp.ImageRef)
	}
}

func TestPullImageNoAuth(t *testing.T) {
	f := newFake()
	f.Registry["docker.io/library/nginx:latest"] = fakeImage(hexID('5'), "", 1, []string{"nginx:latest"}, nil)
	if _, err := newTestService(f).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("nginx")}); err != nil {
		t.Fatal(err)
	}
	if h := f.Pulls[0].Opts.RegistryAuth; h != "" {
		t.Errorf("anonymous pull sent auth %q", h)
	}
}

func TestPullImageByDigest(t *testing.T) {
	f := newFake()
	ref := "docker.io/library/nginx@" + hexID('e')
	f.Registry[ref] = fakeImage(hexID('5'), "", 1, nil, []string{"nginx@" + hexID('e')})
	resp, err := newTestService(f).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("nginx@" + hexID('e'))})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ImageRef != hexID('5') || f.Pulls[0].Ref != ref {
		t.Errorf("pulled %q and got %q", f.Pulls[0].Ref, resp.ImageRef)
	}
}

func TestPullImageStalled(t *testing.T) {
	f := newFake()
	f.PullFn = func(ctx context.Context, _ string, _ image.PullOptions) (io.ReadCloser, error) {
		return stalledBody{ctx}, nil
	}
	s := New(f, testTimeout, 200*time.Millisecond, alwaysLive)
	start := time.Now()
	_, err := s.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("busybox")})
	elapsed := time.Since(start)
	wantCode(t, "PullImage(stalled)", err, codes.DeadlineExceeded)
	if !strings.Contains(status.Convert(err).Message(), "no progress") {
		t.Errorf("stalled pull error %q does not say why", err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("stalled pull gave up after %v, want about 200ms", elapsed)
	}
}

func TestPullImageStalledBeforeResponse(t *testing.T) {
	f := newFake()
	// Docker never answers the request at all.
	f.PullFn = func(ctx context.Context, _ string, _ image.PullOptions) (io.ReadCloser, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, err := New(f, testTimeout, 200*time.Millisecond, alwaysLive).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("busybox")})
	wantCode(t, "PullImage(no response)", err, codes.DeadlineExceeded)
}

func TestPullImageSlowButSteady(t *testing.T) {
	f := newFake()
	f.Registry["docker.io/library/busybox:latest"] = fakeImage(busyboxID, "", 1, []string{"busybox:latest"}, nil)
	f.PullFn = func(ctx context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			// 12 messages 40ms apart: the pull takes ~480ms, more than the deadline, but
			// progress never stops for as long as the deadline.
			for range 12 {
				select {
				case <-ctx.Done():
					pw.CloseWithError(ctx.Err())
					return
				case <-time.After(40 * time.Millisecond):
				}
				if _, err := pw.Write([]byte(`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}` + "\r\n")); err != nil {
					return
				}
			}
			f.Mu.Lock()
			f.Images[busyboxID] = f.Registry["docker.io/library/busybox:latest"]
			f.Mu.Unlock()
			pw.Close()
		}()
		return pr, nil
	}
	resp, err := New(f, testTimeout, 200*time.Millisecond, alwaysLive).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("busybox")})
	if err != nil {
		t.Fatalf("a pull that keeps making progress failed: %v", err)
	}
	if resp.ImageRef != busyboxID {
		t.Errorf("ImageRef = %q", resp.ImageRef)
	}
}

func TestPullImageCanceled(t *testing.T) {
	f := newFake()
	f.PullFn = func(ctx context.Context, _ string, _ image.PullOptions) (io.ReadCloser, error) {
		return stalledBody{ctx}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := newTestService(f).PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("busybox")})
	wantCode(t, "PullImage(caller cancels)", err, codes.Canceled)

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = newTestService(f).PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("busybox")})
	wantCode(t, "PullImage(caller's deadline)", err, codes.DeadlineExceeded)
}

func TestPullImageStreamError(t *testing.T) {
	tests := []struct {
		msg  string
		want codes.Code
	}{
		{"manifest unknown", codes.NotFound},
		{"unauthorized: authentication required", codes.Unauthenticated},
		{"denied: requested access to the resource is denied", codes.PermissionDenied},
		{"something odd", codes.Unknown},
	}
	for _, tt := range tests {
		f := newFake()
		f.PullFn = func(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
			return stream(
				`{"status":"Pulling from library/busybox","id":"latest"}`,
				`{"errorDetail":{"message":"`+tt.msg+`"},"error":"`+tt.msg+`"}`,
				`{"status":"never read"}`,
			), nil
		}
		_, err := newTestService(f).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("busybox")})
		wantCode(t, "PullImage("+tt.msg+")", err, tt.want)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, tt.msg) || !strings.Contains(msg, "docker.io/library/busybox:latest") {
			t.Errorf("error %q should name the image and carry Docker's message", msg)
		}
		if inspectCount(f) != 0 {
			t.Errorf("a failed pull was followed by an inspect")
		}
	}
}

func TestPullImageNotInRegistry(t *testing.T) {
	// The default fake streams {"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}.
	_, err := newTestService(newFake()).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("nosuch:1")})
	wantCode(t, "PullImage(nosuch)", err, codes.NotFound)
}

func TestPullImageErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		auth    *runtimeapi.AuthConfig
		pullErr error
		body    string
		want    codes.Code
		pulled  bool
	}{
		{"empty", "", nil, nil, "", codes.InvalidArgument, false},
		{"malformed", "a b", nil, nil, "", codes.InvalidArgument, false},
		{"id", busyboxID, nil, nil, "", codes.InvalidArgument, false},
		{"bare id", strings.Repeat("1", 64), nil, nil, "", codes.InvalidArgument, false},
		{"bad auth", "busybox", &runtimeapi.AuthConfig{Auth: "%%%"}, nil, "", codes.InvalidArgument, false},
		{"unauthorized", "busybox", nil, cerrdefs.ErrUnauthenticated, "", codes.Unauthenticated, true},
		{"docker down", "busybox", nil, client.ErrorConnectionFailed("unix:///var/run/docker.sock"), "", codes.Unavailable, true}, //nolint:staticcheck // the client's own error
		{"not found", "busybox", nil, cerrdefs.ErrNotFound, "", codes.NotFound, true},
		{"plain failure", "busybox", nil, errFake, "", codes.Internal, true},
		// Docker 20.10 answers registry failures with a bare 500: the text tells the code.
		{"500 unauthorized", "busybox", nil, errors.New(`Error response from daemon: Head "https://r.io/v2/busybox/manifests/latest": unauthorized: authentication required`), "", codes.Unauthenticated, true},
		{"500 manifest unknown", "busybox", nil, errors.New("Error response from daemon: manifest for busybox:latest not found: manifest unknown: manifest unknown"), "", codes.NotFound, true},
		{"500 denied", "busybox", nil, errors.New("Error response from daemon: pull access denied for busybox"), "", codes.PermissionDenied, true},
		// A registry that cannot be reached gave no verdict: try again later.
		{"500 registry timing out", "busybox", nil, errors.New("Error response from daemon: Get \"https://r.io/v2/\": dial tcp: i/o timeout"), "", codes.Unavailable, true},
		{"500 registry refusing", "busybox", nil, errors.New("Error response from daemon: Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"), "", codes.Unavailable, true},
		{"500 other", "busybox", nil, errors.New("Error response from daemon: something broke"), "", codes.Internal, true},
		// A classified error keeps its code whatever its text says.
		{"unavailable with text", "busybox", nil, errors.Join(cerrdefs.ErrUnavailable, errors.New("not found")), "", codes.Unavailable, true},
		{"garbage stream", "busybox", nil, nil, "{not json", codes.Internal, true},
		// Docker's answer cut short: the connection to it was lost.
		{"truncated stream", "busybox", nil, nil, `{"status":"Downloading"`, codes.Unavailable, true},
		{"registry refusing, in the stream", "busybox", nil, nil, `{"errorDetail":{"message":"failed to do request: Head \"https://r.io/v2/x/manifests/1\": dial tcp 10.0.0.1:443: connect: connection refused"}}`, codes.Unavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.PullFn = func(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
				if tt.pullErr != nil {
					return nil, tt.pullErr
				}
				return io.NopCloser(strings.NewReader(tt.body)), nil
			}
			_, err := newTestService(f).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec(tt.spec), Auth: tt.auth})
			wantCode(t, "PullImage", err, tt.want)
			if pulled := len(f.Pulls) > 0; pulled != tt.pulled {
				t.Errorf("pull reached Docker: %v, want %v", pulled, tt.pulled)
			}
		})
	}
}

func TestPullImageInspectAfterPullFails(t *testing.T) {
	f := newFake()
	// Docker says the pull went fine, yet the image is not there to inspect.
	f.PullFn = func(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
		return stream(`{"status":"Status: Image is up to date for busybox:latest"}`), nil
	}
	_, err := newTestService(f).PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec("busybox")})
	wantCode(t, "PullImage(image gone after pull)", err, codes.NotFound)
	if !strings.Contains(status.Convert(err).Message(), "inspect pulled image") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestImageFsInfo(t *testing.T) {
	f := newFake()
	f.SystemInfo.DockerRootDir = t.TempDir()
	resp, err := newTestService(f).ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ImageFilesystems) != 1 {
		t.Fatalf("ImageFsInfo = %v, want one filesystem", resp)
	}
	fs := resp.ImageFilesystems[0]
	if fs.GetFsId().GetMountpoint() != f.SystemInfo.DockerRootDir || fs.UsedBytes == nil || fs.InodesUsed == nil || fs.Timestamp == 0 {
		t.Errorf("ImageFsInfo = %v", fs)
	}

	f.SystemInfo.DockerRootDir = t.TempDir() + "/missing"
	_, err = newTestService(f).ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	wantCode(t, "ImageFsInfo(missing root)", err, codes.Internal)
}

func TestImageFsInfoDockerDown(t *testing.T) {
	s := newTestService(&infoFails{newFake()})
	_, err := s.ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	wantCode(t, "ImageFsInfo(docker down)", err, codes.Unavailable)
}

// infoFails is a Docker whose info call fails as when the daemon is down.
type infoFails struct{ *fakeDocker }

func (infoFails) Info(context.Context) (system.Info, error) {
	return system.Info{}, errors.Join(errors.New("Cannot connect to the Docker daemon"), cerrdefs.ErrUnavailable)
}

type countingInfo struct {
	*fakeDocker
	calls int
}

func (c *countingInfo) Info(ctx context.Context) (system.Info, error) {
	c.calls++
	return c.fakeDocker.Info(ctx)
}

// The kubelet asks for ImageFsInfo every few seconds; docker info, which costs dockerd
// real work, is asked once while dockerd runs.
func TestImageFsInfoAsksDockerOnce(t *testing.T) {
	f := &countingInfo{fakeDocker: newFake()}
	f.SystemInfo.DockerRootDir = t.TempDir()
	s := newTestService(f)
	for i := 0; i < 3; i++ {
		if _, err := s.ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != 1 {
		t.Errorf("docker info asked %d times for 3 ImageFsInfo calls, want 1", f.calls)
	}
}

// With the containerd image store, images are in containerd's snapshot directory:
// under Docker's root for the containerd dockerd runs itself.
func TestImageDirOf(t *testing.T) {
	root := t.TempDir()
	snapshotter := [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}
	if got := imageDirOf(root, "overlay2", [][2]string{{"Backing Filesystem", "extfs"}}); got != root {
		t.Errorf("classic store: %q, want Docker's root %q", got, root)
	}
	if got := imageDirOf(root, "nosuch", snapshotter); got != root {
		t.Errorf("containerd store with no snapshot directory found: %q, want Docker's root", got)
	}
	dir := filepath.Join(root, "containerd", "daemon", "io.containerd.snapshotter.v1.overlayfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := imageDirOf(root, "overlayfs", snapshotter); got != dir {
		t.Errorf("containerd store: %q, want %q", got, dir)
	}
}
