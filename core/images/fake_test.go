package images

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/engine"
)

// fakeDocker is an in-memory engine.Engine holding images as Docker reports them:
// tags and digests in their short (familiar) form, IDs as sha256:<hex>.
//
// It embeds engine.Engine so that it keeps compiling as the interface grows; the
// image service calls none of the methods it does not define (a call would panic).
type fakeDocker struct {
	engine.Engine

	mu sync.Mutex
	// images by ID.
	images map[string]image.InspectResponse
	// extra summaries ImageList reports besides the images', e.g. of images that
	// vanish before they can be inspected.
	extra []image.Summary
	// registry is what a pull can fetch, keyed by the normalised reference pulled.
	registry map[string]image.InspectResponse
	info     system.Info

	// Hooks that replace the default behaviour when set.
	listErr    error
	inspectErr func(ref string) error
	pullFn     func(ctx context.Context, ref string, opts image.PullOptions) (io.ReadCloser, error)
	removeFn   func(ref string) error

	// What was asked.
	inspects []string
	pulls    []pullCall
	removes  []removeCall
}

type pullCall struct {
	ref  string
	opts image.PullOptions
}

type removeCall struct {
	ref  string
	opts image.RemoveOptions
}

var _ engine.Engine = (*fakeDocker)(nil)

func newFake(imgs ...image.InspectResponse) *fakeDocker {
	f := &fakeDocker{images: map[string]image.InspectResponse{}, registry: map[string]image.InspectResponse{}}
	for _, img := range imgs {
		f.images[img.ID] = img
	}
	return f
}

// fakeImage builds what Docker's inspect says of an image.
func fakeImage(id, user string, size int64, tags, digests []string) image.InspectResponse {
	var insp image.InspectResponse
	// Through JSON, so the test needs no import of the image-spec modules Config comes from.
	raw, err := json.Marshal(map[string]any{
		"Id":           id,
		"RepoTags":     tags,
		"RepoDigests":  digests,
		"Size":         size,
		"Created":      "2024-01-02T03:04:05Z",
		"Architecture": "amd64",
		"Os":           "linux",
		"Config":       map[string]any{"User": user},
	})
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(raw, &insp); err != nil {
		panic(err)
	}
	return insp
}

// hexID is an image ID made of one repeated hex digit.
func hexID(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func (f *fakeDocker) Ping(context.Context) (types.Ping, error)  { return types.Ping{}, nil }
func (f *fakeDocker) Info(context.Context) (system.Info, error) { return f.info, nil }
func (f *fakeDocker) ServerVersion(context.Context) (types.Version, error) {
	return types.Version{Version: "28.5.2"}, nil
}
func (f *fakeDocker) ClientVersion() string { return "1.51" }
func (f *fakeDocker) Close() error          { return nil }

func (f *fakeDocker) ImageList(ctx context.Context, _ image.ListOptions) ([]image.Summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []image.Summary
	for _, img := range f.images {
		out = append(out, image.Summary{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size})
	}
	return append(out, f.extra...), nil
}

// normalise is how Docker's daemon would key a name, or "" for what is no name. As
// Docker's reference store does, a name with both a tag and a digest is looked up by
// its digest alone.
func normalise(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	if c, ok := ref.(reference.Canonical); ok {
		if trimmed, err := reference.WithDigest(reference.TrimNamed(c), c.Digest()); err == nil {
			return trimmed.String()
		}
	}
	return reference.TagNameOnly(ref).String()
}

// lookup finds an image by ID, bare hex ID, tag or digest; f.mu is held.
func (f *fakeDocker) lookup(ref string) (image.InspectResponse, bool) {
	if img, ok := f.images[ref]; ok {
		return img, true
	}
	if img, ok := f.images["sha256:"+ref]; ok {
		return img, true
	}
	want := normalise(ref)
	if want == "" {
		return image.InspectResponse{}, false
	}
	for _, img := range f.images {
		for _, names := range [][]string{img.RepoTags, img.RepoDigests} {
			for _, n := range names {
				if normalise(n) == want {
					return img, true
				}
			}
		}
	}
	return image.InspectResponse{}, false
}

func notFound(ref string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (f *fakeDocker) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if err := ctx.Err(); err != nil {
		return image.InspectResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspects = append(f.inspects, ref)
	if f.inspectErr != nil {
		if err := f.inspectErr(ref); err != nil {
			return image.InspectResponse{}, err
		}
	}
	img, ok := f.lookup(ref)
	if !ok {
		return image.InspectResponse{}, notFound(ref)
	}
	return img, nil
}

func (f *fakeDocker) inspectCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.inspects)
}

// ImagePull behaves as Docker's client and daemon: a reference the client cannot
// parse fails before any request; a known reference streams progress and lands the
// image; an unknown one streams the registry's error.
func (f *fakeDocker) ImagePull(ctx context.Context, ref string, opts image.PullOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.pulls = append(f.pulls, pullCall{ref, opts})
	fn := f.pullFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, ref, opts)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return nil, err // as the real client: a plain error
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.registry[normalise(ref)]
	if !ok {
		return stream(`{"status":"Pulling from library/x","id":"latest"}`,
			`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`), nil
	}
	f.images[img.ID] = img
	return stream(`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}`,
		`{"status":"Digest: sha256:`+strings.Repeat("d", 64)+`"}`,
		`{"status":"Status: Downloaded newer image for `+ref+`"}`), nil
}

// stream is a pull body made of JSON messages.
func stream(msgs ...string) io.ReadCloser {
	return io.NopCloser(strings.NewReader(strings.Join(msgs, "\r\n") + "\r\n"))
}

// stalledBody is a pull body that never sends a byte: its read blocks until the
// request's context ends, as a real HTTP body does when the request is cancelled.
type stalledBody struct{ ctx context.Context }

func (b stalledBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}
func (b stalledBody) Close() error { return nil }

func (f *fakeDocker) ImageRemove(ctx context.Context, ref string, opts image.RemoveOptions) ([]image.DeleteResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removes = append(f.removes, removeCall{ref, opts})
	if f.removeFn != nil {
		if err := f.removeFn(ref); err != nil {
			return nil, err
		}
	}
	img, ok := f.lookup(ref)
	if !ok {
		return nil, notFound(ref)
	}
	if ref == img.ID || ref == strings.TrimPrefix(img.ID, "sha256:") {
		delete(f.images, img.ID)
		return []image.DeleteResponse{{Deleted: img.ID}}, nil
	}
	// Untag: drop this one name; as Docker does, the image goes with its last name.
	want := normalise(ref)
	keep := func(names []string) []string {
		var out []string
		for _, n := range names {
			if normalise(n) != want {
				out = append(out, n)
			}
		}
		return out
	}
	img.RepoTags, img.RepoDigests = keep(img.RepoTags), keep(img.RepoDigests)
	if len(img.RepoTags)+len(img.RepoDigests) == 0 {
		delete(f.images, img.ID)
		return []image.DeleteResponse{{Untagged: ref}, {Deleted: img.ID}}, nil
	}
	f.images[img.ID] = img
	return []image.DeleteResponse{{Untagged: ref}}, nil
}

func (f *fakeDocker) removedRefs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.removes {
		out = append(out, r.ref)
	}
	return out
}

func (f *fakeDocker) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.images[id]
	return ok
}

// errFake is a Docker failure of no particular class.
var errFake = errors.New("fake docker failure")
