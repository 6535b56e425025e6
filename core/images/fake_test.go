package images

import (
	"context"
	"errors"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/dockercri/dockercri/engine/enginetest"
)

// The image service's tests run on enginetest's Docker, which holds images as Docker
// reports them: tags and digests in their short (familiar) form, IDs as sha256:<hex>.
type fakeDocker = enginetest.Engine

var (
	newFake   = enginetest.New
	fakeImage = enginetest.Image
	hexID     = enginetest.HexID
	stream    = enginetest.Stream
)

func notFound(ref string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

// failImageList makes f's ImageList fail with err (nil: succeed again).
func failImageList(f *fakeDocker, err error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Fail = func(method, _ string) error {
		if method == "ImageList" {
			return err
		}
		return nil
	}
}

func inspectCount(f *fakeDocker) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return len(f.ImageInspects)
}

// stalledBody is a pull body that never sends a byte: its read blocks until the
// request's context ends, as a real HTTP body does when the request is cancelled.
type stalledBody struct{ ctx context.Context }

func (b stalledBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}
func (b stalledBody) Close() error { return nil }

// errFake is a Docker failure of no particular class.
var errFake = errors.New("fake docker failure")
