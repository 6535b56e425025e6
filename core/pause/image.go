package pause

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/dockercri/dockercri/engine"
)

// Repository is the repository of dockercri's pause image. Its domain is one of
// dockercri's own: no registry serves it, and Docker gets the image by import only.
const Repository = "dockercri.local/pause"

// Cmd is the image's command: the Dockerfile instruction given to Docker's import.
const Cmd = `CMD ["/pause"]`

// mtime is the modification time of /pause in the image, fixed so that the layer, and
// so its digest, is the same on every node and at every import.
var mtime = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// ImageName returns the name of dockercri's pause image for goarch (Go's name of an
// architecture, as Docker's /version reports its own): Repository, tagged with the
// first 12 hex digits of the sha256 of the program, so that a changed program is a new
// image and never one imported before, and each architecture's image has a name of its
// own.
func ImageName(goarch string) (string, error) {
	prog, err := Program(goarch)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(prog)
	return Repository + ":" + hex.EncodeToString(sum[:])[:12], nil
}

// RootFS returns the image's root filesystem for goarch: a tar holding the single file
// /pause, mode 0755, owned by root.
func RootFS(goarch string) ([]byte, error) {
	prog, err := Program(goarch)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     "pause",
		Mode:     0o755,
		Size:     int64(len(prog)),
		ModTime:  mtime,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("pause: write root filesystem: %w", err)
	}
	if _, err := tw.Write(prog); err != nil {
		return nil, fmt.Errorf("pause: write root filesystem: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pause: write root filesystem: %w", err)
	}
	return buf.Bytes(), nil
}

// importing is held by the one Ensure that may import at a time, so that callers
// racing on a node without the image import it once, not once each.
var importing = make(chan struct{}, 1)

// Ensure returns the name of dockercri's pause image for goarch, the architecture of
// docker's daemon (ImageName), once Docker has it, importing it first when Docker does
// not. It is safe to call concurrently: imports are serialised, and a caller that waited
// for another's import finds the image there.
func Ensure(ctx context.Context, docker engine.Engine, goarch string) (string, error) {
	name, err := ImageName(goarch)
	if err != nil {
		return "", err
	}
	if ok, err := present(ctx, docker, name); err != nil {
		return "", err
	} else if ok {
		return name, nil
	}

	select {
	case importing <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("import pause image %s: %w", name, context.Cause(ctx))
	}
	defer func() { <-importing }()

	// Another caller may have imported it while this one waited.
	if ok, err := present(ctx, docker, name); err != nil {
		return "", err
	} else if ok {
		return name, nil
	}
	if err := importImage(ctx, docker, name, goarch); err != nil {
		return "", fmt.Errorf("import pause image %s: %w", name, err)
	}
	return name, nil
}

// present tells whether Docker has the image name.
func present(ctx context.Context, docker engine.Engine, name string) (bool, error) {
	_, err := docker.ImageInspect(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("inspect pause image %s: %w", name, err)
}

// importImage imports the RootFS of goarch as the image name, with Cmd as its command,
// and follows Docker's progress messages to the end: Docker reports a failure that
// happens after it has answered in the stream only. The image's platform is the
// program's, linux/goarch: goarch is dockerd's own architecture (Ensure's caller asks
// dockerd), the one an engine that ignores the platform of an import writes too.
func importImage(ctx context.Context, docker engine.Engine, name, goarch string) error {
	rootfs, err := RootFS(goarch)
	if err != nil {
		return err
	}
	body, err := docker.ImageImport(ctx,
		image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"},
		name,
		image.ImportOptions{Changes: []string{Cmd}, Platform: "linux/" + goarch})
	if err != nil {
		return err
	}
	defer body.Close()
	err = engine.ReadProgress(body, nil)
	if je := (*jsonmessage.JSONError)(nil); err != nil && !errors.As(err, &je) {
		return fmt.Errorf("read Docker's progress: %w", err)
	}
	return err
}
