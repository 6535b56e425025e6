package framework

import (
	"bytes"
	"context"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// BusyboxPath is Debian's static busybox (package busybox-static).
const BusyboxPath = "/usr/bin/busybox"

// busyboxApplets are linked into /bin of the test images.
var busyboxApplets = []string{
	"sh", "cat", "echo", "sleep", "ls", "id", "true", "false", "env", "ps", "hostname",
	"stty", "wc", "head", "tail", "nc", "httpd", "dd", "grep", "mount", "touch", "mkdir",
	"rm", "kill", "top", "ip", "ipcs", "date", "yes", "seq", "printf", "test", "uname", "wget", "tr", "readlink", "umount",
}

// RootFS is a tar of a tiny busybox root filesystem, with extra files added as given
// (a file of random bytes makes a layer no other image shares).
func RootFS(extra map[string][]byte) ([]byte, error) {
	l := NewLayer().Dir("etc").Dir("tmp").Dir("proc").Dir("sys").Dir("dev").Dir("root").
		HostFile("bin/busybox", BusyboxPath)
	for _, a := range busyboxApplets {
		l.Symlink("bin/"+a, "busybox")
	}
	l.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000:app:/tmp:/bin/sh\n"))
	l.File("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"))
	for name, data := range extra {
		l.File(name, 0o644, data)
	}
	return l.Bytes()
}

// ImportImage imports rootfs into Docker as ref, with Dockerfile-style changes
// (CMD, USER, …), and returns the image ID.
func ImportImage(ctx context.Context, cli *client.Client, rootfs []byte, ref string, changes ...string) (string, error) {
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("import %s: %w", ref, err)
	}
	if err := drainJSON(rc); err != nil {
		return "", fmt.Errorf("import %s: %w", ref, err)
	}
	insp, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", err
	}
	return insp.ID, nil
}

// PushImage pushes ref (already tagged for its registry) with reg's credentials, if any.
func PushImage(ctx context.Context, cli *client.Client, ref string, reg *Registry) error {
	auth := ""
	if reg != nil && reg.User != "" {
		var err error
		if auth, err = registry.EncodeAuthConfig(registry.AuthConfig{Username: reg.User, Password: reg.Password, ServerAddress: reg.Host}); err != nil {
			return err
		}
	}
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	if err := drainJSON(rc); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

// RemoveImageEverywhere removes an image from Docker under all its names, if present.
func RemoveImageEverywhere(ctx context.Context, cli *client.Client, ref string) error {
	insp, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	_, err = cli.ImageRemove(ctx, insp.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// drainJSON reads a Docker progress stream to its end and returns the error it reports.
func drainJSON(rc io.ReadCloser) error {
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}
